// Invites: make one (its QR picture, its text and its link, with Copy buttons), list them,
// withdraw one. Used by the host's dashboard (engine commands) and, for admins, by the chat's
// admin panel (the same markup ids under another prefix, see `inviteView`).

import { $, el, show, svgSource } from '../dom.js';
import { act, call } from '../commands.js';
import { when } from '../format.js';

function describeInvite(invite) {
  const parts = [invite.note ? `For ${invite.note}` : `Invite ${invite.id}`];
  parts.push(`${invite.uses} of ${invite.max_uses} used`);
  if (invite.expires_at) parts.push(`expires ${when(invite.expires_at)}`);
  if (invite.state !== 'active') parts.push(invite.state.replace('_', ' '));
  return parts.join(', ');
}

// One invite view over the elements `${prefix}-…`: `commands` names the create, list,
// revoke and copy commands (host: the engine's; member admin: the chat connection's).
export function inviteView(prefix, commands) {
  const id = (name) => $(`${prefix}-${name}`);
  const errorId = `${prefix}-error`;

  function showCard(card) {
    id('qr').src = svgSource(card.qr_svg);
    show(id('text'), card.text);
    show(id('link'), card.link);
    id('card').hidden = false;
    id('card').scrollIntoView({ block: 'nearest' });
    load();
  }

  async function load() {
    let invites;
    try {
      invites = await call(commands.list);
    } catch (err) {
      return; // Not running: the list stays as it was.
    }
    id('list').replaceChildren(...invites.map((invite) => el('li', {},
      describeInvite(invite),
      invite.state === 'active' && el('button', {
        type: 'button',
        'aria-label': `Withdraw: ${describeInvite(invite)}`,
        onclick: async () => {
          await act(errorId, commands.revoke, { id: invite.id });
          load();
        },
      }, 'Withdraw'))));
  }

  id('form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const expiry = id('expiry').value;
    const note = id('note').value.trim();
    const card = await act(errorId, commands.create, {
      request: { uses: 1, expires_in_seconds: expiry ? Number(expiry) : null, role: null, note: note || null },
    });
    if (card) showCard(card);
  });
  id('copy').addEventListener('click', () => act(errorId, commands.copy, { text: id('text').textContent }));
  id('copy-link').addEventListener('click', () => act(errorId, commands.copy, { text: id('link').textContent }));
  return { showCard, load };
}
