// Backups: last and next, "Back up now" with its progress, and restoring one from the list.

import { $, el, show, confirmingButton } from '../dom.js';
import { Cmd, act, call } from '../commands.js';
import { when } from '../format.js';

let shownFor;

function describeBackup(backup) {
  const size = backup.size_bytes >= 1048576
    ? `${(backup.size_bytes / 1048576).toFixed(1)} MB`
    : `${Math.max(1, Math.round(backup.size_bytes / 1024))} kB`;
  return `${when(backup.taken_at)} (${size}${backup.encrypted ? ', encrypted' : ''})`;
}

async function loadBackups() {
  let backups;
  try {
    backups = await call(Cmd.listBackups);
  } catch (err) {
    show('backup-error', String(err));
    return;
  }
  $('backup-list').replaceChildren(...backups.map((backup) => el('li', {},
    describeBackup(backup),
    confirmingButton('Restore', 'Yes, restore this backup', `Restore the backup of ${describeBackup(backup)}`,
      async () => {
        const passphrase = $('backup-passphrase').value;
        const done = await act('backup-error', Cmd.restoreBackup, { path: backup.path, passphrase: passphrase || null });
        show('backup-message', done ? 'Restored.' : '');
      }))));
}

export function renderBackups(status, running) {
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
  if (newest !== shownFor) {
    shownFor = newest;
    loadBackups();
  }
}

export function initBackups() {
  $('back-up-now').addEventListener('click', async () => {
    $('back-up-now').disabled = true;
    const entry = await act('backup-error', Cmd.backUpNow);
    show('backup-message', entry ? `Backed up: ${describeBackup(entry)}.` : '');
  });
  call(Cmd.dataLocation).then((path) => show('data-location', path), () => {});
}
