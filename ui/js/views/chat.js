// The family chat: channels by category, direct conversations, people with presence and
// status, a conversation's messages (older ones on request), sending, editing and deleting
// one's own, unread counts, and the connection's state. Messages are drawn by markdown.js
// from text only. The server's events arrive as `chat-event`, the connection's state as
// `chat-link`. Rich chat has a module per part: reactions.js, thread.js, attachments.js
// (files and pictures), preview.js (link cards), search.js, mentions.js, in the side panel
// of panel.js.

import { $, el, show, confirmingButton } from '../dom.js';
import { Cmd, Event, act, call, on } from '../commands.js';
import { render as markdown } from '../markdown.js';
import { initAdmin, showAdmin } from './admin.js';
import { initVoice, resetVoice, showVoice, voicePresence } from './voice.js';
import { attachmentList, initAttachments } from './attachments.js';
import { previewCard } from './preview.js';
import { initReactions, reactButton, reactionBar, reloadEmoji } from './reactions.js';
import { initThread, onThreadReply, openThread, openThreadRoot, patchThread, threadButton, threadSummary } from './thread.js';
import { initSearch } from './search.js';
import { initMentions, onMentioned, resetMentions } from './mentions.js';
import { closePanel } from './panel.js';

const chat = {
  me: null,
  categories: [],
  channels: new Map(), // id → channel
  people: new Map(), // username → presence
  messages: new Map(), // channel id → { list: [message], hasMore }
  unread: new Map(), // channel id → count
  current: null,
  editing: null, // the id of the own message being edited
};
let signedOutHandler = () => {};

const isDirect = (channel) => channel.kind === 'direct';
const otherName = (channel) => channel.name.split('+').find((name) => name !== chat.me.username) || chat.me.username;
const channelTitle = (channel) => (isDirect(channel) ? otherName(channel) : `#${channel.name}`);

function conversationButton(channel) {
  const count = chat.unread.get(channel.id) || 0;
  const current = channel.id === chat.current;
  return el('li', {}, el('button', {
    type: 'button',
    class: `conversation${current ? ' current' : ''}`,
    dataset: { channel: String(channel.id), name: channel.name },
    'aria-current': current ? 'true' : null,
    onclick: () => openChannel(channel.id),
  }, channelTitle(channel), channel.kind === 'voice' ? ' (voice)' : '',
  count ? el('span', { class: 'unread', 'aria-label': `${count} unread` }, String(count)) : null));
}

function drawConversations() {
  const channels = [...chat.channels.values()];
  const groups = [{ id: null, name: 'Channels' }, ...chat.categories].map((category) => {
    const inIt = channels.filter((c) => !isDirect(c) && (c.category_id ?? null) === category.id);
    if (!inIt.length) return null;
    return el('div', {}, el('h3', {}, category.name), el('ul', { class: 'conversations' }, ...inIt.map(conversationButton)));
  });
  $('chat-channels').replaceChildren(...groups.filter(Boolean));
  $('chat-directs').replaceChildren(...channels.filter(isDirect).map(conversationButton));
}

function drawPeople() {
  const people = [...chat.people.values()].sort((a, b) => (b.online - a.online) || a.username.localeCompare(b.username));
  $('chat-people').replaceChildren(...people.map((person) => el('li', { class: person.online ? 'online' : 'offline' },
    el('span', { class: 'dot', 'aria-hidden': 'true' }),
    el('span', {}, person.username, person.username === chat.me.username ? ' (you)' : ''),
    el('span', { class: 'sr-only' }, person.online ? ', online' : ', away'),
    person.status ? el('span', { class: 'status' }, person.status) : null,
    person.username === chat.me.username ? null : el('button', {
      type: 'button',
      class: 'quiet small',
      'aria-label': `Write to ${person.username}`,
      onclick: async () => {
        const reply = await act('chat-error', Cmd.openDirect, { username: person.username });
        if (reply) {
          chat.channels.set(reply.data.id, reply.data);
          openChannel(reply.data.id);
        }
      },
    }, 'Write'))));
  showAdmin(chat.me, people);
}

function time(ms) {
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : date.toLocaleString();
}

