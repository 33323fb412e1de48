// Search: a box above the conversation searches every message this member may read on the server;
// the results show in the side panel, newest first, each with its conversation, author, time
// and the words found highlighted. The server marks them with U+0002 … U+0003 in the
// snippet's text; they become <mark> elements around text nodes, so nothing in a snippet is
// ever read as markup. A result opens its conversation (and its thread, for a reply).

import { $, el, show } from '../dom.js';
import { ask } from '../commands.js';
import { openPanel } from './panel.js';

const START = '\u0002';
const END = '\u0003';
let jump = () => {};
let titleOf = () => '';

// A snippet's text as nodes: the marked parts in <mark>, the rest as text.
export function highlighted(snippet) {
  const nodes = [];
  let marked = false;
  for (const part of snippet.split(/([\u0002\u0003])/)) {
    if (part === START) marked = true;
    else if (part === END) marked = false;
    else if (part) nodes.push(marked ? el('mark', {}, part) : document.createTextNode(part));
  }
  return nodes;
}

// One found message: where, who, when, and `text` (nodes); pressing it opens the message.
export function resultItem(message, ...text) {
  return el('li', { class: 'result', dataset: { id: String(message.id), channel: String(message.channel_id) } },
    el('button', { type: 'button', class: 'quiet result-open', onclick: () => jump(message) },
      el('span', { class: 'meta' }, el('strong', {}, message.author), ' in ', titleOf(message.channel_id),
        message.thread_id ? ' (thread)' : '', ' · ', new Date(message.created_at).toLocaleString()),
      el('span', { class: 'snippet' }, ...text)));
}

async function search(query) {
  const list = el('ol', { id: 'search-results', class: 'results' });
  const more = el('button', { type: 'button', id: 'search-more', class: 'quiet small', hidden: true }, 'More results');
  const note = el('p', { id: 'search-note', class: 'muted', role: 'status' }, 'Searching…');
  openPanel('search', `Search: ${query}`, null, note, list, more);
  let before = null;
  const next = async () => {
    more.disabled = true;
    try {
      const page = await ask('search', { query, before, limit: 20 });
      list.append(...page.hits.map((hit) => resultItem(hit.message, ...highlighted(hit.snippet))));
      before = page.hits.length ? page.hits[page.hits.length - 1].message.id : before;
      more.hidden = !page.has_more;
      show(note, list.children.length ? '' : 'Nothing found. Try other words, or the start of a word with * (picn*).');
    } catch (err) {
      show(note, String(err));
    }
    more.disabled = false;
  };
  more.addEventListener('click', next);
  await next();
}

// `open(message)` shows a found message in its conversation; `title(channelId)` names one.
export function initSearch(open, title) {
  jump = open;
  titleOf = title;
  const input = el('input', { id: 'search-input', type: 'search', maxlength: '200', autocomplete: 'off', placeholder: 'Words to find' });
  const form = el('form', { id: 'search-form', class: 'inline', role: 'search' },
    el('label', { for: 'search-input' }, 'Search the messages'), input,
    el('button', { type: 'submit', id: 'search-submit' }, 'Search'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (input.value.trim()) search(input.value.trim());
  });
  // A tool bar above the conversation: search, and the mentions list (mentions.js).
  $('chat-title').after(el('div', { id: 'chat-tools', class: 'chat-tools' }, form));
}
