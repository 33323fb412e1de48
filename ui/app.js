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

  const attention = $('attention');
  attention.replaceChildren(...status.attention.map((text) => {
    const item = document.createElement('li');
    item.textContent = text;
    return item;
  }));

  show('last-backup', status.last_backup ? describeBackup(status.last_backup) : 'none yet');
  show('next-backup', when(status.next_backup) || (running ? 'not scheduled' : 'when the server runs'));
  const progress = status.backup_progress;
  $('backup-progress').hidden = !progress;
  if (progress) {
    show('backup-progress-label', `${progress.activity} (${progress.percent}%)`);
    $('backup-progress-bar').value = progress.percent;
  }
  $('back-up-now').disabled = !running || Boolean(progress);
  const newest = status.last_backup ? status.last_backup.path : null;
  if (newest !== backupsShownFor) {
    backupsShownFor = newest;
    loadBackups();
  }

  renderUpdate(status.update, status.version);

  const log = $('log-lines');
  const text = status.log_lines.join('\n');
  if (log.textContent !== text) log.textContent = text;

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
    const restore = document.createElement('button');
    restore.type = 'button';
    restore.textContent = 'Restore';
    restore.setAttribute('aria-label', `Restore the backup of ${describeBackup(backup)}`);
    restore.addEventListener('click', async () => {
      // Two steps, so that one stray click restores nothing.
      if (restore.dataset.armed !== 'yes') {
        restore.dataset.armed = 'yes';
        restore.textContent = 'Yes, restore this backup';
        return;
      }
      restore.disabled = true;
      const passphrase = $('backup-passphrase').value;
      const done = await act('backup-error', 'restore_backup', { path: backup.path, passphrase: passphrase || null });
      show('backup-message', done ? 'Restored.' : '');
      restore.disabled = false;
      restore.dataset.armed = '';
      restore.textContent = 'Restore';
    });
    item.append(restore);
    return item;
  }));
}

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