// A message as drawn in its conversation, or in the thread panel (`inThread`: no thread
// buttons, no editing there).
function messageItem(message, inThread = false) {
  if (chat.editing === message.id && !inThread) return editForm(message);
  const own = message.author === chat.me.username;
  const body = el('div', { class: 'body' }, markdown(message.body));
  const item = el('li', { class: `message${own ? ' own' : ''}`, dataset: { id: String(message.id) } },
    el('p', { class: 'meta' }, el('strong', { class: 'author' }, message.author), ' ',
      el('time', { datetime: new Date(message.created_at).toISOString() }, time(message.created_at)),
      message.edited_at ? el('span', { class: 'muted' }, ' (edited)') : null),
    body, attachmentList(message), previewCard(message.preview), reactionBar(message),
    inThread ? null : threadSummary(message));
  const actions = el('div', { class: 'actions' }, reactButton(message), inThread ? null : threadButton(message));
  item.append(actions);
  if (own && !inThread) {
    const edit = el('button', {
      type: 'button',
      class: 'quiet small edit',
      onclick: () => {
        chat.editing = message.id;
        drawMessages();
        $('chat-messages').querySelector('form.editing textarea').focus();
      },
    }, 'Edit');
    const remove = confirmingButton('Delete', 'Yes, delete it', 'Delete this message', async () => {
      await act('chat-error', Cmd.remove, { messageId: message.id });
    });
    remove.className = 'quiet small delete';
    actions.append(edit, remove);
  }
  return item;
}

// The message being edited, as a form (kept across redraws until saved or cancelled).
function editForm(message) {
  const box = el('textarea', { class: 'edit-box', rows: '2', 'aria-label': 'Edit your message' });
  box.value = message.body;
  const stop = () => {
    chat.editing = null;
    drawMessages();
  };
  const form = el('li', { class: 'message own editing', dataset: { id: String(message.id) } },
    el('form', {}, box, el('div', { class: 'buttons' },
      el('button', { type: 'submit' }, 'Save'),
      el('button', { type: 'button', class: 'quiet', onclick: stop }, 'Cancel'))));
  form.querySelector('form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const reply = await act('chat-error', Cmd.edit, { messageId: message.id, body: box.value });
    if (!reply) return;
    chat.editing = null;
    upsert(reply.data);
  });
  return form;
}

function thread(channelId) {
  if (!chat.messages.has(channelId)) chat.messages.set(channelId, { list: [], hasMore: false, loaded: false });
  return chat.messages.get(channelId);
}

// Link previews that came before their message: the sender's own message is drawn from its
// send's answer, which can arrive after the server's `link_preview` event.
const earlyPreviews = new Map();

// Adds or replaces messages in their channel's thread (kept in id order) and redraws. A
// message's link preview survives a newer copy of the same text that does not carry it (the
// send's answer).
function upsert(...messages) {
  const touched = new Set();
  for (const incoming of messages) {
    const t = thread(incoming.channel_id);
    const at = t.list.findIndex((m) => m.id === incoming.id);
    const kept = at >= 0 && t.list[at].body === incoming.body ? t.list[at].preview : null;
    const preview = incoming.preview ?? kept ?? earlyPreviews.get(incoming.id);
    earlyPreviews.delete(incoming.id);
    const message = preview ? { ...incoming, preview } : incoming;
    if (at >= 0) t.list[at] = message;
    else t.list.push(message);
    touched.add(message.channel_id);
  }
  for (const id of touched) thread(id).list.sort((a, b) => a.id - b.id);
  if (touched.has(chat.current)) drawMessages();
}

function drawMessages(keepTop = false) {
  const scroll = $('chat-scroll');
  const atBottom = scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 40;
  const fromBottom = scroll.scrollHeight - scroll.scrollTop;
  const t = thread(chat.current);
  const pending = [...$('chat-messages').querySelectorAll('li.pending')];
  $('chat-messages').replaceChildren(...t.list.map((m) => messageItem(m)), ...pending);
  $('chat-older').hidden = !t.hasMore;
  if (keepTop) scroll.scrollTop = scroll.scrollHeight - fromBottom;
  else if (atBottom || !t.drawn) scroll.scrollTop = scroll.scrollHeight;
  t.drawn = true;
}

async function loadNewest(channelId) {
  const reply = await act('chat-error', Cmd.history, { channelId, before: null });
  if (!reply) return;
  const t = thread(channelId);
  if (!t.loaded) t.hasMore = reply.data.has_more;
  t.loaded = true;
  upsert(...reply.data.messages);
  if (channelId === chat.current) drawMessages();
  markRead(channelId);
}

// Tells the server the conversation on screen is read up to its newest message.
function markRead(channelId) {
  const list = thread(channelId).list;
  if (!list.length || channelId !== chat.current || document.hidden) return;
  call(Cmd.markRead, { channelId, messageId: list[list.length - 1].id }).catch(() => {});
}

