// Rich chat in the family app (issue 16), a part of the client GUI test (client.mjs runs it
// after the direct-message step, with the member in #general, a direct conversation between
// the member and the host, and `itc` as cousin):
// - the member drops a picture (a PNG made here) on the chat, the way the page receives a drop;
//   the host sees its thumbnail, opens it full size, and the full picture's size is the original's;
// - a file from itc shows its name and size, and the member saves it to the Downloads folder,
//   byte for byte;
// - reactions: itc's shows in both apps, the member's from the picker reaches itc; the member
//   takes it back by pressing it;
// - a thread: the host replies in the picture's thread, itc reads it and answers mentioning
//   grandma; the member sees the reply count, the mention in its Mentions list and a desktop
//   notification for it;
// - search finds a message with its words highlighted (as <mark>, not markup), and the result
//   opens its conversation;
// - a link preview: a page served by the test on an "internet" host (a network namespace of
//   its own, joined to the test's namespace by a veth pair with public-looking addresses,
//   since the server refuses loopback and private addresses by design) shows its card with
//   the page's title in both apps, and itc sees the title too. This needs the test's own
//   network namespace (scripts/test-client makes one when run as root); without it the step
//   says it is skipped.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { TIMEOUT_MS, sleep, step } from './webdriver.mjs';

const PICTURE_WIDTH = 300;
const PICTURE_HEIGHT = 200;
const SITE_NET = '45.67.9';
const SITE_TITLE = 'The family picnic page';
const NETNS_LOCK = '/tmp/iptincan-netns-tests.lock';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A PNG of `width` × `height` pixels: a colour gradient (8-bit RGB).
function gradientPng(width, height) {
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'ascii');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y += 1) {
    const row = y * (1 + width * 3);
    for (let x = 0; x < width; x += 1) {
      rows[row + 1 + x * 3] = (x * 255) / width;
      rows[row + 2 + x * 3] = (y * 255) / height;
      rows[row + 3 + x * 3] = 128;
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

// Page script: the id of the last message in #general whose text includes arguments[0]
// (or, with arguments[1], that holds an element matching it).
const MESSAGE_ID = "const m = [...document.querySelectorAll('#chat-messages li.message:not(.pending)')]" +
  '.filter((li) => li.textContent.includes(arguments[0]) && (!arguments[1] || li.querySelector(arguments[1])));' +
  'return m.length ? m[m.length - 1].dataset.id : null;';
const IN_MESSAGE = (id, css) => `document.querySelector('#chat-messages li.message[data-id="${id}"] ${css}')`;

// The test's network namespace is its own when it holds nothing but loopback.
function ownNamespace() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).trim().split('\n');
  return links.length === 1 && links[0].includes(' lo:');
}

