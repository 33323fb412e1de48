// The app's Tauri commands and events, each name declared once here (src-tauri/build.rs and
// capabilities/app.json list the same names for Rust). Views call `call(Cmd.x, args)` or
// `act(errorId, Cmd.x, args)`, never a bare string.

import { show } from './dom.js';

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

export const Cmd = Object.freeze({
  // The host side (the server on this PC).
  status: 'status',
  setup: 'setup',
  start: 'start',
  stop: 'stop',
  createInvite: 'create_invite',
  listInvites: 'list_invites',
  revokeInvite: 'revoke_invite',
  listMembers: 'list_members',
  vpnStatus: 'vpn_status',
  vpnSetEnabled: 'vpn_set_enabled',
  vpnCreatePeer: 'vpn_create_peer',
  vpnRevoke: 'vpn_revoke',
  vpnSetLimit: 'vpn_set_limit',
  backUpNow: 'back_up_now',
  listBackups: 'list_backups',
  restoreBackup: 'restore_backup',
  copyText: 'copy_text',
  dataLocation: 'data_location',
  autostartEnabled: 'autostart_enabled',
  setAutostart: 'set_autostart',
  installUpdate: 'install_update',
});

export const Event = Object.freeze({
  inviteCreated: 'invite-created',
});

export const call = (command, args) => invoke(command, args);
export const on = (event, handler) => listen(event, (message) => handler(message.payload));

// Hooks run after every `act` (the dashboard refreshes its status).
const afterAct = [];
export const onAfterAct = (hook) => afterAct.push(hook);

// Runs a command; shows its error (plain words from the engine) in `errorId`; null on error.
export async function act(errorId, command, args) {
  show(errorId, '');
  try {
    return await invoke(command, args);
  } catch (err) {
    show(errorId, String(err));
    return null;
  } finally {
    for (const hook of afterAct) hook();
  }
}