async function loadOlder() {
  const t = thread(chat.current);
  if (!t.list.length) return;
  $('chat-older').disabled = true;
  const reply = await act('chat-error', Cmd.history, { channelId: chat.current, before: t.list[0].id });
  $('chat-older').disabled = false;
  if (!reply) return;
  t.hasMore = reply.data.has_more;
  for (const message of reply.data.messages) if (!t.list.some((m) => m.id === message.id)) t.list.push(message);
  t.list.sort((a, b) => a.id - b.id);
  drawMessages(true);
}

async function openChannel(id) {
  const channel = chat.channels.get(id);
  if (!channel) return;
  chat.current = id;
  chat.editing = null;
  chat.unread.delete(id);
  show('chat-title', channelTitle(channel));
  showVoice(channel, channelTitle(channel));
  call(Cmd.viewing, { channelId: id }).catch(() => {});
  drawConversations();
  $('chat-messages').replaceChildren();
  thread(id).drawn = false;
  drawMessages();
  await loadNewest(id);
}

async function send(body) {
  const channelId = chat.current;
  const pending = el('li', { class: 'message own pending' },
    el('p', { class: 'meta' }, el('strong', { class: 'author' }, chat.me.username), ' ', el('span', { class: 'muted' }, 'sending…')),
    el('div', { class: 'body' }, markdown(body)));
  $('chat-messages').append(pending);
  $('chat-scroll').scrollTop = $('chat-scroll').scrollHeight;
  const reply = await act('chat-error', Cmd.send, { channelId, body });
  pending.remove();
  if (reply) upsert(reply.data);
  else if (channelId === chat.current) $('chat-input').value ||= body; // not sent: give it back
}

// Changes message `id` of `channelId` wherever it is drawn (its conversation, the open thread);
// `change(message)` answers the new message.
function patchMessage(channelId, id, change) {
  const t = thread(channelId);
  const at = t.list.findIndex((m) => m.id === id);
  if (at >= 0) {
    t.list[at] = change(t.list[at]);
    if (channelId === chat.current) drawMessages();
  }
  patchThread(id, change);
}

// Opens a found message (search, mentions): its conversation, and its thread for a reply.
async function jumpTo(message) {
  await openChannel(message.channel_id);
  const rootId = message.thread_id ?? message.id;
  const shown = $('chat-messages').querySelector(`li.message[data-id="${rootId}"]`);
  if (shown) {
    shown.classList.add('found');
    shown.scrollIntoView({ block: 'center' });
  }
  if (message.thread_id) {
    const root = thread(message.channel_id).list.find((m) => m.id === message.thread_id)
      || { id: message.thread_id, channel_id: message.channel_id, author: '', created_at: message.created_at,
        body: 'The first message of this thread is further back in the conversation.' };
    openThread(root);
  }
}

function onRichEvent(kind, data) {
  if (kind === 'thread_reply') {
    patchMessage(data.message.channel_id, data.message.thread_id, (m) => ({ ...m, thread: data.thread }));
    onThreadReply(data);
  } else if (kind === 'reactions_changed') {
    patchMessage(data.channel_id, data.message_id, (m) => ({ ...m, reactions: data.reactions }));
  } else if (kind === 'link_preview') {
    if (!thread(data.channel_id).list.some((m) => m.id === data.message_id)) earlyPreviews.set(data.message_id, data.preview);
    patchMessage(data.channel_id, data.message_id, (m) => ({ ...m, preview: data.preview }));
  } else if (kind === 'mentioned') {
    onMentioned(data);
  }
}

function onChatEvent(event) {
  const { kind, data } = event;
  if (kind === 'message_created') {
    upsert(data);
    markRead(data.channel_id);
    if (data.channel_id !== chat.current || document.hidden) {
      if (data.author !== chat.me.username) chat.unread.set(data.channel_id, (chat.unread.get(data.channel_id) || 0) + 1);
      drawConversations();
    }
  } else if (kind === 'message_edited') {
    if (data.thread_id) patchThread(data.id, () => data);
    else upsert(data);
  } else if (kind === 'message_deleted') {
    const t = thread(data.channel_id);
    t.list = t.list.filter((m) => m.id !== data.message_id);
    if (data.channel_id === chat.current) drawMessages();
    if (openThreadRoot() === data.message_id) closePanel();
    else patchThread(data.message_id, () => null);
  } else if (kind === 'channel_created' || kind === 'channel_renamed') {
    chat.channels.set(data.id, data);
    drawConversations();
  } else if (kind === 'channel_deleted') {
    chat.channels.delete(data.channel_id);
    drawConversations();
  } else if (kind === 'voice_joined' || kind === 'voice_left' || kind === 'voice_state') {
    voicePresence(kind, data);
  } else if (kind === 'read_state') {
    // Read on another of this user's devices.
    if (data.unread) chat.unread.set(data.channel_id, data.unread);
    else chat.unread.delete(data.channel_id);
    drawConversations();
  } else if (kind === 'presence') {
    chat.people.set(data.username, data);
    drawPeople();
  } else if (['category_created', 'category_renamed', 'category_deleted'].includes(kind)) {
    loadChannels();
  } else {
    onRichEvent(kind, data);
  }
}

