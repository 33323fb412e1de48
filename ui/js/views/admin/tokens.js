// The admin panel's Access tokens section: make a token for a script or bot that uses the
// REST API (a name, what it may do, when it expires), shown once with a Copy button and a
// plain warning; the tokens with their last use; revoke one (it stops working at once).

import { el, show, confirmingButton } from '../../dom.js';
import { when } from '../../format.js';
import { DAY, ask, choices, copyButton, field, lines } from './ask.js';

const SCOPES = [['read', 'Read: server stats, people, channels, history'], ['send', 'Send and delete messages'],
  ['moderate', 'Moderate: kick, time out, warn, slow mode'], ['admin', 'Administer: channels, roles, invites, bans, tokens, the audit log']];

export const tokensSection = {
  id: 'tokens',
  title: 'Access tokens',
  adminOnly: true,
  build() {
    const status = lines('admin-tokens');
    const name = el('input', { id: 'admin-token-name', maxlength: '64', autocomplete: 'off', placeholder: 'backup script' });
    const scopes = Object.fromEntries(SCOPES.map(([scope]) => [scope, el('input', { id: `admin-token-scope-${scope}`, type: 'checkbox', checked: scope === 'read' })]));
    const expiry = choices('admin-token-expiry', [['', 'never'], [DAY, 'in 1 day'], [30 * DAY, 'in 30 days'], [90 * DAY, 'in 90 days'], [366 * DAY, 'in a year']], 30 * DAY);

    const secret = el('code', { id: 'admin-token-secret' });
    const card = el('div', { id: 'admin-token-card', class: 'once', hidden: true },
      el('p', {}, el('strong', {}, 'Shown only now. '), 'Copy this token into your script and keep it secret: anyone who has it '
        + 'can act as you, with what you allowed it, until you revoke it. The server keeps only a fingerprint of it, so it '
        + 'cannot be shown again; if you lose it, make a new one.'),
      el('p', { class: 'copyable' }, secret,
        copyButton(status, secret, 'Copy', 'admin-token-copy')),
      el('button', { id: 'admin-token-done', type: 'button', onclick: () => { show(secret, ''); card.hidden = true; } }, 'Done, hide it'));

    const create = el('button', {
      id: 'admin-token-create',
      type: 'button',
      onclick: async () => {
        const chosen = SCOPES.map(([scope]) => scope).filter((scope) => scopes[scope].checked);
        if (!name.value.trim() || !chosen.length) {
          show(status.error, 'Please give the token a name and allow it at least one thing.');
          return;
        }
        const args = { name: name.value.trim(), scopes: chosen, expires_in_seconds: expiry.value ? Number(expiry.value) : null };
        const made = await ask(status, 'create_token', args);
        if (!made) return;
        name.value = '';
        show(secret, made.secret);
        card.hidden = false;
        status.say(`The token "${made.token.name}" is made.`);
        load();
      },
    }, 'Create token');

    const list = el('ul', { id: 'admin-tokens', class: 'admin-list' });
    async function load() {
      const tokens = await ask(status, 'list_tokens');
      if (!tokens) return;
      list.replaceChildren(...(tokens.length ? tokens.map((token) => {
        const revoke = confirmingButton('Revoke', `Yes, revoke "${token.name}": what uses it stops working now`, `Revoke ${token.name}`, async () => {
          if (await ask(status, 'revoke_token', { token_id: token.id })) {
            status.say(`"${token.name}" no longer works.`);
            load();
          }
        });
        const expired = token.expires_at && token.expires_at < Date.now();
        return el('li', { dataset: { id: String(token.id), name: token.name } },
          el('strong', {}, token.name), ` (${token.scopes.join(', ')}), made by ${token.created_by} ${when(token.created_at)}; `,
          el('span', { class: 'last-used' }, token.last_used_at ? `last used ${when(token.last_used_at)}` : 'never used'),
          token.expires_at ? `; ${expired ? 'expired' : 'expires'} ${when(token.expires_at)}` : '; never expires', ' ', revoke);
      }) : [el('li', {}, 'No tokens yet.')]));
    }

    const node = el('div', {},
      el('p', { class: 'muted small' }, 'A token lets a script or bot use this server\'s REST API (port 3786) as you, '
        + 'limited to what you allow it.'),
      ...field('Name', name),
      el('fieldset', {}, el('legend', {}, 'It may'),
        ...SCOPES.map(([scope, words]) => el('label', { class: 'check' }, scopes[scope], words))),
      ...field('It stops working', expiry), create, card,
      el('h3', {}, 'Tokens'), list,
      ...status.nodes);
    return { node, refresh: load };
  },
};
