// Mentions: the "Mentions" button above the conversation lists the messages that mention this member
// (@name), newest first, in the side panel; its count grows when the server says someone
// mentioned them (the `mentioned` event; the app also shows a desktop notification).
// A mention opens its conversation.

import { $, el, show } from '../dom.js';
import { ask } from '../commands.js';
import { openPanel } from './panel.js';
import { resultItem } from './search.js';

let fresh = 0;

function drawButton() {
  const button = $('mentions-open');
  button.replaceChildren('Mentions', fresh ? el('span', { class: 'unread', 'aria-label': `${fresh} new` }, String(fresh)) : '');
}

const excerpt = (body) => (body.length > 200 ? `${body.slice(0, 200)}…` : body);

async function showMentions() {
  fresh = 0;
  drawButton();
  const list = el('ol', { id: 'mentions-list', class: 'results' });
  const more = el('button', { type: 'button', class: 'quiet small', hidden: true }, 'Older mentions');
  const note = el('p', { class: 'muted', role: 'status' }, 'Loading…');
  openPanel('mentions', 'Messages that mention you', null, note, list, more);
  let before = null;
  const next = async () => {
    try {
      const page = await ask('list_mentions', { before, limit: 20 });
      list.append(...page.messages.map((message) => resultItem(message, excerpt(message.body))));
      before = page.messages.length ? page.messages[page.messages.length - 1].id : before;
      more.hidden = !page.has_more;
      show(note, list.children.length ? '' : 'Nobody has mentioned you yet. People mention you by writing @ and your name.');
    } catch (err) {
      show(note, String(err));
    }
  };
  more.addEventListener('click', next);
  await next();
}

// A `mentioned` event.
export function onMentioned() {
  fresh += 1;
  drawButton();
}

export function resetMentions() {
  fresh = 0;
  drawButton();
}

export function initMentions() {
  $('chat-tools').append(el('button', { type: 'button', id: 'mentions-open', class: 'quiet', onclick: showMentions }, 'Mentions'));
}
