// The dashboard: a thin view over the engine's state. It polls the `status` command, renders
// it, and calls one command per button. No framework, no dependencies.
'use strict';

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;
const POLL_MS = 1500;
const $ = (id) => document.getElementById(id);

const STATE_WORDS = {
  setup_needed: 'Not set up yet',
  stopped: 'Stopped',
  running: 'Running',
  needs_attention: 'Needs attention',
};

let lastState = null;
let invitesShownFor = null;
let backupsShownFor = undefined;
let vpnBusy = false; // turning the VPN on or off (the server restarts)
let vpnLoading = false;
let membersShown = null;
// Device rows by peer id, kept across refreshes so that a cap being typed or an armed
// "Cut access" survives the next poll.
const vpnRows = new Map();

function show(id, text) {
  $(id).textContent = text;
}

function duration(seconds) {
  if (seconds < 60) return 'less than a minute';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d} day${d === 1 ? '' : 's'}, ${h} hour${h === 1 ? '' : 's'}`;
  if (h) return `${h} hour${h === 1 ? '' : 's'}, ${m} minute${m === 1 ? '' : 's'}`;
  return `${m} minute${m === 1 ? '' : 's'}`;
}

function listItem(text) {
  const item = document.createElement('li');
  item.textContent = text;
  return item;
}

function when(value) {
  if (value === null || value === undefined) return null;
  const date = typeof value === 'number' ? new Date(value) : new Date(String(value));
  return isNaN(date) ? String(value) : date.toLocaleString();
}

// Runs a command; shows its error (plain words from the engine) in `errorId`.
async function act(errorId, command, args) {
  show(errorId, '');
  try {
    return await invoke(command, args);
  } catch (err) {
    show(errorId, String(err));
    return null;
  } finally {
    refresh();
  }
}

function render(status) {
  const setupNeeded = status.state === 'setup_needed';
  $('setup').hidden = !setupNeeded;
  $('dashboard').hidden = setupNeeded;
  const words = STATE_WORDS[status.state] || status.state;
  show('title', status.server_name || 'IPTinCan');
  show('state-badge', words);
  $('state-badge').className = `badge ${status.state}`;
  if (setupNeeded) return;

  show('state-text', words);
  const running = Boolean(status.connection_code);
  show('uptime', running ? duration(status.uptime_seconds) : '–');
  show('users-online', String(status.users_online));
  show('version', status.version);
  $('start').disabled = running;
  $('stop').disabled = !running;
  $('copy-code').disabled = !running;
  $('invite-create').disabled = !running;
  show('connection-code', status.connection_code || 'Start the server to get a connection code.');
  show('reachability', status.reachability);

  $('attention').replaceChildren(...status.attention.map(listItem));
  // What the server held off in the last minute (password guessing, floods), in plain words.
  $('pressure').replaceChildren(...status.pressure.map(listItem));

  show('last-backup', status.last_backup ? describeBackup(status.last_backup) : 'none yet');
  show('next-backup', when(status.next_backup) || (running ? 'not scheduled' : 'when the server runs'));
  const progress = status.backup_progress;
  $('backup-progress').hidden = !progress;
  if (progress) {
    show('backup-progress-label', `${progress.activity} (${progress.percent}%)`);
    $('backup-progress-bar').value = progress.percent;
  }
  $('back-up-now').disabled = Boolean(progress);
  const newest = status.last_backup ? status.last_backup.path : null;
  if (newest !== backupsShownFor) {
    backupsShownFor = newest;
    loadBackups();
  }

  renderUpdate(status.update, status.version);

  const log = $('log-lines');
  const text = status.log_lines.join('\n');
  if (log.textContent !== text) log.textContent = text;

  renderVpn(status, running);

  if (running && invitesShownFor !== status.connection_code) {
    invitesShownFor = status.connection_code;
    loadInvites();
  }
  if (lastState !== status.state && lastState === 'setup_needed') loadInvites();
  lastState = status.state;
}

// "Update available" with an Install button, the download's progress, and what went wrong.
function renderUpdate(update, version) {
  const busy = Boolean(update.activity);
  show('update-text', update.available
    ? `IPTinCan ${update.available} is available (you have ${version}).`
    : `IPTinCan ${version} is up to date.`);
  $('install-update').hidden = !update.available;
  $('install-update').disabled = busy;
  $('update-progress').hidden = !busy;
  if (busy) {
    show('update-progress-label', `${update.activity} (${update.percent || 0}%)`);
    $('update-progress-bar').value = update.percent || 0;
  }
  if (update.problem && !$('update-error').textContent) show('update-error', update.problem);
}

async function refresh() {
  try {
    render(await invoke('status'));
  } catch (err) {
    show('state-badge', 'Not responding');
  }
}

function showInvite(card) {
  $('invite-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(card.qr_svg)}`;
  show('invite-text', card.text);
  $('invite-card').hidden = false;
  $('invite-card').scrollIntoView({ block: 'nearest' });
  loadInvites();
}

