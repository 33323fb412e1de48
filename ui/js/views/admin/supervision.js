// The admin panel's Supervision section (docs/protocol.md §22), for administrators: look after
// a member (a child) with a guardian, choose who they may write to privately besides the
// guardian, and set quiet hours when they cannot send. Quiet hours are kept in UTC by the
// server; this page shows and takes them in the computer's own time.

import { choosePeople, el, show, confirmingButton } from '../../dom.js';
import { ask, choices, field, lines } from './ask.js';
import { Cmd, call } from '../../commands.js';

const DAY_MINUTES = 1440;
const offset = () => new Date().getTimezoneOffset(); // minutes to add to local time for UTC

// "HH:MM" (local) ↔ minutes of the day in UTC.
function toUtcMinutes(text) {
  const [hours, minutes] = text.split(':').map(Number);
  return (((hours * 60 + minutes + offset()) % DAY_MINUTES) + DAY_MINUTES) % DAY_MINUTES;
}
function toLocalClock(utcMinutes) {
  const local = (((utcMinutes - offset()) % DAY_MINUTES) + DAY_MINUTES) % DAY_MINUTES;
  return `${String(Math.floor(local / 60)).padStart(2, '0')}:${String(local % 60).padStart(2, '0')}`;
}

// "22:00 to 07:00" in local time, or null.
export function quietWords(quiet) {
  return quiet ? `${toLocalClock(quiet.start_minute)} to ${toLocalClock(quiet.end_minute)}` : null;
}

// The member's supervision, or null when they are not supervised (the server answers
// not_found then, which is no error here).
export async function supervisionOf(username) {
  try {
    const reply = await call(Cmd.ask, { request: { op: 'supervision', args: username ? { username } : {} } });
    return reply.data;
  } catch {
    return null;
  }
}

export const supervisionSection = {
  id: 'supervision',
  title: 'Supervision',
  adminOnly: true,
  build(panel) {
    const status = lines('admin-supervision');
    const who = el('select', { id: 'admin-supervised' });
    const about = el('p', { id: 'admin-supervision-about', role: 'status' });
    const guardian = el('select', { id: 'admin-guardian' });
    const contacts = el('ul', { id: 'admin-contacts', class: 'admin-list' });
    const contact = el('select', { id: 'admin-contact' });
    const quietFrom = el('input', { id: 'admin-quiet-from', type: 'time', value: '21:00' });
    const quietTo = el('input', { id: 'admin-quiet-to', type: 'time', value: '07:00' });
    const name = () => who.value;
    const managed = el('div', { id: 'admin-supervision-managed', hidden: true });

    const draw = (info) => {
      managed.hidden = !info;
      if (!info) {
        show(about, name() ? `${name()} is not supervised.` : 'Only members (not moderators or administrators) can be supervised.');
        contacts.replaceChildren();
        return;
      }
      const quiet = quietWords(info.quiet_hours);
      show(about, `${info.username} is looked after by ${info.guardian || 'the administrators (their guardian left)'}.`
        + (quiet ? ` Quiet hours: ${quiet}${info.quiet_now ? ' (now)' : ''}.` : ' No quiet hours.'));
      contacts.replaceChildren(...(info.contacts.length ? info.contacts.map((person) => el('li', {}, person,
        el('button', {
          type: 'button',
          class: 'quiet small',
          'aria-label': `Stop allowing ${person}`,
          onclick: async () => draw(await ask(status, 'allow_contact', { username: name(), contact: person, allowed: false })),
        }, 'Stop allowing'))) : [el('li', {}, 'Only their guardian so far.')]));
    };
    const refresh = async () => draw(name() ? await supervisionOf(name()) : null);

    const supervise = el('button', {
      id: 'admin-supervise',
      type: 'button',
      onclick: async () => {
        const info = await ask(status, 'supervise', { username: name(), guardian: guardian.value });
        if (info) {
          status.say(`${name()} is now looked after by ${guardian.value}. They can write privately only to ${guardian.value} and the people you allow.`);
          draw(info);
        }
      },
    }, 'Look after this member');
    const allow = el('button', {
      id: 'admin-contact-allow',
      type: 'button',
      onclick: async () => {
        const info = await ask(status, 'allow_contact', { username: name(), contact: contact.value, allowed: true });
        if (info) {
          status.say(`${name()} may now write privately to ${contact.value}.`);
          draw(info);
        }
      },
    }, 'Allow');
    const setQuiet = el('button', {
      id: 'admin-quiet-set',
      type: 'button',
      onclick: async () => {
        if (!quietFrom.value || !quietTo.value || quietFrom.value === quietTo.value) {
          show(status.error, 'Please choose when quiet hours start and when they end (two different times).');
          return;
        }
        const args = { username: name(), start_minute: toUtcMinutes(quietFrom.value), end_minute: toUtcMinutes(quietTo.value) };
        const info = await ask(status, 'set_quiet_hours', args);
        if (info) {
          status.say(`${name()} cannot send messages from ${quietFrom.value} to ${quietTo.value}.`);
          draw(info);
        }
      },
    }, 'Set quiet hours');
    const clearQuiet = el('button', {
      id: 'admin-quiet-clear',
      type: 'button',
      class: 'quiet',
      onclick: async () => {
        const info = await ask(status, 'set_quiet_hours', { username: name() });
        if (info) {
          status.say(`${name()} has no quiet hours now.`);
          draw(info);
        }
      },
    }, 'No quiet hours');
    const end = confirmingButton('Stop supervising', () => `Yes, ${name()} is no longer supervised`, 'Stop supervising this member', async () => {
      if (await ask(status, 'unsupervise', { username: name() })) {
        status.say(`${name()} is no longer supervised.`);
        draw(null);
      }
    });
    end.id = 'admin-unsupervise';

    who.addEventListener('change', refresh);
    const node = el('div', {},
      el('p', { class: 'muted small' },
        'A supervised member (a child) can write privately only to their guardian and the people the guardian allows, '
        + 'and cannot send during quiet hours. They see that they are supervised, and by whom.'),
      ...field('Member', who), about,
      ...field('Guardian', guardian), supervise,
      managed,
      ...status.nodes);
    managed.append(
      el('h3', {}, 'Who they may write to'), contacts, ...field('Also allow', contact), allow,
      el('h3', {}, 'Quiet hours (this computer\'s time)'),
      ...field('From', quietFrom), ...field('To', quietTo),
      el('div', { class: 'buttons' }, setQuiet, clearQuiet),
      el('h3', {}, 'End'), end);

    return {
      node,
      refresh() {
        choosePeople(who, panel.people.filter((p) => p.role === 'member'));
        choosePeople(guardian, panel.people.filter((p) => p.username !== name()));
        choosePeople(contact, panel.people.filter((p) => p.username !== name()));
        refresh();
      },
    };
  },
};
