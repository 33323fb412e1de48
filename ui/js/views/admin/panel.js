// The admin panel in the chat: a tab per section (one ES module each), shown in place of the
// conversation while open. Administrators see every section; moderators only the moderation
// parts (Users without role, ban and password, Channels' slow mode); members see none of it:
// for them the panel is never built. The Approvals tab and the panel's button carry the count
// of registrations waiting.

import { $, el } from '../../dom.js';
import { usersSection } from './users.js';
import { channelsSection } from './channels.js';
import { moderationSection } from './moderation.js';
import { approvalsSection, pendingCount } from './approvals.js';
import { tokensSection } from './tokens.js';
import { invitesSection } from './invites.js';
import { supervisionSection } from './supervision.js';

const SECTIONS = [usersSection, channelsSection, moderationSection, approvalsSection, tokensSection, invitesSection, supervisionSection];
const COUNT_EVERY_MS = 30000;

// What the sections see: who I am, everyone, whether I am an admin, and two calls back.
const panel = {
  me: null,
  people: [],
  admin: false,
  level: null, // 'admin', 'moderator' or null (the panel as built)
  changed: () => {},
  pending: (count) => badge(count),
};
let built = []; // [{ section, tab, view }]
let current = null;
let counting = null;

const levelOf = (role) => ({ owner: 'admin', admin: 'admin', moderator: 'moderator' })[role] || null;

function badge(count) {
  for (const node of [$('admin-approvals-badge'), $('admin-tab-approvals-badge')]) {
    if (!node) continue;
    node.hidden = !count;
    node.textContent = String(count || '');
    node.setAttribute('aria-label', `${count} waiting for approval`);
  }
}

async function countPending() {
  if (panel.level !== 'admin') return;
  const count = await pendingCount();
  if (count !== null) badge(count);
}

function choose(id) {
  current = id;
  for (const { section, tab, view } of built) {
    const on = section.id === id;
    tab.setAttribute('aria-pressed', String(on));
    view.node.hidden = !on;
    if (on) view.refresh();
  }
}

function build(level) {
  panel.level = level;
  panel.admin = level === 'admin';
  built = level ? SECTIONS.filter((s) => panel.admin || !s.adminOnly).map((section) => {
    const view = section.build(panel);
    view.node.id = `admin-section-${section.id}`;
    view.node.classList.add('admin-section');
    const tab = el('button', { id: `admin-tab-${section.id}`, type: 'button', 'aria-pressed': 'false', onclick: () => choose(section.id) },
      section.title, section.id === 'approvals' ? el('span', { id: 'admin-tab-approvals-badge', class: 'unread', hidden: true }) : null);
    return { section, tab, view };
  }) : [];
  const close = el('button', { id: 'admin-panel-close', type: 'button', class: 'quiet', onclick: closePanel }, 'Back to the chat');
  $('admin-panel').replaceChildren(...(level ? [
    el('div', { class: 'admin-head' }, el('h2', { id: 'admin-panel-heading' }, level === 'admin' ? 'Administration' : 'Moderation'), close),
    el('nav', { class: 'admin-tabs', 'aria-label': 'Admin panel sections' }, ...built.map((b) => b.tab)),
    ...built.map((b) => b.view.node),
  ] : []));
  current = null;
  clearInterval(counting);
  counting = level === 'admin' ? setInterval(countPending, COUNT_EVERY_MS) : null;
  countPending();
}

function openPanel() {
  document.querySelector('.chat-main').hidden = true;
  $('admin-panel').hidden = false;
  $('admin-panel-open').setAttribute('aria-pressed', 'true');
  choose(current || built[0].section.id);
}

export function closePanel() {
  $('admin-panel').hidden = true;
  document.querySelector('.chat-main').hidden = false;
  $('admin-panel-open').setAttribute('aria-pressed', 'false');
}

// Shows the panel's button to admins and moderators (`me` and everyone, from the chat);
// rebuilds the panel when the role changed.
export function showPanel(me, people) {
  panel.me = me;
  panel.people = people;
  const mine = people.find((person) => person.username === me.username);
  const level = levelOf(mine ? mine.role : (me.admin ? 'admin' : 'member'));
  if (level !== panel.level) {
    closePanel();
    build(level);
  }
  $('admin-panel-open').hidden = !level;
  if (level && current === 'users' && !$('admin-panel').hidden) built.find((b) => b.section.id === 'users').view.refresh();
}

// `onChanged` runs after a change others can see (roles), to redraw the people.
export function initPanel(onChanged) {
  panel.changed = onChanged;
  $('admin-panel-open').addEventListener('click', () => ($('admin-panel').hidden ? openPanel() : closePanel()));
  // Opening a conversation leaves the panel.
  for (const id of ['chat-channels', 'chat-directs']) $(id).addEventListener('click', closePanel);
}