function describeInvite(invite) {
  const parts = [invite.note ? `For ${invite.note}` : `Invite ${invite.id}`];
  parts.push(`${invite.uses} of ${invite.max_uses} used`);
  if (invite.expires_at) parts.push(`expires ${when(invite.expires_at)}`);
  if (invite.state !== 'active') parts.push(invite.state.replace('_', ' '));
  return parts.join(', ');
}

async function loadInvites() {
  let invites;
  try {
    invites = await invoke('list_invites');
  } catch (err) {
    return; // Not running: the list stays as it was.
  }
  $('invite-list').replaceChildren(...invites.map((invite) => {
    const item = document.createElement('li');
    item.textContent = describeInvite(invite);
    if (invite.state === 'active') {
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.textContent = 'Withdraw';
      revoke.setAttribute('aria-label', `Withdraw: ${describeInvite(invite)}`);
      revoke.addEventListener('click', async () => {
        await act('invite-error', 'revoke_invite', { id: invite.id });
        loadInvites();
      });
      item.append(revoke);
    }
    return item;
  }));
}

function describeBackup(backup) {
  const size = backup.size_bytes >= 1048576
    ? `${(backup.size_bytes / 1048576).toFixed(1)} MB`
    : `${Math.max(1, Math.round(backup.size_bytes / 1024))} kB`;
  return `${when(backup.taken_at)} (${size}${backup.encrypted ? ', encrypted' : ''})`;
}

async function loadBackups() {
  let backups;
  try {
    backups = await invoke('list_backups');
  } catch (err) {
    show('backup-error', String(err));
    return;
  }
  $('backup-list').replaceChildren(...backups.map((backup) => {
    const item = document.createElement('li');
    item.textContent = describeBackup(backup);
    const restore = confirmingButton('Restore', 'Yes, restore this backup',
      `Restore the backup of ${describeBackup(backup)}`, async () => {
        const passphrase = $('backup-passphrase').value;
        const done = await act('backup-error', 'restore_backup', { path: backup.path, passphrase: passphrase || null });
        show('backup-message', done ? 'Restored.' : '');
      });
    item.append(restore);
    return item;
  }));
}

// A button that asks once more, so that one stray click does nothing: the first click arms
// it (`armedText`), the second runs `action`, after which it is back as it was.
function confirmingButton(text, armedText, label, action) {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = text;
  button.setAttribute('aria-label', label);
  button.addEventListener('click', async () => {
    if (button.dataset.armed !== 'yes') {
      button.dataset.armed = 'yes';
      button.textContent = armedText;
      return;
    }
    button.disabled = true;
    await action();
    button.disabled = false;
    button.dataset.armed = '';
    button.textContent = text;
  });
  return button;
}

// ---- VPN ----

function bytes(count) {
  if (count < 1000) return `${count} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = count;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

function speed(kbps) {
  return kbps === 0 ? 'no limit' : `${Number((kbps / 1000).toFixed(3))} Mbit/s`;
}

// The engine's one-line state as a sentence.
function sentence(line) {
  const text = line.charAt(0).toUpperCase() + line.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function renderVpn(status, running) {
  const box = $('vpn-enabled');
  box.disabled = vpnBusy;
  $('vpn-details').hidden = !running;
  if (vpnBusy) return;
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
  if (vpnLoading) return;
  vpnLoading = true;
  let vpn;
  let members;
  try {
    [vpn, members] = await Promise.all([invoke('vpn_status'), invoke('list_members')]);
  } catch (err) {
    return; // Not running (any more): the next status says so.
  } finally {
    vpnLoading = false;
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
  const select = $('vpn-member');
  const chosen = select.value;
  select.replaceChildren(...members.map((member) => {
    const option = document.createElement('option');
    option.value = member.username;
    option.textContent = member.role === 'admin' ? `${member.username} (administrator)` : member.username;
    return option;
  }));
  if (members.some((member) => member.username === chosen)) select.value = chosen;
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
    let row = vpnRows.get(peer.id);
    if (!row) {
      row = peerRow(peer);
      vpnRows.set(peer.id, row);
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
  for (const [id, row] of vpnRows) {
    if (!listed.has(id)) {
      row.remove();
      vpnRows.delete(id);
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
  const row = document.createElement('tr');
  row.dataset.peer = String(peer.id);
  for (let i = 0; i < 6; i += 1) row.append(document.createElement('td'));
  const who = `${peer.name} (${peer.username})`;

  const capCell = document.createElement('td');
  const capNow = document.createElement('span');
  capNow.className = 'cap-now';
  const capForm = document.createElement('form');
  capForm.className = 'cap';
  const capInput = document.createElement('input');
  capInput.type = 'number';
  capInput.min = '0';
  capInput.step = '0.1';
  capInput.placeholder = 'Mbit/s';
  capInput.setAttribute('aria-label', `Speed cap for ${who} in Mbit/s; empty = as everyone, 0 = no limit`);
  const capSet = document.createElement('button');
  capSet.type = 'submit';
  capSet.textContent = 'Set';
  capSet.setAttribute('aria-label', `Set the speed cap for ${who}`);
  capForm.append(capInput, capSet);
  capForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const kbps = typedCap(capInput.value);
    if (kbps === undefined) {
      show('vpn-error', 'A speed cap is a number of Mbit/s (0 = no limit), or empty for the same as everyone.');
      return;
    }
    await act('vpn-error', 'vpn_set_limit', { id: peer.id, kbps });
    if (!$('vpn-error').textContent) capInput.value = '';
    loadVpn();
  });
  capCell.append(capNow, capForm);

  const actionCell = document.createElement('td');
  // The row goes away with the device at the next refresh.
  const cut = confirmingButton('Cut access', 'Yes, cut access', `Cut VPN access for ${who}`, async () => {
    const revoked = await act('vpn-error', 'vpn_revoke', { id: peer.id });
    if (revoked) show('vpn-message', `Access cut: ${revoked.name} (${revoked.username}) can no longer use the VPN.`);
    await loadVpn();
  });
  cut.className = 'cut';
  actionCell.append(cut);
  row.append(capCell, actionCell);
  return row;
}

function showVpnCard(card) {
  $('vpn-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(card.qr_svg)}`;
  show('vpn-config', card.config_text);
  show('vpn-card-device', `${card.peer.name} (${card.peer.username})`);
  $('vpn-card').hidden = false;
  $('vpn-card').scrollIntoView({ block: 'nearest' });
}

