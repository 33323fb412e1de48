// The VPN: on/off, the devices with their traffic and speed caps, adding a device (its
// WireGuard config shown once as QR and text), cutting a device's access.

import { $, el, show, choosePeople, confirmingButton, svgSource } from '../dom.js';
import { Cmd, act, call } from '../commands.js';
import { bytes, duration, nameAndRank, speed, sentence } from '../format.js';

let busy = false; // turning the VPN on or off (the server restarts)
let loading = false;
let membersShown = null;
// Device rows by peer id, kept across refreshes so that a cap being typed or an armed
// "Cut access" survives the next poll.
const rows = new Map();
let refreshAll = () => {};

export function renderVpn(status, running) {
  const box = $('vpn-enabled');
  box.disabled = busy;
  $('vpn-details').hidden = !running;
  if (busy) return;
  box.checked = status.vpn_enabled;
  if (!status.vpn_enabled) {
    show('vpn-state', 'The VPN is off. Tick the box to let family members use the home connection when they are away.');
  } else if (!running) {
    show('vpn-state', 'The VPN is on, and runs while the server runs.');
  } else {
    show('vpn-state', sentence(status.vpn));
  }
  if (running) loadVpn();
}

async function loadVpn() {
  if (loading) return;
  loading = true;
  let vpn;
  let members;
  try {
    [vpn, members] = await Promise.all([call(Cmd.vpnStatus), call(Cmd.listMembers)]);
  } catch (err) {
    return; // Not running (any more): the next status says so.
  } finally {
    loading = false;
  }
  renderPeers(vpn.peers, vpn.max_bandwidth_kbps);
  show('vpn-cap-now', vpn.max_bandwidth_kbps === 0
    ? 'Devices have no speed limit, except those given their own.'
    : `Each device may use at most ${speed(vpn.max_bandwidth_kbps)} each way, except those given their own cap.`);
  renderMembers(members);
}

function renderMembers(members) {
  const key = members.map((member) => `${member.username}/${member.role}`).join('\n');
  if (key === membersShown) return;
  membersShown = key;
  choosePeople($('vpn-member'), members, nameAndRank);
}

function connectedWords(peer) {
  if (peer.last_handshake_seconds === null) return 'No, never yet';
  const seen = `last seen ${duration(peer.last_handshake_seconds)} ago`;
  return peer.connected ? `Yes, ${seen}` : `No, ${seen}`;
}

function renderPeers(peers, everyone) {
  $('vpn-no-peers').hidden = peers.length > 0;
  $('vpn-peers').hidden = peers.length === 0;
  const listed = new Set();
  for (const peer of peers) {
    listed.add(peer.id);
    let row = rows.get(peer.id);
    if (!row) {
      row = peerRow(peer);
      rows.set(peer.id, row);
      $('vpn-peer-rows').append(row);
    }
    const cells = row.cells;
    cells[0].textContent = peer.username;
    cells[1].textContent = peer.name;
    cells[2].textContent = peer.address;
    cells[3].textContent = connectedWords(peer);
    cells[3].className = peer.connected ? 'connected' : '';
    cells[4].textContent = bytes(peer.tx_bytes);
    cells[5].textContent = bytes(peer.rx_bytes);
    row.querySelector('.cap-now').textContent = peer.max_bandwidth_kbps === null
      ? `as everyone (${speed(everyone)})`
      : speed(peer.max_bandwidth_kbps);
  }
  for (const [id, row] of rows) {
    if (!listed.has(id)) {
      row.remove();
      rows.delete(id);
    }
  }
}

// Mbit/s as typed into a cap field: kbit/s, null for empty (the default), or undefined when
// it is not a number.
function typedCap(text) {
  if (text.trim() === '') return null;
  const mbits = Number(text);
  if (!Number.isFinite(mbits) || mbits < 0 || mbits > 4000000) return undefined;
  return Math.round(mbits * 1000);
}

function peerRow(peer) {
  const who = `${peer.name} (${peer.username})`;
  const capInput = el('input', {
    type: 'number', min: '0', step: '0.1', placeholder: 'Mbit/s',
    'aria-label': `Speed cap for ${who} in Mbit/s; empty = as everyone, 0 = no limit`,
  });
  const capForm = el('form', { class: 'cap' }, capInput,
    el('button', { type: 'submit', 'aria-label': `Set the speed cap for ${who}` }, 'Set'));
  capForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const kbps = typedCap(capInput.value);
    if (kbps === undefined) {
      show('vpn-error', 'A speed cap is a number of Mbit/s (0 = no limit), or empty for the same as everyone.');
      return;
    }
    await act('vpn-error', Cmd.vpnSetLimit, { id: peer.id, kbps });
    if (!$('vpn-error').textContent) capInput.value = '';
    loadVpn();
  });
  // The row goes away with the device at the next refresh.
  const cut = confirmingButton('Cut access', 'Yes, cut access', `Cut VPN access for ${who}`, async () => {
    const revoked = await act('vpn-error', Cmd.vpnRevoke, { id: peer.id });
    if (revoked) show('vpn-message', `Access cut: ${revoked.name} (${revoked.username}) can no longer use the VPN.`);
    await loadVpn();
  });
  cut.className = 'cut';
  const cells = Array.from({ length: 6 }, () => el('td'));
  return el('tr', { dataset: { peer: String(peer.id) } }, ...cells,
    el('td', {}, el('span', { class: 'cap-now' }), capForm), el('td', {}, cut));
}

function showCard(card) {
  $('vpn-qr').src = svgSource(card.qr_svg);
  show('vpn-config', card.config_text);
  show('vpn-card-device', `${card.peer.name} (${card.peer.username})`);
  $('vpn-card').hidden = false;
  $('vpn-card').scrollIntoView({ block: 'nearest' });
}

// Hides the configuration for good: the page keeps no copy of its secret key.
function hideCard() {
  $('vpn-card').hidden = true;
  $('vpn-qr').removeAttribute('src');
  show('vpn-config', '');
}

export function initVpn(refresh) {
  refreshAll = refresh;
  $('vpn-enabled').addEventListener('change', async (event) => {
    const enabled = event.target.checked;
    busy = true;
    event.target.disabled = true;
    show('vpn-state', `Turning the VPN ${enabled ? 'on' : 'off'}: the server restarts for a moment…`);
    await act('vpn-error', Cmd.vpnSetEnabled, { enabled });
    busy = false;
    refreshAll();
  });

  $('vpn-add-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = $('vpn-device-name').value.trim();
    if (!name) {
      show('vpn-error', 'Please give the device a name, such as "Anna\'s phone".');
      return;
    }
    $('vpn-add').disabled = true;
    const card = await act('vpn-error', Cmd.vpnCreatePeer, { username: $('vpn-member').value, name });
    $('vpn-add').disabled = false;
    if (card) {
      $('vpn-device-name').value = '';
      show('vpn-message', '');
      showCard(card);
      loadVpn();
    }
  });

  $('vpn-cap-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const kbps = typedCap($('vpn-cap').value);
    if (kbps === undefined || kbps === null) {
      show('vpn-error', 'The speed cap is a number of Mbit/s (0 = no limit).');
      return;
    }
    await act('vpn-error', Cmd.vpnSetLimit, { id: null, kbps });
    if (!$('vpn-error').textContent) $('vpn-cap').value = '';
    loadVpn();
  });

  $('copy-vpn-config').addEventListener('click', () =>
    act('vpn-error', Cmd.copyText, { text: $('vpn-config').textContent }));
  $('vpn-card-done').addEventListener('click', hideCard);
}
