// The app's Tauri commands and events, each name declared once here (src-tauri/build.rs and
// src-tauri/capabilities/dashboard.json list the same command names for Rust). Views call `call(Cmd.x, args)` or
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
  // The family side (joining a server and chatting).
  appState: 'app_state',
  chooseMode: 'choose_mode',
  readInvite: 'read_invite',
  readInvitePicture: 'read_invite_picture',
  join: 'join',
  signInHere: 'sign_in_here',
  resume: 'resume',
  signIn: 'sign_in',
  signOut: 'sign_out',
  channels: 'chat_channels',
  users: 'chat_users',
  history: 'chat_history',
  send: 'chat_send',
  markRead: 'chat_mark_read',
  edit: 'chat_edit',
  remove: 'chat_delete',
  setStatus: 'chat_set_status',
  openDirect: 'chat_open_direct',
  viewing: 'chat_viewing',
  createInviteAsAdmin: 'chat_create_invite',
  createChannel: 'chat_create_channel',
  setRole: 'chat_set_role',
  // Any control-protocol request the page needs no app work for: call(Cmd.ask, { request: { op, args } }).
  ask: 'chat_ask',
  // Voice calls.
  voiceDevices: 'voice_devices',
  voiceJoin: 'voice_join',
  voiceLeave: 'voice_leave',
  voiceSetMuted: 'voice_set_muted',
  voiceSetDeafened: 'voice_set_deafened',
  voiceSetVolume: 'voice_set_volume',
  voiceSetProcessing: 'voice_set_processing',
  voiceSetPressed: 'voice_set_pressed',
  voiceSetMicrophone: 'voice_set_microphone',
  voiceSetSpeaker: 'voice_set_speaker',
  // Files in the chat (uploads and downloads go through the app; src-tauri/src/files.rs).
  upload: 'chat_upload',
  uploadPath: 'chat_upload_path',
  picture: 'chat_picture',
  saveFile: 'chat_save_file',
});

export const Event = Object.freeze({
  inviteCreated: 'invite-created',
  chat: 'chat-event',
  link: 'chat-link',
  joinLink: 'join-link',
  voice: 'voice-event',
  fileProgress: 'file-progress',
  // The window's own event: files dropped on it from the desktop (their paths).
  dragDrop: 'tauri://drag-drop',
});

// Any control-protocol request with no app work (docs/protocol.md): answers its reply's data.
export const ask = async (op, args = {}) => (await invoke(Cmd.ask, { request: { op, args } })).data;

export const call = (command, args, options) => invoke(command, args, options);
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
