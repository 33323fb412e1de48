// The admin panel's Channels section: every channel by category with its slow mode; add,
// rename and delete channels and categories; make a channel private; each role's permissions
// on a channel or a category (allow, deny, or as its category / the default). Moderators see
// only slow mode, which they may set.

import { el, show, confirmingButton } from '../../dom.js';
import { MINUTE, HOUR, ask, choices, field, lines } from './ask.js';

const SLOW = [[0, 'off'], [5, '5 seconds'], [10, '10 seconds'], [30, '30 seconds'], [MINUTE, '1 minute'],
  [5 * MINUTE, '5 minutes'], [15 * MINUTE, '15 minutes'], [HOUR, '1 hour']];
const FLAGS = [['view', 'See it'], ['send', 'Write'], ['speak', 'Speak and share video'], ['manage', 'Set slow mode, delete others\' messages']];
const TRI = [['', 'as its category (or the default)'], ['true', 'allowed'], ['false', 'not allowed']];
const slowWords = (seconds) => (SLOW.find(([s]) => s === seconds) || [0, `${seconds} seconds`])[1];

export const channelsSection = {
  id: 'channels',
  title: 'Channels',
  build(panel) {
    const status = lines('admin-channels');
    let list = { categories: [], channels: [] };
    const listing = el('div', { id: 'admin-channel-list' });
    const channel = el('select', { id: 'admin-channel' });
    const chosen = () => list.channels.find((c) => String(c.id) === channel.value);
    const title = () => `#${chosen()?.name || ''}`;

    const slow = choices('admin-slow-mode', SLOW);
    const setSlow = el('button', {
      id: 'admin-slow-mode-set',
      type: 'button',
      onclick: async () => {
        const seconds = Number(slow.value);
        const reply = await ask(status, 'set_slow_mode', { channel_id: Number(channel.value), seconds });
        if (reply) {
          status.say(seconds ? `${title()}: one message every ${slowWords(seconds)} per member.` : `${title()}: slow mode is off.`);
          load();
        }
      },
    }, 'Set slow mode');

    // Admins only: rename, delete, private, permissions, new channels and categories.
    const rename = el('input', { id: 'admin-channel-rename', maxlength: '32', autocomplete: 'off' });
    const renameButton = el('button', {
      type: 'button',
      onclick: async () => {
        const name = rename.value.trim().replace(/^#/, '');
        if (name && await ask(status, 'rename_channel', { channel_id: Number(channel.value), name })) {
          status.say(`Renamed to #${name}.`);
          rename.value = '';
          load();
        }
      },
    }, 'Rename');
    const remove = confirmingButton('Delete channel', () => `Yes, delete ${title()} and every message in it`, 'Delete this channel', async () => {
      const name = title();
      if (await ask(status, 'delete_channel', { channel_id: Number(channel.value) })) {
        status.say(`${name} is deleted.`);
        load();
      }
    });
    remove.id = 'admin-channel-delete';

    const privately = el('input', { id: 'admin-channel-private', type: 'checkbox' });
    privately.addEventListener('change', async () => {
      const view = privately.checked ? false : null;
      for (const role of ['member', 'moderator']) {
        const args = { channel_id: Number(channel.value), role, view, ...(await current('channel', channel.value, role)) };
        args.view = view;
        if (!await ask(status, 'set_channel_permissions', args)) return;
      }
      status.say(privately.checked
        ? `${title()} is private: only administrators see it (allow others below, per role).`
        : `${title()} is visible to everyone again.`);
    });

    // The permission editor: a channel or a category, a role, four flags.
    const scope = el('select', { id: 'admin-permission-scope' });
    const role = choices('admin-permission-role', [['member', 'Members'], ['moderator', 'Moderators']]);
    const flags = Object.fromEntries(FLAGS.map(([flag]) => [flag, choices(`admin-permission-${flag}`, TRI)]));
    async function current(kind, id, forRole) {
      const reply = await ask(status, 'channel_permissions', { [`${kind}_id`]: Number(id) });
      const found = reply && reply.overrides.find((o) => o.role === forRole);
      return found ? { view: found.view, send: found.send, speak: found.speak, manage: found.manage } : {};
    }
    async function loadFlags() {
      if (!scope.value) return;
      const [kind, id] = scope.value.split(':');
      const now = await current(kind, id, role.value);
      for (const [flag, select] of Object.entries(flags)) select.value = now[flag] === undefined || now[flag] === null ? '' : String(now[flag]);
    }
    scope.addEventListener('change', loadFlags);
    role.addEventListener('change', loadFlags);
    const savePermissions = el('button', {
      id: 'admin-permission-save',
      type: 'button',
      onclick: async () => {
        const [kind, id] = scope.value.split(':');
        const args = { [`${kind}_id`]: Number(id), role: role.value };
        for (const [flag, select] of Object.entries(flags)) args[flag] = select.value === '' ? null : select.value === 'true';
        if (await ask(status, 'set_channel_permissions', args)) status.say('The permissions are saved; everyone\'s app shows the change.');
      },
    }, 'Save permissions');

    const newName = el('input', { id: 'admin-new-channel-name', maxlength: '32', autocomplete: 'off', placeholder: 'holidays' });
    const newKind = choices('admin-new-channel-kind', [['text', 'For writing (text)'], ['voice', 'For talking (voice)']]);
    const newCategory = el('select', { id: 'admin-new-channel-category' });
    const create = el('button', {
      id: 'admin-new-channel',
      type: 'button',
      onclick: async () => {
        const name = newName.value.trim().replace(/^#/, '');
        if (!name) {
          show(status.error, 'Please give the channel a name.');
          return;
        }
        const args = { name, kind: newKind.value, category_id: newCategory.value ? Number(newCategory.value) : null };
        if (await ask(status, 'create_channel', args)) {
          newName.value = '';
          status.say(`#${name} is ready.`);
          load();
        }
      },
    }, 'Add channel');

    const categoryName = el('input', { id: 'admin-category-name', maxlength: '32', autocomplete: 'off' });
    const category = el('select', { id: 'admin-category' });
    const categoryTitle = () => category.selectedOptions[0]?.textContent || '';
    const addCategory = el('button', {
      type: 'button',
      onclick: async () => {
        const name = categoryName.value.trim();
        if (name && await ask(status, 'create_category', { name })) {
          categoryName.value = '';
          status.say(`The category "${name}" is ready.`);
          load();
        }
      },
    }, 'Add category');
    const renameCategory = el('button', {
      type: 'button',
      onclick: async () => {
        const name = categoryName.value.trim();
        if (name && category.value && await ask(status, 'rename_category', { category_id: Number(category.value), name })) {
          categoryName.value = '';
          status.say(`Renamed to "${name}".`);
          load();
        }
      },
    }, 'Rename chosen category');
    const removeCategory = confirmingButton('Delete category', () => `Yes, delete "${categoryTitle()}" (its channels stay, without a category)`,
      'Delete this category', async () => {
        if (category.value && await ask(status, 'delete_category', { category_id: Number(category.value) })) {
          status.say('The category is deleted; its channels are kept.');
          load();
        }
      });

    const adminOnly = (...nodes) => el('div', { class: 'admin-only', hidden: !panel.admin }, ...nodes);
    const node = el('div', {},
      listing,
      ...field('Channel', channel),
      ...field('Slow mode: each member may write one message every', slow), setSlow,
      adminOnly(
        ...field('New name', rename), el('div', { class: 'buttons' }, renameButton, remove),
        el('label', { class: 'check' }, privately, 'Private: only administrators see this channel (and whoever you allow below)'),
        el('h3', {}, 'Permissions'),
        el('p', { class: 'muted small' }, 'A channel follows its category unless set here; administrators may always do everything.'),
        ...field('Channel or category', scope), ...field('For', role),
        ...FLAGS.flatMap(([flag, words]) => field(words, flags[flag])), savePermissions,
        el('h3', {}, 'Add a channel'), ...field('Name', newName), ...field('Kind', newKind), ...field('Category', newCategory), create,
        el('h3', {}, 'Categories'), ...field('Category', category), ...field('Name', categoryName),
        el('div', { class: 'buttons' }, addCategory, renameCategory, removeCategory)),
      ...status.nodes);

    async function load() {
      const reply = await ask(status, 'list_channels');
      if (!reply) return;
      list = { categories: reply.categories, channels: reply.channels.filter((c) => c.kind !== 'direct') };
      const named = (id) => list.categories.find((c) => c.id === id)?.name;
      listing.replaceChildren(el('ul', { class: 'admin-list' }, ...list.channels.map((c) => el('li', { dataset: { id: String(c.id) } },
        `#${c.name}`, c.kind === 'voice' ? ' (voice)' : '', named(c.category_id) ? `, in ${named(c.category_id)}` : '',
        c.slow_mode_seconds ? `, slow mode: one message every ${slowWords(c.slow_mode_seconds)}` : ''))));
      const keep = [channel.value, scope.value, category.value, newCategory.value];
      channel.replaceChildren(...list.channels.map((c) => el('option', { value: String(c.id) }, `#${c.name}`)));
      scope.replaceChildren(...list.channels.map((c) => el('option', { value: `channel:${c.id}` }, `#${c.name}`)),
        ...list.categories.map((c) => el('option', { value: `category:${c.id}` }, `Category: ${c.name}`)));
      category.replaceChildren(...list.categories.map((c) => el('option', { value: String(c.id) }, c.name)));
      newCategory.replaceChildren(el('option', { value: '' }, 'none'), ...list.categories.map((c) => el('option', { value: String(c.id) }, c.name)));
      [channel.value, scope.value, category.value, newCategory.value] = keep;
      if (!channel.value && list.channels.length) channel.value = String(list.channels[0].id);
      if (!scope.value && scope.options.length) scope.value = scope.options[0].value;
      onChannel();
    }
    async function onChannel() {
      const c = chosen();
      if (!c) return;
      slow.value = String(c.slow_mode_seconds || 0);
      if (!panel.admin) return;
      const members = await current('channel', c.id, 'member');
      privately.checked = members.view === false;
      loadFlags();
    }
    channel.addEventListener('change', onChannel);
    return { node, refresh: load };
  },
};
