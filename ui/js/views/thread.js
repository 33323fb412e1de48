// Threads: "Reply in thread" on a message opens the side panel with the message, its replies
// (paged: older ones on request) and a box to reply. The channel shows each thread's reply
// count and last reply time under its first message. New replies arrive live as
// `thread_reply` (chat.js passes them here).

import { el, show } from '../dom.js';
import { ask } from '../commands.js';
import { openPanel, panelView } from './panel.js';

let render = () => null; // draws a message (chat.js), without thread actions
let onError = () => {};
const open = { root: null, replies: [], hasMore: false };

function time(ms) {
  const date = new Date(ms);
  return new Date().toDateString() === date.toDateString()
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : date.toLocaleString();
}

// Under a thread's first message: how many replies and when the last came; opens the thread.
export function threadSummary(message) {
  if (!message.thread?.reply_count) return null;
  const count = message.thread.reply_count;
  return el('button', { type: 'button', class: 'quiet small thread-summary', onclick: () => openThread(message) },
    `${count} ${count === 1 ? 'reply' : 'replies'}, last at ${time(message.thread.last_reply_at)}`);
}

export const threadButton = (message) => el('button', { type: 'button', class: 'quiet small reply-thread',
  onclick: () => openThread(message) }, 'Reply in thread');

const isOpen = () => panelView() === 'thread' && open.root;

function draw() {
  if (!isOpen()) return;
  const list = document.getElementById('thread-replies');
  list.replaceChildren(...open.replies.map(render));
  document.getElementById('thread-older').hidden = !open.hasMore;
  document.getElementById('thread-root').replaceChildren(render(open.root));
}

async function page(before) {
  const reply = await ask('thread_history', { message_id: open.root.id, before, limit: 50 });
  const known = new Set(open.replies.map((m) => m.id));
  open.replies = [...open.replies, ...reply.messages.filter((m) => !known.has(m.id))].sort((a, b) => a.id - b.id);
  if (before !== null || !open.loaded) open.hasMore = reply.has_more;
  open.loaded = true;
  draw();
}

export async function openThread(root) {
  Object.assign(open, { root, replies: [], hasMore: false, loaded: false });
  const box = el('textarea', { id: 'thread-input', rows: '2', placeholder: 'Reply in this thread…', 'aria-label': 'Your reply' });
  const error = el('p', { id: 'thread-error', class: 'error', role: 'alert' });
  const form = el('form', { id: 'thread-form' }, box, el('button', { type: 'submit', id: 'thread-send' }, 'Reply'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = box.value;
    if (!body.trim()) return;
    box.value = '';
    show(error, '');
    try {
      const message = await ask('reply_thread', { message_id: open.root.id, body, client_id: `t-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}` });
      addReply(message);
    } catch (err) {
      box.value ||= body;
      show(error, String(err));
    }
  });
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const older = el('button', { type: 'button', id: 'thread-older', class: 'quiet small', hidden: true,
    onclick: () => page(open.replies[0]?.id ?? null).catch((err) => onError(String(err))) }, 'Show older replies');
  openPanel('thread', 'Thread', () => { open.root = null; },
    el('ol', { id: 'thread-root', class: 'thread-root' }), older,
    el('ol', { id: 'thread-replies', class: 'thread-replies' }), form, error);
  draw();
  box.focus();
  await page(null).catch((err) => show(error, String(err)));
}

function addReply(message) {
  if (!isOpen() || message.thread_id !== open.root.id) return;
  open.replies = open.replies.filter((m) => m.id !== message.id).concat(message).sort((a, b) => a.id - b.id);
  draw();
  const list = document.getElementById('thread-replies');
  list.lastElementChild?.scrollIntoView({ block: 'nearest' });
}

// A `thread_reply` event: the reply joins the open thread.
export const onThreadReply = (data) => addReply(data.message);

// A message of the open thread (root or reply) changed: `change(message)` answers the new one,
// or null when it is gone.
export function patchThread(messageId, change) {
  if (!isOpen()) return;
  if (open.root.id === messageId) {
    const root = change(open.root);
    if (root) open.root = root;
  }
  open.replies = open.replies.map((m) => (m.id === messageId ? change(m) : m)).filter(Boolean);
  draw();
}

export const openThreadRoot = () => (isOpen() ? open.root.id : null);

// `renderMessage(message)` draws a message for the thread panel.
export function initThread(renderMessage, error) {
  render = renderMessage;
  onError = error;
}
