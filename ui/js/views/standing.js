// What the server tells members about themselves (docs/protocol.md §18, §22): a timeout closes
// the composer until it ends ("You can write again at HH:MM"), a warning shows its note
// until read, and a supervised member sees that they are supervised, by whom, who they may
// write to privately and their quiet hours. A message a keyword filter stopped or slow mode refused is answered to that send,
// and the chat shows the answer's words under the composer.

import { $, el, show } from '../dom.js';
import { Event, on } from '../commands.js';
import { clock } from './admin/ask.js';
import { quietWords, supervisionOf } from './admin/supervision.js';

let until = 0;
let reopen = null;
let me = null;

function notice() {
  let node = $('chat-standing');
  if (!node) {
    node = el('div', { id: 'chat-standing', class: 'standing', hidden: true },
      el('p', { id: 'chat-timeout', role: 'status', hidden: true }),
      el('p', { id: 'chat-warning', role: 'alert', hidden: true }),
      el('p', { id: 'chat-supervised', role: 'status', hidden: true }),
      el('button', { id: 'chat-warning-read', type: 'button', class: 'quiet small', hidden: true, onclick: () => warned(null) }, 'I have read it'));
    $('chat-form').before(node);
  }
  return node;
}

function redraw() {
  const box = notice();
  box.hidden = $('chat-timeout').hidden && $('chat-warning').hidden && $('chat-supervised').hidden;
}

function timedOut(end, reason) {
  clearTimeout(reopen);
  until = end;
  const closed = until > Date.now();
  notice();
  $('chat-input').disabled = closed;
  $('chat-send').disabled = closed;
  $('chat-timeout').hidden = !closed;
  show('chat-timeout', closed
    ? `A moderator has stopped you writing and speaking for now${reason ? `: ${reason}` : ''}. You can write again at ${clock(until)}.`
    : '');
  if (closed) reopen = setTimeout(() => timedOut(0, null), until - Date.now() + 500);
  redraw();
}

function warned(note) {
  notice();
  $('chat-warning').hidden = !note;
  $('chat-warning-read').hidden = !note;
  show('chat-warning', note ? `A moderator warned you: ${note}` : '');
  redraw();
}

function supervised(info) {
  notice();
  $('chat-supervised').hidden = !info;
  if (info) {
    const guardian = info.guardian || 'the administrators';
    const others = info.contacts.length ? ` and ${info.contacts.join(', ')}` : '';
    const quiet = quietWords(info.quiet_hours);
    show('chat-supervised', `Your account is looked after by ${guardian}. You can write privately to ${guardian}${others}.`
      + (quiet ? ` From ${quiet.replace(' to ', ' until ')} you cannot send messages (quiet hours).` : ''));
  }
  redraw();
}

// Forgets what was shown for another signed-in person, and shows a timeout running when they
// signed in (`timedOutUntil`, Unix ms, from their session).
export function standingFor(username, timedOutUntil) {
  if (username === me) return;
  me = username;
  timedOut(timedOutUntil || 0, null);
  warned(null);
  supervised(null);
  supervisionOf(null).then((info) => {
    if (username === me) supervised(info);
  });
}

export function initStanding() {
  on(Event.chat, ({ kind, data }) => {
    if (kind === 'timed_out') timedOut(data.until, data.reason);
    else if (kind === 'warned') warned(data.note);
    else if (kind === 'supervision_changed' && data.username === me) supervised(data);
    else if (kind === 'supervision_ended' && data.username === me) supervised(null);
  });
}
