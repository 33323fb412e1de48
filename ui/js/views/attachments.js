// Files and pictures in the chat: the attach button and dropping files on the chat (uploaded by
// the app, with a progress bar, then sent as a message carrying them), a picture's thumbnail
// under its message and the picture full size in the app, and a "Save" button for other files
// (saved in the Downloads folder). Pictures are fetched by the app into its cache and shown
// from `data:` sources; a file's name is only ever shown as text.

import { $, el, show } from '../dom.js';
import { Cmd, Event, call, on } from '../commands.js';
import { bytes } from '../format.js';

const SHOWN_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
const THUMBNAIL_PIXELS = 256;
const sources = new Map(); // `${file id}:${thumbnail}` → Promise of a data: URL
let context = { current: () => null, upsert: () => {} };
let transfers = 0;

const dataUrl = (buffer, type) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => resolve(reader.result);
  reader.onerror = () => reject(reader.error);
  reader.readAsDataURL(new Blob([buffer], { type }));
});

// A picture (or its thumbnail, always a PNG) as a `data:` URL, fetched once.
export function pictureSource(fileId, thumbnail, type) {
  const key = `${fileId}:${thumbnail}`;
  if (!sources.has(key)) {
    const shownType = thumbnail ? 'image/png' : (SHOWN_TYPES.includes(type) ? type : 'image/png');
    const source = call(Cmd.picture, { fileId, thumbnail }).then((buffer) => dataUrl(buffer, shownType));
    source.catch(() => sources.delete(key));
    sources.set(key, source);
  }
  return sources.get(key);
}

// The picture full size, over the chat; Escape, a click or "Close" closes it.
function showFull(file) {
  const image = el('img', { id: 'picture-full', alt: file.name });
  const close = () => viewer.remove();
  const viewer = el('div', { id: 'picture-viewer', class: 'picture-viewer', role: 'dialog', 'aria-label': file.name, tabindex: '-1',
    onclick: (event) => { if (event.target === viewer) close(); },
    onkeydown: (event) => { if (event.key === 'Escape') close(); } },
  el('div', { class: 'picture-head' }, el('span', {}, file.name), el('span', { class: 'muted' }, ` ${file.image.width} × ${file.image.height}, ${bytes(file.size)}`),
    el('button', { type: 'button', class: 'small', onclick: () => saveFile(file, status) }, 'Save'),
    el('button', { type: 'button', id: 'picture-close', class: 'small', onclick: close }, 'Close')),
  el('p', { class: 'muted', role: 'status' }, 'Loading the picture…'), image);
  const status = viewer.querySelector('p');
  $('picture-viewer')?.remove();
  document.body.append(viewer);
  viewer.focus();
  pictureSource(file.file_id, false, file.content_type).then((source) => {
    image.src = source;
    show(status, '');
  }, (err) => show(status, `The picture could not be opened: ${err}`));
}

async function saveFile(file, status) {
  show(status, 'Saving…');
  const saved = await call(Cmd.saveFile, { fileId: file.file_id }).catch((err) => {
    show(status, `Not saved: ${err}`);
    return null;
  });
  if (saved) show(status, `Saved in your Downloads folder as ${saved.split(/[\\/]/).pop()}.`);
}

function pictureItem(file) {
  const scale = Math.min(1, THUMBNAIL_PIXELS / Math.max(file.image.width, file.image.height, 1));
  const image = el('img', { class: 'thumbnail', alt: `Picture: ${file.name}`,
    width: String(Math.max(1, Math.round(file.image.width * scale))), height: String(Math.max(1, Math.round(file.image.height * scale))) });
  pictureSource(file.file_id, true).then((source) => { image.src = source; }, () => { image.alt = `${file.name} (could not be loaded)`; });
  return el('button', { type: 'button', class: 'picture', dataset: { file: String(file.file_id) },
    title: 'Open the picture full size', onclick: () => showFull(file) }, image);
}

function fileItem(file) {
  const status = el('span', { class: 'muted small', role: 'status' });
  return el('div', { class: 'file', dataset: { file: String(file.file_id) } },
    el('span', { class: 'file-name' }, file.name), el('span', { class: 'muted' }, ` ${bytes(file.size)} `),
    el('button', { type: 'button', class: 'small save', onclick: () => saveFile(file, status) }, 'Save'), ' ', status);
}

// A message's files: pictures as thumbnails, other files with their name, size and "Save".
export function attachmentList(message) {
  if (!message.attachments?.length) return null;
  return el('div', { class: 'attachments' }, ...message.attachments.map((file) => (file.image ? pictureItem(file) : fileItem(file))));
}

// Uploads one file (`{ name, path }` from the desktop, or a page `File`) to the conversation on
// screen and sends a message carrying it.
async function sendFile(file) {
  const channelId = context.current();
  if (channelId === null) return;
  transfers += 1;
  const transfer = `upload-${transfers}`;
  const bar = el('progress', { max: '1', value: '0' });
  const row = el('li', { class: 'upload', dataset: { transfer } }, el('span', {}, `Sending ${file.name}… `), bar);
  $('chat-uploads').append(row);
  const stop = await on(Event.fileProgress, (progress) => {
    if (progress.transfer === transfer && progress.size) bar.value = progress.done / progress.size;
  });
  try {
    const stored = file.path
      ? await call(Cmd.uploadPath, { channelId, path: file.path, transfer })
      : await call(Cmd.upload, new Uint8Array(await file.arrayBuffer()), {
        headers: { 'x-channel-id': String(channelId), 'x-name': encodeURIComponent(file.name), 'x-type': file.type || '', 'x-transfer': transfer },
      });
    // Through the session's outbox, as typed messages go: sent again after a reconnection
    // until stored, and stored once.
    const reply = await call(Cmd.send, { channelId, body: '', attachments: [stored.file_id] });
    context.upsert(reply.data);
    row.remove();
  } catch (err) {
    row.replaceChildren(el('span', { class: 'error' }, `${file.name} could not be sent: ${err}`),
      el('button', { type: 'button', class: 'quiet small', onclick: () => row.remove() }, 'OK'));
  } finally {
    stop();
  }
}

export const sendFiles = (files) => Promise.all([...files].map(sendFile));

// `current()` is the conversation on screen; `upsert(message)` draws a sent message.
export function initAttachments(current, upsert) {
  context = { current, upsert };
  const input = el('input', { type: 'file', id: 'chat-file', multiple: true, hidden: true,
    onchange: () => { sendFiles(input.files).finally(() => { input.value = ''; }); } });
  const attach = el('button', { type: 'button', id: 'chat-attach', class: 'quiet', title: 'Send a picture or a file',
    onclick: () => input.click() }, 'Attach…');
  $('chat-form').prepend(input, attach);
  $('chat-form').after(el('ul', { id: 'chat-uploads', class: 'uploads', 'aria-live': 'polite' }));
  // Files dropped on the chat: the page's own drop event, and the desktop's (with paths).
  const target = document.querySelector('#chat .chat-main');
  target.addEventListener('dragover', (event) => {
    if (![...(event.dataTransfer?.types || [])].includes('Files')) return;
    event.preventDefault();
    target.classList.add('dropping');
  });
  target.addEventListener('dragleave', () => target.classList.remove('dropping'));
  target.addEventListener('drop', (event) => {
    target.classList.remove('dropping');
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    sendFiles(event.dataTransfer.files);
  });
  on(Event.dragDrop, (drop) => {
    if ($('chat').hidden || !drop?.paths?.length) return;
    sendFiles(drop.paths.map((path) => ({ path, name: path.split(/[\\/]/).pop() })));
  });
}

