// A link's preview card under its message: the page's title and description as the server
// fetched them (shown as text), and its picture only when the member asks for it, since the
// picture comes from the site itself (the server fetches pages, never pictures) and showing it
// tells that site this computer's address. Never a clickable link: the app does not browse.

import { el } from '../dom.js';

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export function previewCard(preview) {
  if (!preview) return null;
  const card = el('div', { class: 'preview-card', dataset: { url: preview.url } },
    preview.title ? el('p', { class: 'preview-title' }, preview.title) : null,
    preview.description ? el('p', { class: 'preview-description' }, preview.description) : null,
    el('p', { class: 'preview-site muted small' }, hostOf(preview.url)));
  if (preview.image && preview.image.startsWith('https://')) {
    const button = el('button', { type: 'button', class: 'quiet small', title: `The picture is loaded from ${hostOf(preview.image)}`,
      onclick: () => button.replaceWith(el('img', { class: 'preview-image', alt: preview.title || 'The page\'s picture', src: preview.image })) },
    `Show the picture (from ${hostOf(preview.image)})`);
    card.append(button);
  }
  return card;
}