function onLink(link) {
  const banner = $('link-state');
  if (link.state === 'connected') {
    banner.hidden = true;
    show(banner, '');
    refreshAll(); // what was missed while away
  } else if (link.state === 'reconnecting') {
    banner.hidden = false;
    banner.className = 'link-state reconnecting';
    show(banner, link.attempt > 1
      ? `Connection lost. Reconnecting… (trying again in ${link.retry_in_seconds} seconds). You can keep writing; messages are sent when it is back.`
      : 'Connection lost. Reconnecting… You can keep writing; messages are sent when it is back.');
  } else {
    banner.hidden = true;
    signedOutHandler('Your session has ended. Please sign in again.');
  }
}

async function loadChannels() {
  const reply = await act('chat-error', Cmd.channels);
  if (!reply) return;
  chat.categories = reply.data.categories.sort((a, b) => a.position - b.position);
  chat.channels = new Map(reply.data.channels.map((c) => [c.id, c]));
  // Unread counts as the server keeps them (the same on every device of this user).
  for (const read of reply.data.read_states || []) {
    if (read.channel_id === chat.current || !read.unread) chat.unread.delete(read.channel_id);
    else chat.unread.set(read.channel_id, read.unread);
  }
  drawConversations();
}

async function loadPeople() {
  const reply = await act('chat-error', Cmd.users);
  if (!reply) return;
  chat.people = new Map(reply.data.map((p) => [p.username, p]));
  drawPeople();
}

async function refreshAll() {
  await Promise.all([loadChannels(), loadPeople()]);
  if (chat.current !== null) await loadNewest(chat.current);
}

// Opens the chat for a signed-in session and lands in #general.
export async function showChat(signed) {
  chat.me = signed;
  chat.messages.clear();
  chat.unread.clear();
  resetVoice();
  chat.current = null;
  closePanel();
  resetMentions();
  reloadEmoji().then(() => chat.current !== null && drawMessages());
  show('chat-me', signed.username);
  show('chat-server', signed.server_name);
  $('chat').hidden = false;
  await Promise.all([loadChannels(), loadPeople()]);
  const general = [...chat.channels.values()].find((c) => c.name === 'general')
    || [...chat.channels.values()].find((c) => !isDirect(c));
  if (general) await openChannel(general.id);
}

// `onSignedOut(reason)` runs when the user signs out or the session ends.
export function initChat(onSignedOut) {
  signedOutHandler = onSignedOut;
  on(Event.chat, onChatEvent);
  on(Event.link, onLink);
  initAdmin(() => loadPeople());
  initVoice();
  const error = (text) => show('chat-error', text);
  initAttachments(() => chat.current, (message) => upsert(message));
  initReactions(() => chat.people.get(chat.me?.username)?.id ?? null,
    (id) => [...chat.people.values()].find((p) => p.id === id)?.username ?? 'someone who left',
    () => chat.current !== null && drawMessages(), error);
  initThread((message) => messageItem(message, true), error);
  initSearch(jumpTo, (id) => (chat.channels.has(id) ? channelTitle(chat.channels.get(id)) : 'a conversation'));
  initMentions();
  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const body = $('chat-input').value;
    if (!body.trim() || chat.current === null) return;
    $('chat-input').value = '';
    send(body);
  });
  $('chat-input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $('chat-form').requestSubmit();
    }
  });
  $('chat-older').addEventListener('click', loadOlder);
  $('chat-scroll').addEventListener('scroll', () => {
    if ($('chat-scroll').scrollTop === 0 && !$('chat-older').hidden && !$('chat-older').disabled) loadOlder();
  });
  $('status-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const status = $('status-input').value.trim();
    await act('chat-error', Cmd.setStatus, { status: status || null });
    loadPeople();
  });
  $('chat-sign-out').addEventListener('click', async () => {
    await act('chat-error', Cmd.signOut);
    $('chat').hidden = true;
    signedOutHandler('');
  });
}