// The "internet" host: a namespace with one page, reached from the test's namespace (where
// the server runs) over a veth pair. Answers its page's URL and a function that removes it.
async function startSite(work) {
  // A share of the machine, as the engine's namespace tests take (tests/common/netns.rs).
  // One process (flock -F execs the shell, which execs sleep), so that killing it frees the lock
  // and leaves no pipe open behind.
  const lock = spawn('flock', ['-F', '-s', '-w', '600', NETNS_LOCK, 'sh', '-c', 'echo held; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    lock.stdout.once('data', resolve);
    lock.once('exit', (code) => reject(new Error(`the namespace lock was not had (${code})`)));
  });
  lock.stdout.destroy();
  const ns = `itc-gui-site-${process.pid}`;
  const dir = join(work, 'site');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'picnic.html'), `<html><head><title>${SITE_TITLE}</title>`
    + '<meta name="description" content="Bring a blanket and a cake."></head><body>Picnic</body></html>');
  const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });
  let server = null;
  const stop = () => {
    if (server) server.kill();
    spawnSync('ip', ['link', 'del', 'gui-site0']);
    spawnSync('ip', ['netns', 'del', ns]);
    lock.kill();
  };
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', 'gui-site0', 'type', 'veth', 'peer', 'name', 'gui-site1', 'netns', ns);
    ip('addr', 'add', `${SITE_NET}.1/24`, 'dev', 'gui-site0');
    ip('link', 'set', 'gui-site0', 'up');
    ip('-n', ns, 'addr', 'add', `${SITE_NET}.2/24`, 'dev', 'gui-site1');
    ip('-n', ns, 'link', 'set', 'gui-site1', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    server = spawn('ip', ['netns', 'exec', ns, 'python3', '-m', 'http.server', '80', '--bind', `${SITE_NET}.2`, '--directory', dir],
      { stdio: 'ignore' });
    const url = `http://${SITE_NET}.2/picnic.html`;
    const deadline = Date.now() + TIMEOUT_MS;
    while (spawnSync('curl', ['-fs', '-o', '/dev/null', url]).status !== 0) {
      if (Date.now() > deadline) throw new Error('the test site did not answer');
      await sleep(200);
    }
    return { url, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

// `host`, `member`: WebDriver sessions; `itc(...args)` runs itc as cousin;
// `notifications()` (the member's), `work` (the test's folder), `home(role)` (a role's home).
export async function richChat({ host, member, itc, notifications, work, home }) {
  let pictureId;
  await step('rich chat: the member drops a picture on the chat; the host sees its thumbnail and opens it full size', async () => {
    await host.click('#chat-channels button.conversation[data-name="general"]');
    await host.until("the host's #general", "return document.getElementById('chat-title').textContent === '#general';");
    const png = gradientPng(PICTURE_WIDTH, PICTURE_HEIGHT);
    await member.script(
      "const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));" +
      "const drop = new DataTransfer(); drop.items.add(new File([bytes], 'garden.png', { type: 'image/png' }));" +
      "const target = document.querySelector('#chat .chat-main');" +
      "target.dispatchEvent(new DragEvent('dragover', { dataTransfer: drop, bubbles: true, cancelable: true }));" +
      "target.dispatchEvent(new DragEvent('drop', { dataTransfer: drop, bubbles: true, cancelable: true })); return true;",
      png.toString('base64'));
    pictureId = await host.until('the picture message at the host', MESSAGE_ID, 'grandma', 'button.picture img.thumbnail');
    const thumbnail = await host.until('the thumbnail drawn',
      `const i = ${IN_MESSAGE(pictureId, 'img.thumbnail')}; return i && i.src.startsWith('data:image/png') && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null;`);
    if (Math.max(...thumbnail) > 256 || thumbnail[0] >= PICTURE_WIDTH) throw new Error(`the thumbnail is ${thumbnail.join(' × ')}`);
    await member.until('the upload done at the member', "return !document.querySelector('#chat-uploads li') && " +
      `${IN_MESSAGE(pictureId, 'img.thumbnail')} !== null;`);
    await host.script(`${IN_MESSAGE(pictureId, 'button.picture')}.click(); return true;`);
    const full = await host.until('the full picture',
      "const i = document.getElementById('picture-full'); return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null;");
    if (full[0] !== PICTURE_WIDTH || full[1] !== PICTURE_HEIGHT) throw new Error(`the full picture is ${full.join(' × ')}`);
    await host.screenshot('host-picture.png');
    await host.click('#picture-close');
    await host.until('the picture closed', "return !document.getElementById('picture-viewer');");
  });

  await step('rich chat: a file from itc shows its name and size; the member saves it in Downloads', async () => {
    const notes = join(work, 'itc', 'recipe notes.txt');
    const text = `Grandma's cake: ${'flour, eggs, sugar. '.repeat(200)}`;
    writeFileSync(notes, text);
    itc('upload', 'general', notes);
    const id = await member.until('the file at the member', MESSAGE_ID, 'recipe notes.txt', '.file button.save');
    const shown = await member.script(`return ${IN_MESSAGE(id, '.file')}.textContent;`);
    if (!shown.includes('recipe notes.txt') || !shown.includes('kB')) throw new Error(`the file shows as "${shown}"`);
    await member.script(`${IN_MESSAGE(id, '.file button.save')}.click(); return true;`);
    await member.until('the saved note', `return ${IN_MESSAGE(id, '.file [role=status]')}.textContent.startsWith('Saved');`);
    const saved = join(home('member'), 'Downloads', 'recipe notes.txt');
    if (!existsSync(saved) || readFileSync(saved, 'utf8') !== text) throw new Error(`${saved} is missing or differs`);
  });

  await step('rich chat: reactions both ways between the app and itc, live', async () => {
    itc('react', pictureId, '👍');
    for (const app of [member, host]) {
      await app.until('itc\'s reaction', `const r = ${IN_MESSAGE(pictureId, '.reaction[data-emoji="👍"]')}; return r && r.textContent.includes('1') && r.title.includes('cousin');`);
    }
    await member.script(`${IN_MESSAGE(pictureId, 'button.react')}.click(); return true;`);
    await member.script(`${IN_MESSAGE(pictureId, '.emoji-picker button[data-emoji="🎉"]')}.click(); return true;`);
    await host.until('the member\'s reaction at the host', `const r = ${IN_MESSAGE(pictureId, '.reaction[data-emoji="🎉"]')}; return r && r.title.includes('grandma');`);
    const deadline = Date.now() + TIMEOUT_MS;
    while (!itc('history', 'general').split('\n').some((line) => line.includes(`#${pictureId} `) && line.includes('🎉 1'))) {
      if (Date.now() > deadline) throw new Error(`itc does not see the member's reaction: ${itc('history', 'general')}`);
      await sleep(250);
    }
    await member.screenshot('member-reactions.png');
    // Pressing one's own reaction takes it back.
    await member.script(`${IN_MESSAGE(pictureId, '.reaction.mine[data-emoji="🎉"]')}.click(); return true;`);
    await host.until('the reaction taken back at the host', `return ${IN_MESSAGE(pictureId, '.reaction[data-emoji="🎉"]')} === null;`);
  });

  await step('rich chat: a thread round trip (app → itc → app) with a mention that notifies the member', async () => {
    await host.script(`${IN_MESSAGE(pictureId, 'button.reply-thread')}.click(); return true;`);
    await host.until('the thread panel', "return document.getElementById('chat-panel').dataset.view === 'thread' && document.getElementById('thread-input');");
    await host.type('#thread-input', 'Lovely garden, Grandma');
    await host.click('#thread-send');
    await host.until('the reply in the panel', "return document.getElementById('thread-replies').textContent.includes('Lovely garden, Grandma');");
    const deadline = Date.now() + TIMEOUT_MS;
    while (!itc('thread', pictureId, '--history').includes('Lovely garden, Grandma')) {
      if (Date.now() > deadline) throw new Error('itc does not see the host\'s reply');
      await sleep(250);
    }
    // The member looks at its direct conversation, so the mention in #general notifies.
    await member.click('#chat-directs button.conversation');
    const before = notifications().length;
    // New mentions so far (the host's direct message mentioned grandma too).
    const mentions = Number(await member.script("const b = document.querySelector('#mentions-open .unread'); return b ? b.textContent : '0';"));
    itc('thread', pictureId, 'Thank you @grandma for the picture');
    await host.until('itc\'s reply in the open thread', "return document.getElementById('thread-replies').textContent.includes('Thank you @grandma');");
    await host.until('the reply count in the channel', `const s = ${IN_MESSAGE(pictureId, '.thread-summary')}; return s && s.textContent.startsWith('2 replies');`);
    await member.until('a new mention', "const b = document.querySelector('#mentions-open .unread'); return b && b.textContent === arguments[0];",
      String(mentions + 1));
    const until = Date.now() + TIMEOUT_MS;
    while (!notifications().slice(before).some((n) => n.summary === 'cousin mentioned you' && n.body.includes('Thank you @grandma'))) {
      if (Date.now() > until) throw new Error(`no mention notification: ${JSON.stringify(notifications().slice(before))}`);
      await sleep(250);
    }
    await member.click('#mentions-open');
    await member.until('the mention in the list', "return document.getElementById('mentions-list').textContent.includes('Thank you @grandma');");
    await member.click('#mentions-list button.result-open');
    await member.until('the thread opened from the mention', "return document.getElementById('chat-panel').dataset.view === 'thread' " +
      "&& document.getElementById('thread-replies').textContent.includes('Lovely garden, Grandma');");
    await member.until('the reply count in the channel', `const s = ${IN_MESSAGE(pictureId, '.thread-summary')}; return s && s.textContent.startsWith('2 replies');`);
    await host.screenshot('host-thread.png');
  });

  await step('rich chat: search finds a message, highlighted safely, and opens its conversation', async () => {
    itc('send', 'general', 'The <b>zeppelin</b> lands on Saturday');
    await member.until('the message at the member', MESSAGE_ID, 'zeppelin');
    await member.click('#chat-directs button.conversation');
    await member.until('the direct conversation', "return document.getElementById('chat-title').textContent === 'chatter';");
    await member.type('#search-input', 'zeppel*');
    await member.click('#search-submit');
    const found = await member.until('a search result',
      "const r = document.querySelector('#search-results li.result'); return r ? { text: r.textContent, marks: [...r.querySelectorAll('mark')].map((m) => m.textContent), bold: r.querySelector('b') !== null } : null;");
    if (!found.marks.includes('zeppelin') || found.bold || !found.text.includes('<b>')) throw new Error(`the result: ${JSON.stringify(found)}`);
    await member.click('#search-results button.result-open');
    await member.until('#general with the found message', "return document.getElementById('chat-title').textContent === '#general' " +
      "&& document.querySelector('#chat-messages li.message.found')?.textContent.includes('zeppelin');");
    await member.screenshot('member-search.png');
  });

  await step('rich chat: a link to a page on an "internet" host shows its preview card in both apps', async () => {
    if (!ownNamespace()) {
      console.log('# skipped: the preview needs the test\'s own network namespace (scripts/test-client as root)');
      return;
    }
    const site = await startSite(work);
    try {
      await member.type('#chat-input', `Details here: ${site.url}`);
      await member.click('#chat-send');
      for (const app of [host, member]) {
        await app.until('the preview card', "return [...document.querySelectorAll('#chat-messages .preview-card .preview-title')]" +
          '.some((t) => t.textContent === arguments[0]);', SITE_TITLE);
      }
      if (!itc('history', 'general').includes(`[${SITE_TITLE}]`)) throw new Error('itc does not see the preview');
      await host.screenshot('host-preview.png');
    } finally {
      site.stop();
    }
  });
}
