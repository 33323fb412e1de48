// Reactions: under a message, each emoji used with its count (who reacted shows on hover and
// to screen readers); pressing one's own takes it back, pressing another's adds the same. The
// "React" button opens a small picker: a few common emoji and the server's custom emoji,
// shown as their pictures. Changes arrive live as `reactions_changed` (chat.js).

import { el } from '../dom.js';
import { ask, on, Event } from '../commands.js';
import { pictureSource } from './attachments.js';

const COMMON = ['👍', '❤️', '😂', '😮', '😢', '🎉', '🙏', '👏'];
const custom = new Map(); // shortcode (no colons) → CustomEmoji
let people = { me: () => null, nameOf: (id) => `someone (${id})` };
let onError = () => {};

const shortcode = (emoji) => (/^:[\w-]+:$/.test(emoji) ? emoji.slice(1, -1).toLowerCase() : null);

// An emoji as shown: its picture for a custom one the server knows, else its text.
export function emojiNode(emoji) {
  const code = shortcode(emoji);
  const known = code && custom.get(code);
  if (!known) return el('span', { class: 'emoji' }, emoji);
  const image = el('img', { class: 'emoji', alt: emoji, title: emoji });
  pictureSource(known.file_id, false, known.content_type).then((source) => { image.src = source; }, () => {});
  return image;
}

async function toggle(message, emoji, mine) {
  try {
    await ask(mine ? 'remove_reaction' : 'add_reaction', { message_id: message.id, emoji });
  } catch (err) {
    onError(String(err));
  }
}

// A message's reactions, or null without any.
export function reactionBar(message) {
  if (!message.reactions?.length) return null;
  const me = people.me();
  return el('div', { class: 'reactions' }, ...message.reactions.map((reaction) => {
    const mine = reaction.users.includes(me);
    const names = reaction.users.map((id) => (id === me ? 'you' : people.nameOf(id))).join(', ');
    return el('button', {
      type: 'button',
      class: `reaction${mine ? ' mine' : ''}`,
      dataset: { emoji: reaction.emoji },
      'aria-pressed': String(mine),
      title: `${names}${mine ? ' (press to take yours back)' : ''}`,
      'aria-label': `${reaction.emoji}: ${reaction.count}, by ${names}`,
      onclick: () => toggle(message, reaction.emoji, mine),
    }, emojiNode(reaction.emoji), el('span', { class: 'count' }, String(reaction.count)));
  }));
}

// The "React" button and its picker.
export function reactButton(message) {
  const picker = el('div', { class: 'emoji-picker', role: 'group', 'aria-label': 'Choose a reaction', hidden: true });
  const button = el('button', { type: 'button', class: 'quiet small react', 'aria-expanded': 'false', onclick: () => {
    const opening = picker.hidden;
    if (opening) {
      const choices = [...COMMON, ...[...custom.keys()].map((code) => `:${code}:`)];
      picker.replaceChildren(...choices.map((emoji) => el('button', {
        type: 'button', class: 'quiet small', dataset: { emoji }, 'aria-label': `React with ${emoji}`,
        onclick: () => {
          picker.hidden = true;
          button.setAttribute('aria-expanded', 'false');
          const mine = message.reactions?.some((r) => r.emoji === emoji && r.users.includes(people.me()));
          toggle(message, emoji, Boolean(mine));
        },
      }, emojiNode(emoji))));
    }
    picker.hidden = !opening;
    button.setAttribute('aria-expanded', String(opening));
  } }, 'React');
  return el('span', { class: 'react-wrap' }, button, picker);
}

async function loadEmoji() {
  try {
    const list = await ask('emoji_list');
    custom.clear();
    for (const emoji of list || []) custom.set(emoji.shortcode, emoji);
  } catch {
    // An older server without custom emoji: the common ones still work.
  }
}

// `me()` is this member's user id, `nameOf(id)` a user's name; `redraw()` runs when the custom
// emoji change; `error(text)` shows a refusal.
export function initReactions(me, nameOf, redraw, error) {
  people = { me, nameOf };
  onError = error;
  on(Event.chat, ({ kind }) => {
    if (kind.startsWith('emoji_')) loadEmoji().then(redraw);
  });
}

export const reloadEmoji = loadEmoji;
