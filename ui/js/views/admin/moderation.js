// The admin panel's Moderation section: the bans in force (lift one, or ban an internet
// address), the keyword filters (messages with the word are not sent; optionally the sender
// is timed out), and the audit log of every moderation and admin action, newest first, a page
// at a time.

import { el, show, confirmingButton } from '../../dom.js';
import { when } from '../../format.js';
import { DAY, HOUR, MINUTE, ask, choices, field, lines, optional } from './ask.js';
import { auditLine } from './users.js';

const PAGE = 20;

export const moderationSection = {
  id: 'moderation',
  title: 'Moderation',
  adminOnly: true,
  build() {
    const status = lines('admin-moderation');

    const bans = el('ul', { id: 'admin-bans', class: 'admin-list' });
    const banned = (ban) => [ban.username, ban.address].filter(Boolean).join(' at ');
    async function loadBans() {
      const list = await ask(status, 'list_bans');
      if (!list) return;
      bans.replaceChildren(...(list.length ? list.map((ban) => {
        const lift = confirmingButton('Lift', `Yes, let ${banned(ban)} back in`, `Lift the ban of ${banned(ban)}`, async () => {
          if (await ask(status, 'unban', { ban_id: ban.id })) {
            status.say(`${banned(ban)} may come back.`);
            loadBans();
          }
        });
        return el('li', { dataset: { id: String(ban.id) } }, `${banned(ban)}, by ${ban.created_by}, `,
          ban.expires_at ? `until ${when(ban.expires_at)}` : 'for good', ban.reason ? `: ${ban.reason}` : '', ' ', lift);
      }) : [el('li', {}, 'Nobody is banned.')]));
    }
    const address = el('input', { id: 'admin-ban-address', autocomplete: 'off', placeholder: '203.0.113.9' });
    const addressLength = choices('admin-ban-address-length', [[HOUR, '1 hour'], [DAY, '1 day'], [30 * DAY, '30 days'], ['', 'for good']], DAY);
    const addressReason = el('input', { id: 'admin-ban-address-reason', maxlength: '500', autocomplete: 'off' });
    const banAddress = confirmingButton('Ban this address', () => `Yes, refuse everyone from ${address.value.trim()}`,
      'Ban this internet address', async () => {
        const args = { address: address.value.trim(), duration_seconds: addressLength.value ? Number(addressLength.value) : null, reason: optional(addressReason) };
        if (await ask(status, 'ban', args)) {
          status.say(`${args.address} is banned.`);
          address.value = '';
          loadBans();
        }
      });

    const filters = el('ul', { id: 'admin-filters', class: 'admin-list' });
    async function loadFilters() {
      const list = await ask(status, 'list_filters');
      if (!list) return;
      filters.replaceChildren(...(list.length ? list.map((filter) => {
        const remove = confirmingButton('Remove', `Yes, allow "${filter.word}" again`, `Remove the filter for ${filter.word}`, async () => {
          if (await ask(status, 'remove_filter', { filter_id: filter.id })) {
            status.say(`"${filter.word}" is allowed again.`);
            loadFilters();
          }
        });
        return el('li', {}, `"${filter.word}"`, filter.timeout_seconds ? `, and a timeout of ${Math.round(filter.timeout_seconds / 60)} min` : '', ' ', remove);
      }) : [el('li', {}, 'No words are filtered.')]));
    }
    const word = el('input', { id: 'admin-filter-word', maxlength: '64', autocomplete: 'off' });
    const filterTimeout = choices('admin-filter-timeout', [['', 'no timeout'], [5 * MINUTE, '5 minutes'], [HOUR, '1 hour'], [DAY, '1 day']]);
    const addFilter = el('button', {
      id: 'admin-filter-add',
      type: 'button',
      onclick: async () => {
        if (!word.value.trim()) {
          show(status.error, 'Please type the word or phrase to stop.');
          return;
        }
        const args = { word: word.value.trim(), timeout_seconds: filterTimeout.value ? Number(filterTimeout.value) : null };
        if (await ask(status, 'add_filter', args)) {
          status.say(`Messages with "${args.word}" are not sent from now on; the sender is told why.`);
          word.value = '';
          loadFilters();
        }
      },
    }, 'Add filter');

    const audit = el('ol', { id: 'admin-audit', class: 'audit' });
    let before = null;
    const older = el('button', { id: 'admin-audit-older', type: 'button', class: 'quiet', hidden: true, onclick: () => loadAudit(false) }, 'Older entries');
    async function loadAudit(fresh) {
      if (fresh) before = null;
      const page = await ask(status, 'audit_log', { before, limit: PAGE });
      if (!page) return;
      const items = page.entries.map(auditLine);
      if (fresh) audit.replaceChildren(...items);
      else audit.append(...items);
      if (page.entries.length) before = page.entries[page.entries.length - 1].id;
      older.hidden = !page.has_more;
    }
    const refreshAudit = el('button', { id: 'admin-audit-refresh', type: 'button', class: 'quiet', onclick: () => loadAudit(true) }, 'Refresh');

    const node = el('div', {},
      el('h3', {}, 'Bans'), bans,
      ...field('Ban an internet address (IPv6: its whole /64 network)', address), ...field('For how long', addressLength),
      ...field('Why', addressReason), banAddress,
      el('h3', {}, 'Keyword filters'),
      el('p', { class: 'muted small' }, 'A message with the word (whole word, any case) is not sent, and the sender is told why.'),
      filters, ...field('Word or phrase', word), ...field('Also time the sender out', filterTimeout), addFilter,
      el('h3', {}, 'Audit log'),
      el('p', { class: 'muted small' }, 'Every moderation and admin action: when, who, what, to whom, why. Message text is never kept here.'),
      refreshAudit, audit, older,
      ...status.nodes);
    return { node, refresh: () => Promise.all([loadBans(), loadFilters(), loadAudit(true)]) };
  },
};
