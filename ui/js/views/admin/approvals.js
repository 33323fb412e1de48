// The admin panel's Approvals section: registrations waiting for an admin (when the server's
// settings say `[auth] require_approval = true`), approve or turn away; and the count shown
// as a badge on the panel's button and tab.

import { el, confirmingButton } from '../../dom.js';
import { when } from '../../format.js';
import { ask, lines, optional } from './ask.js';

export const approvalsSection = {
  id: 'approvals',
  title: 'Approvals',
  adminOnly: true,
  build(panel) {
    const status = lines('admin-approvals');
    const list = el('ul', { id: 'admin-approvals', class: 'admin-list' });
    const reason = el('input', { id: 'admin-deny-reason', maxlength: '500', autocomplete: 'off' });
    async function load() {
      const waiting = await ask(status, 'list_approvals');
      if (!waiting) return;
      panel.pending(waiting.length);
      list.replaceChildren(...(waiting.length ? waiting.map((entry) => {
        const approve = el('button', {
          type: 'button',
          onclick: async () => {
            if (await ask(status, 'approve', { username: entry.username })) {
              status.say(`${entry.username} is in.`);
              load();
            }
          },
        }, 'Approve');
        const deny = confirmingButton('Turn away', `Yes, turn ${entry.username} away (their registration is discarded)`,
          `Turn ${entry.username} away`, async () => {
            if (await ask(status, 'deny', { username: entry.username, reason: optional(reason) })) {
              status.say(`${entry.username} was turned away.`);
              load();
            }
          });
        return el('li', {}, `${entry.username}, asked ${when(entry.requested_at)} `, approve, ' ', deny);
      }) : [el('li', {}, 'Nobody is waiting.')]));
    }
    const node = el('div', {},
      el('p', { class: 'muted small' }, 'When the server\'s settings say [auth] require_approval = true, people who register '
        + 'themselves wait here until an administrator lets them in. People with an invite do not wait.'),
      list, el('label', { for: reason.id }, 'Why they are turned away (they will see this; optional)'), reason,
      ...status.nodes);
    return { node, refresh: load };
  },
};

// How many registrations wait (null when it cannot be asked).
export async function pendingCount() {
  const quiet = lines('admin-approvals-count');
  const waiting = await ask(quiet, 'list_approvals');
  return waiting ? waiting.length : null;
}