// Hides the configuration for good: the page keeps no copy of its secret key.
function hideVpnCard() {
  $('vpn-card').hidden = true;
  $('vpn-qr').removeAttribute('src');
  show('vpn-config', '');
}

$('vpn-enabled').addEventListener('change', async (event) => {
  const enabled = event.target.checked;
  vpnBusy = true;
  event.target.disabled = true;
  show('vpn-state', `Turning the VPN ${enabled ? 'on' : 'off'}: the server restarts for a moment…`);
  await act('vpn-error', 'vpn_set_enabled', { enabled });
  vpnBusy = false;
  refresh();
});

$('vpn-add-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = $('vpn-device-name').value.trim();
  if (!name) {
    show('vpn-error', 'Please give the device a name, such as "Anna\'s phone".');
    return;
  }
  $('vpn-add').disabled = true;
  const card = await act('vpn-error', 'vpn_create_peer', { username: $('vpn-member').value, name });
  $('vpn-add').disabled = false;
  if (card) {
    $('vpn-device-name').value = '';
    show('vpn-message', '');
    showVpnCard(card);
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
  await act('vpn-error', 'vpn_set_limit', { id: null, kbps });
  if (!$('vpn-error').textContent) $('vpn-cap').value = '';
  loadVpn();
});

$('copy-vpn-config').addEventListener('click', () =>
  act('vpn-error', 'copy_text', { text: $('vpn-config').textContent }));
$('vpn-card-done').addEventListener('click', hideVpnCard);

$('setup-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const password = $('admin-password').value;
  if (!$('server-name').value.trim()) {
    show('setup-error', 'Please give your server a name.');
    return;
  }
  if (password !== $('admin-password-again').value) {
    show('setup-error', 'The two passwords are not the same.');
    return;
  }
  $('setup-submit').disabled = true;
  show('setup-submit', 'Setting up…');
  await act('setup-error', 'setup', {
    choices: {
      server_name: $('server-name').value,
      admin_password: password,
      open_router_ports: $('open-router-ports').checked,
    },
  });
  $('setup-submit').disabled = false;
  show('setup-submit', 'Set up and start');
});

$('start').addEventListener('click', () => act('action-error', 'start'));
$('stop').addEventListener('click', () => act('action-error', 'stop'));
$('back-up-now').addEventListener('click', async () => {
  $('back-up-now').disabled = true;
  const entry = await act('backup-error', 'back_up_now');
  show('backup-message', entry ? `Backed up: ${describeBackup(entry)}.` : '');
});
$('install-update').addEventListener('click', async () => {
  $('install-update').disabled = true;
  const version = await act('update-error', 'install_update');
  if (version) show('update-text', `IPTinCan ${version} is installed; restarting…`);
});
$('copy-code').addEventListener('click', () =>
  act('action-error', 'copy_text', { text: $('connection-code').textContent }));
$('copy-invite').addEventListener('click', () =>
  act('invite-error', 'copy_text', { text: $('invite-text').textContent }));

$('invite-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const expiry = $('invite-expiry').value;
  const note = $('invite-note').value.trim();
  const card = await act('invite-error', 'create_invite', {
    request: {
      uses: 1,
      expires_in_seconds: expiry ? Number(expiry) : null,
      role: null,
      note: note || null,
    },
  });
  if (card) showInvite(card);
});

$('autostart').addEventListener('change', async (event) => {
  const enabled = await act('settings-error', 'set_autostart', { enabled: event.target.checked });
  if (enabled !== null) event.target.checked = enabled;
});

async function start() {
  listen('invite-created', (event) => showInvite(event.payload));
  invoke('data_location').then((path) => show('data-location', path), () => {});
  invoke('autostart_enabled').then((on) => { $('autostart').checked = on; }, () => {});
  await refresh();
  setInterval(refresh, POLL_MS);
}

start();
