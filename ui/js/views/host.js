// The host side: first-run setup, then the dashboard of the server on this PC. Polls the
// engine's `status` and hands each panel its part.

import { $, show } from '../dom.js';
import { Cmd, Event, call, on, onAfterAct } from '../commands.js';
import { initSetup } from './setup.js';
import { initServer, renderServer } from './server.js';
import { inviteView } from './invites.js';
import { initVpn, renderVpn } from './vpn.js';
import { initBackups, renderBackups } from './backups.js';
import { initSettings } from './settings.js';

const POLL_MS = 1500;

const STATE_WORDS = {
  setup_needed: 'Not set up yet',
  stopped: 'Stopped',
  running: 'Running',
  needs_attention: 'Needs attention',
};

let lastState = null;
let invitesShownFor = null;
let invites;

function render(status) {
  const setupNeeded = status.state === 'setup_needed';
  $('setup').hidden = !setupNeeded;
  $('dashboard').hidden = setupNeeded;
  $('host-nav').hidden = setupNeeded;
  const words = STATE_WORDS[status.state] || status.state;
  show('title', status.server_name || 'IPTinCan');
  show('state-badge', words);
  $('state-badge').className = `badge ${status.state}`;
  if (setupNeeded) {
    lastState = status.state;
    return;
  }
  const running = Boolean(status.connection_code);
  renderServer(status, words, running);
  $('invite-create').disabled = !running;
  renderBackups(status, running);
  renderVpn(status, running);
  if (running && invitesShownFor !== status.connection_code) {
    invitesShownFor = status.connection_code;
    invites.load();
  }
  if (lastState !== status.state && lastState === 'setup_needed') invites.load();
  lastState = status.state;
}

async function refresh() {
  try {
    render(await call(Cmd.status));
  } catch (err) {
    show('state-badge', 'Not responding');
  }
}

// Starts the host side: wires every panel, then polls the engine. `onSetUp(password)` runs
// when first-run setup has started the server.
export async function startHost(onSetUp) {
  initSetup(onSetUp);
  initServer();
  invites = inviteView('invite', {
    create: Cmd.createInvite, list: Cmd.listInvites, revoke: Cmd.revokeInvite, copy: Cmd.copyText,
  });
  initVpn(refresh);
  initBackups();
  initSettings();
  onAfterAct(refresh);
  on(Event.inviteCreated, (card) => invites.showCard(card));
  await refresh();
  setInterval(refresh, POLL_MS);
}
