// The server panel: state, uptime, people online, Start/Stop, the connection code, what needs
// attention, updates and the recent log lines.

import { $, show, listItem } from '../dom.js';
import { Cmd, act } from '../commands.js';
import { duration } from '../format.js';

export function renderServer(status, words, running) {
  show('state-text', words);
  show('uptime', running ? duration(status.uptime_seconds) : '–');
  show('users-online', String(status.users_online));
  show('version', status.version);
  $('start').disabled = running;
  $('stop').disabled = !running;
  $('copy-code').disabled = !running;
  show('connection-code', status.connection_code || 'Start the server to get a connection code.');
  show('reachability', status.reachability);
  $('attention').replaceChildren(...status.attention.map(listItem));
  // What the server held off in the last minute (password guessing, floods), in plain words.
  $('pressure').replaceChildren(...status.pressure.map(listItem));
  renderUpdate(status.update, status.version);
  const log = $('log-lines');
  const text = status.log_lines.join('\n');
  if (log.textContent !== text) log.textContent = text;
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

export function initServer() {
  $('start').addEventListener('click', () => act('action-error', Cmd.start));
  $('stop').addEventListener('click', () => act('action-error', Cmd.stop));
  $('copy-code').addEventListener('click', () =>
    act('action-error', Cmd.copyText, { text: $('connection-code').textContent }));
  $('install-update').addEventListener('click', async () => {
    $('install-update').disabled = true;
    const version = await act('update-error', Cmd.installUpdate);
    if (version) show('update-text', `IPTinCan ${version} is installed; restarting…`);
  });
}
