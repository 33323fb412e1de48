// Chat markdown, drawn safely: **bold**, *italic* (or _italic_), ~~strike-through~~,
// `inline code`, and ``` code blocks ``` (with an optional language after the fence) with
// simple highlighting. The result is DOM nodes built from text: nothing in a message is ever
// parsed as HTML, so markup or script in a message shows as typed.

import { el } from './dom.js';

const INLINE = [
  { open: '`', close: '`', tag: 'code', raw: true },
  { open: '**', close: '**', tag: 'strong' },
  { open: '~~', close: '~~', tag: 's' },
  { open: '*', close: '*', tag: 'em' },
  { open: '_', close: '_', tag: 'em' },
];

// Inline spans of one paragraph as nodes (nested spans allowed, except inside code).
export function inline(text) {
  const nodes = [];
  let plain = '';
  let i = 0;
  outer: while (i < text.length) {
    for (const rule of INLINE) {
      if (!text.startsWith(rule.open, i)) continue;
      const start = i + rule.open.length;
      const end = text.indexOf(rule.close, start + 1);
      // Needs content, and no space just inside the markers (so "2 * 3 * 4" stays as typed).
      if (end < 0 || (!rule.raw && (/\s/.test(text[start]) || /\s/.test(text[end - 1])))) continue;
      // Underscores inside words (snake_case, __dunder__) stay as typed.
      if (rule.open === '_' && (/\w/.test(text[i - 1] || '') || /\w/.test(text[end + 1] || ''))) continue;
      if (plain) nodes.push(document.createTextNode(plain));
      plain = '';
      const inner = text.slice(start, end);
      nodes.push(el(rule.tag, {}, ...(rule.raw ? [inner] : inline(inner))));
      i = end + rule.close.length;
      continue outer;
    }
    plain += text[i];
    i += 1;
  }
  if (plain) nodes.push(document.createTextNode(plain));
  return nodes;
}

const KEYWORDS = new Set(('as async await break case catch class const continue def do else enum export extends false fn for ' +
  'from func function if impl import in interface let loop match mod mut new nil None null pub return self Self ' +
  'static struct super switch this throw trait true try type use var where while with yield').split(' '));
const TOKEN = /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/)|("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|(\b\d[\d_.]*\b)|([A-Za-z_]\w*)/g;

// A code block's text with comments, strings, numbers and keywords in spans of their own.
export function highlight(code) {
  const nodes = [];
  let last = 0;
  for (const match of code.matchAll(TOKEN)) {
    const [token, comment, string, number, word] = match;
    const kind = comment ? 'comment' : string ? 'string' : number ? 'number' : KEYWORDS.has(word) ? 'keyword' : null;
    if (!kind) continue;
    if (match.index > last) nodes.push(document.createTextNode(code.slice(last, match.index)));
    nodes.push(el('span', { class: `tok-${kind}` }, token));
    last = match.index + token.length;
  }
  if (last < code.length) nodes.push(document.createTextNode(code.slice(last)));
  return nodes;
}

// A whole message as a fragment: code blocks, and lines of inline markdown between them.
export function render(body) {
  const fragment = document.createDocumentFragment();
  const parts = body.split(/```/);
  parts.forEach((part, index) => {
    const isCode = index % 2 === 1 && index < parts.length - 1;
    if (isCode) {
      const newline = part.indexOf('\n');
      const language = newline > 0 ? part.slice(0, newline).trim() : '';
      const code = newline >= 0 && /^[\w+#-]*$/.test(language) ? part.slice(newline + 1) : part;
      fragment.append(el('pre', { class: 'code', dataset: { language } },
        el('code', {}, ...highlight(code.replace(/\n$/, '')))));
      return;
    }
    const text = index % 2 === 1 ? `\`\`\`${part}` : part; // an unclosed fence stays as typed
    const lines = text.replace(/^\n|\n$/g, '').split('\n');
    if (lines.length === 1 && lines[0] === '') return;
    const paragraph = el('p');
    lines.forEach((line, n) => {
      if (n) paragraph.append(el('br'));
      paragraph.append(...inline(line));
    });
    fragment.append(paragraph);
  });
  return fragment;
}
