// What the admin panel's sections share: asking the server one control-protocol request
// through the app's one generic command (`chat_ask`, docs/protocol.md §18 and §20), each
// section's status and error lines, and the few form pieces they repeat. Server text always
// goes in as text (dom.js).

import { el, show } from '../../dom.js';
import { Cmd, call } from '../../commands.js';

// A section's two lines: what was done (`say`), and what went wrong (filled by `ask`).
export function lines(prefix) {
  const message = el('p', { id: `${prefix}-message`, class: 'admin-message', role: 'status' });
  const error = el('p', { id: `${prefix}-error`, class: 'error', role: 'alert' });
  return {
    nodes: [message, error],
    error,
    say(text) {
      show(message, text);
      show(error, '');
    },
  };
}

// Asks the server `op` with `args`; the answer's `data` (`true` for a bare `ok`), or null with
// the server's words in the section's error line.
export async function ask(status, op, args = {}) {
  show(status.error, '');
  try {
    const reply = await call(Cmd.ask, { request: { op, args } });
    return reply.data === undefined ? true : reply.data;
  } catch (err) {
    show(status.error, String(err));
    return null;
  }
}

// A button that copies the text of `node` (a secret, an invite) to the clipboard.
export function copyButton(status, node, text = 'Copy', id = null) {
  return el('button', {
    id,
    type: 'button',
    onclick: () => call(Cmd.copyText, { text: node.textContent }).then(() => status.say('Copied.'), (err) => show(status.error, String(err))),
  }, text);
}

// A labelled control: `<label for=id>text</label>` then the control (which gets the id).
export function field(text, control) {
  return [el('label', { for: control.id }, text), control];
}

// A `select` of `[value, text]` pairs.
export function choices(id, pairs, chosen) {
  const select = el('select', { id }, ...pairs.map(([value, text]) => el('option', { value: String(value) }, text)));
  if (chosen !== undefined) select.value = String(chosen);
  return select;
}

// An optional reason or note as the protocol wants it: trimmed, absent when empty.
export const optional = (input) => input.value.trim() || null;

// Lengths of time offered for timeouts, bans and expiries, in seconds.
export const MINUTE = 60;
export const HOUR = 3600;
export const DAY = 86400;

// "HH:MM" (24-hour, local time) of a Unix-millisecond time.
export function clock(ms) {
  const date = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}`;
}
