// The admin panel's Invites section: every invite with its use and state, a new one (for
// which role, how many people, how long; its link and text with Copy buttons), and withdraw
// one.

import { el, show, confirmingButton } from '../../dom.js';
import { when } from '../../format.js';
import { DAY, ask, choices, copyButton, field, lines, optional } from './ask.js';

const describe = (invite) => [invite.note ? `For ${invite.note}` : `Invite ${invite.id}`, `as ${invite.role}`,
  `${invite.uses} of ${invite.max_uses} used`, invite.expires_at ? `expires ${when(invite.expires_at)}` : null,
  invite.state === 'active' ? null : invite.state.replace('_', ' ')].filter(Boolean).join(', ');

export const invitesSection = {
  id: 'invites',
  title: 'Invites',
  adminOnly: true,
  build() {
    const status = lines('admin-invites-panel');
    const note = el('input', { id: 'admin-invite-note', maxlength: '100', autocomplete: 'off', placeholder: 'Grandma' });
    const role = choices('admin-invite-role', [['member', 'a member'], ['moderator', 'a moderator'], ['admin', 'an administrator']]);
    const uses = choices('admin-invite-uses', [[1, 'one person'], [5, 'up to 5 people'], [20, 'up to 20 people']]);
    const expiry = choices('admin-invite-expiry', [[DAY, '1 day'], [7 * DAY, '1 week'], [30 * DAY, '30 days'], ['', 'never']], 7 * DAY);
    const link = el('code', { id: 'admin-invite-panel-link' });
    const text = el('code', { id: 'admin-invite-panel-text' });
    const card = el('div', { hidden: true },
      el('p', { class: 'copyable' }, link, copyButton(status, link, 'Copy link')),
      el('p', { class: 'copyable' }, text, copyButton(status, text)));
    const create = el('button', {
      type: 'button',
      onclick: async () => {
        const args = { max_uses: Number(uses.value), expires_in_seconds: expiry.value ? Number(expiry.value) : null, role: role.value, note: optional(note) };
        const made = await ask(status, 'create_invite', args);
        if (!made) return;
        show(text, made.text);
        show(link, `itc://join/${made.text}`);
        card.hidden = false;
        note.value = '';
        load();
      },
    }, 'Create invite');
    const list = el('ul', { id: 'admin-invite-list', class: 'admin-list' });
    async function load() {
      const invites = await ask(status, 'list_invites');
      if (!invites) return;
      list.replaceChildren(...invites.map((invite) => el('li', {}, describe(invite), ' ', invite.state === 'active'
        ? confirmingButton('Withdraw', 'Yes, withdraw it: nobody can join with it any more', `Withdraw: ${describe(invite)}`, async () => {
          if (await ask(status, 'revoke_invite', { invite_id: invite.id })) load();
        }) : null)));
    }
    const node = el('div', {},
      el('p', { class: 'muted small' }, 'An invite works with the IPTinCan app on a Windows or Linux computer: send the link or '
        + 'the text by e-mail or in a chat. (There is no phone app yet.)'),
      ...field('Who is it for? (a note for you)', note), ...field('They join as', role), ...field('It lets in', uses),
      ...field('It stops working after', expiry), create, card,
      el('h3', {}, 'Invites'), list,
      ...status.nodes);
    return { node, refresh: load };
  },
};
