// The chat's side panel, beside the messages: one at a time (a thread, search results, the
// mentions list). A view opens it with its title and content, and gets told when another view
// takes it over or the member closes it.

import { $, el } from '../dom.js';

let onClose = null;

function panel() {
  let aside = $('chat-panel');
  if (!aside) {
    aside = el('aside', { id: 'chat-panel', class: 'chat-panel', hidden: true, 'aria-labelledby': 'chat-panel-title' },
      el('div', { class: 'panel-head' },
        el('h3', { id: 'chat-panel-title' }),
        el('button', { type: 'button', id: 'chat-panel-close', class: 'quiet small', 'aria-label': 'Close this panel', onclick: closePanel }, 'Close')),
      el('div', { id: 'chat-panel-body' }));
    document.querySelector('#chat .chat').append(aside);
  }
  return aside;
}

// Opens the panel for a view (`name` is kept as `data-view`), titled `title`, holding
// `children`; `closed` runs when it is closed or taken over.
export function openPanel(name, title, closed, ...children) {
  const aside = panel();
  const previous = onClose;
  onClose = null;
  if (previous) previous();
  onClose = closed;
  aside.dataset.view = name;
  $('chat-panel-title').textContent = title;
  $('chat-panel-body').replaceChildren(...children);
  aside.hidden = false;
  document.querySelector('#chat .chat').classList.add('with-panel');
}

// The view now in the panel, or null when it is closed.
export const panelView = () => ($('chat-panel') && !$('chat-panel').hidden ? $('chat-panel').dataset.view : null);

export function closePanel() {
  const aside = $('chat-panel');
  if (!aside) return;
  aside.hidden = true;
  aside.dataset.view = '';
  document.querySelector('#chat .chat').classList.remove('with-panel');
  const closed = onClose;
  onClose = null;
  if (closed) closed();
}
