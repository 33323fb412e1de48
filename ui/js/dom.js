// The element helper: every view builds its DOM through these. Text always goes in as text
// (`textContent`, text nodes), never as HTML, so a name or message holding markup or script
// is shown as typed and never run. There is deliberately no way to set `innerHTML` here.

export const $ = (id) => document.getElementById(id);

// `el('button', { type: 'button', class: 'x', dataset: { id: 1 }, onclick: fn }, 'Text', child)`.
// Attributes starting with `on` become listeners; `class`, `dataset`, `hidden`, `disabled` and
// `value` are set as properties; the rest as attributes. Children are nodes or strings (as text).
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (['hidden', 'disabled', 'value', 'checked'].includes(name)) node[name] = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

// Sets an element's text (by id or element).
export function show(target, text) {
  const node = typeof target === 'string' ? $(target) : target;
  node.textContent = text;
}

export const listItem = (text) => el('li', {}, text);

// Fills a <select> with one option per person (their name, or `label(person)`), keeping the
// person chosen before when they are still there.
export function choosePeople(select, people, label = (person) => person.username) {
  const chosen = select.value;
  select.replaceChildren(...people.map((person) => el('option', { value: person.username }, label(person))));
  if (people.some((person) => person.username === chosen)) select.value = chosen;
}

// A button that asks once more, so that one stray click does nothing: the first click arms
// it (`armedText`, or its answer when it is a function: the words can name what is chosen
// now), the second runs `action`, after which it is back as it was.
export function confirmingButton(text, armedText, label, action) {
  const button = el('button', { type: 'button', 'aria-label': label }, text);
  button.addEventListener('click', async () => {
    if (button.dataset.armed !== 'yes') {
      button.dataset.armed = 'yes';
      button.textContent = typeof armedText === 'function' ? armedText() : armedText;
      return;
    }
    button.disabled = true;
    await action();
    button.disabled = false;
    button.dataset.armed = '';
    button.textContent = text;
  });
  return button;
}

// A QR picture from the engine's SVG text, as an `img` source (never inserted as markup).
export const svgSource = (svg) => `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
