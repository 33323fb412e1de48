// The admin panel's Users section: one person at a time, chosen from a list. Moderators may
// time out, warn, kick and read the moderation history (of members only, the server checks);
// admins may also change the role, ban, and reset the password.

import { choosePeople, el, show, confirmingButton } from '../../dom.js';
import { when } from '../../format.js';
import { DAY, HOUR, MINUTE, ask, choices, field, lines, optional } from './ask.js';

const ROLE_WORDS = { owner: 'owner', admin: 'administrator', moderator: 'moderator', member: 'member' };
const TIMEOUTS = [[5 * MINUTE, '5 minutes'], [10 * MINUTE, '10 minutes'], [HOUR, '1 hour'], [DAY, '1 day'], [7 * DAY, '1 week']];
const BANS = [[HOUR, '1 hour'], [DAY, '1 day'], [7 * DAY, '1 week'], [30 * DAY, '30 days'], ['', 'for good']];
const wordsFor = (select) => select.selectedOptions[0]?.textContent || '';

export const usersSection = {
  id: 'users',
  title: 'Users',
  build(panel) {
    const status = lines('admin-users');
    const who = el('select', { id: 'admin-user' });
    const about = el('p', { id: 'admin-user-about', class: 'muted' });
    const name = () => who.value;
    const done = (text) => {
      status.say(text);
      panel.changed();
    };

    const role = choices('admin-user-role', [['member', 'Member'], ['moderator', 'Moderator'], ['admin', 'Administrator']]);
    const setRole = el('button', {
      id: 'admin-user-role-set',
      type: 'button',
      onclick: async () => {
        if (await ask(status, 'set_role', { username: name(), role: role.value })) done(`${name()} is now ${ROLE_WORDS[role.value]}.`);
      },
    }, 'Set role');

    const timeoutLength = choices('admin-timeout-length', TIMEOUTS, 10 * MINUTE);
    const timeoutReason = el('input', { id: 'admin-timeout-reason', maxlength: '500', autocomplete: 'off' });
    const timeOut = confirmingButton('Time out', () => `Yes, stop ${name()} writing and speaking for ${wordsFor(timeoutLength)}`,
      'Time this person out', async () => {
        const args = { username: name(), duration_seconds: Number(timeoutLength.value), reason: optional(timeoutReason) };
        if (await ask(status, 'timeout', args)) done(`${name()} cannot write or speak for ${wordsFor(timeoutLength)}.`);
      });
    timeOut.id = 'admin-timeout';
    const lift = el('button', {
      id: 'admin-timeout-lift',
      type: 'button',
      class: 'quiet',
      onclick: async () => {
        if (await ask(status, 'timeout', { username: name(), duration_seconds: 0 })) done(`${name()} can write and speak again.`);
      },
    }, 'Lift the timeout');

    const note = el('input', { id: 'admin-warn-note', maxlength: '500', autocomplete: 'off' });
    const warn = el('button', {
      id: 'admin-warn',
      type: 'button',
      onclick: async () => {
        if (!note.value.trim()) {
          show(status.error, 'Please write what the warning is about.');
          return;
        }
        if (await ask(status, 'warn', { username: name(), note: note.value.trim() })) {
          note.value = '';
          done(`${name()} has been warned; the note is in their moderation history.`);
        }
      },
    }, 'Warn');

    const kickReason = el('input', { id: 'admin-kick-reason', maxlength: '500', autocomplete: 'off' });
    const kick = confirmingButton('Kick', () => `Yes, disconnect ${name()} now`, 'Kick this person off the server', async () => {
      if (await ask(status, 'kick', { username: name(), reason: optional(kickReason) })) done(`${name()} was disconnected (they may come back).`);
    });
    kick.id = 'admin-kick';

    const banLength = choices('admin-ban-length', BANS, DAY);
    const banReason = el('input', { id: 'admin-ban-reason', maxlength: '500', autocomplete: 'off' });
    const banAddresses = el('input', { id: 'admin-ban-addresses', type: 'checkbox' });
    const ban = confirmingButton('Ban', () => `Yes, ban ${name()} ${banLength.value ? `for ${wordsFor(banLength)}` : 'for good'}`,
      'Ban this person', async () => {
        const args = {
          username: name(),
          ban_addresses: banAddresses.checked,
          duration_seconds: banLength.value ? Number(banLength.value) : null,
          reason: optional(banReason),
        };
        if (await ask(status, 'ban', args)) done(`${name()} is banned ${banLength.value ? `for ${wordsFor(banLength)}` : 'until you lift it'}.`);
      });
    ban.id = 'admin-ban';

    const temporary = el('input', { id: 'admin-reset-password', type: 'text', minlength: '8', maxlength: '1024', autocomplete: 'off' });
    const reset = confirmingButton('Reset password', () => `Yes, sign ${name()} out and set this password`,
      'Reset this person\'s password', async () => {
        if (temporary.value.length < 8) {
          show(status.error, 'The temporary password needs at least 8 characters.');
          return;
        }
        if (await ask(status, 'reset_password', { username: name(), temporary_password: temporary.value })) {
          temporary.value = '';
          done(`${name()} was signed out. Tell them the temporary password; they choose a new one when they sign in.`);
        }
      });
    reset.id = 'admin-reset';

    const history = el('ul', { id: 'admin-user-history', class: 'audit' });
    const showHistory = el('button', {
      id: 'admin-user-history-show',
      type: 'button',
      class: 'quiet',
      onclick: async () => {
        const entries = await ask(status, 'moderation_history', { username: name() });
        if (!entries) return;
        history.replaceChildren(...(entries.length ? entries.map(auditLine) : [el('li', {}, 'Nothing so far.')]));
      },
    }, 'Show moderation history');

    const adminOnly = (...nodes) => el('div', { class: 'admin-only', hidden: !panel.admin }, ...nodes);
    const node = el('div', {},
      ...field('Person', who), about,
      adminOnly(el('h3', {}, 'Role'), ...field('Their role', role), setRole),
      el('h3', {}, 'Time out'),
      el('p', { class: 'muted small' }, 'They cannot write or speak until the time is up, and see when it ends.'),
      ...field('For how long', timeoutLength), ...field('Why (they will see this)', timeoutReason),
      el('div', { class: 'buttons' }, timeOut, lift),
      el('h3', {}, 'Warn'), ...field('The warning (they will see it; it stays in their history)', note), warn,
      el('h3', {}, 'Kick'), ...field('Why (they will see this)', kickReason), kick,
      adminOnly(el('h3', {}, 'Ban'), ...field('For how long', banLength), ...field('Why (they will see this)', banReason),
        el('label', { class: 'check' }, banAddresses, 'Also ban the internet addresses they are connected from now'), ban),
      adminOnly(el('h3', {}, 'Reset password'),
        ...field('A temporary password (at least 8 characters; tell it to them yourself)', temporary), reset),
      el('h3', {}, 'Moderation history'), showHistory, history,
      ...status.nodes);

    let described = null;
    const describe = () => {
      const person = panel.people.find((p) => p.username === name());
      if (described !== name()) history.replaceChildren();
      described = name();
      show(about, person ? `${ROLE_WORDS[person.role] || person.role}, ${person.online ? 'online now' : 'away'}` : 'Nobody else has joined yet.');
      if (person && person.role !== 'owner') role.value = person.role;
    };
    who.addEventListener('change', describe);
    return {
      node,
      refresh() {
        const others = panel.people.filter((p) => p.username !== panel.me.username);
        choosePeople(who, others, (p) => `${p.username} (${ROLE_WORDS[p.role] || p.role})`);
        describe();
      },
    };
  },
};

// One line of the audit log or a moderation history: when, who, what, whom, why.
export function auditLine(entry) {
  const target = entry.target ? ` → ${entry.target}` : '';
  const reason = entry.reason ? `: ${entry.reason}` : '';
  return el('li', { dataset: { id: String(entry.id), action: entry.action } },
    el('time', { datetime: new Date(entry.at).toISOString() }, when(entry.at)), ' ',
    el('strong', {}, entry.actor), ` ${entry.action.replaceAll('_', ' ')}${target}${reason}`);
}
