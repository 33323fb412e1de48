// End-to-end test of the family app: two real apps (a host and a family member, each with its
// own home, D-Bus session, credential store and notification daemon) and the `itc` command
// line as a third member, all on one server (the host's) on loopback.
//
// Story: the host answers the first question with "host", sets up and makes invites; `itc`
// joins with one; the member's app gets the other as an itc:// link handed over the way the
// OS does when a link is clicked (a second start of the app with the link as its argument,
// which the running app receives through its single-instance channel), asks only for a name
// and password, and lands in #general. Messages go every way; markdown renders (bold, italic,
// strike-through, code, a highlighted code block); an HTML/script payload shows as text and
// runs nothing; the member edits and deletes its own message; a status shows at the host;
// the host's admin panel times the member out, warns, makes an access token that curl uses,
// sets slow mode, and its audit log lists it all, while the member's app shows no panel
// (admin_panel.mjs);
// the host adds a voice channel, the member sees itc in it and joins the call, sees itc talking
// (a tone) and turns it down to silence (per-person volume, measured at its speaker), mutes
// and turns the sound off, which the host sees, and leaves, its sound a headless PulseAudio;
// a direct message raises an unread count and a desktop notification (read from the member's
// notification daemon), and the member calls the host from it (a 1:1 call the host sees);
// rich chat (rich_chat.mjs: a dropped picture, a saved file, reactions, a thread, a mention,
// search, a link preview); the
// host's server is stopped, the member's app shows "reconnecting", a message typed meanwhile
// is sent once the server is back, and is stored exactly once; the member's app, restarted,
// is still signed in and pages back through history; the session token is in the credential
// store, not in a file.
//
// Run by scripts/test-client. Environment: HOST_DRIVER and MEMBER_DRIVER (tauri-driver
// URLs), TRAY_APP, ITC_BIN, ARTIFACTS, WORK (each role's home and session under WORK/ROLE).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session, TIMEOUT_MS, need, run, sleep, step } from './webdriver.mjs';
import { adminPanelSteps } from './admin_panel.mjs';
import { richChat } from './rich_chat.mjs';

const APP = need('TRAY_APP');
const ITC = need('ITC_BIN');
const ARTIFACTS = need('ARTIFACTS');
const WORK = need('WORK');
const HOST_PASSWORD = 'host-password-1';
const MEMBER_PASSWORD = 'grandma-password-1';
const ITC_PASSWORD = 'itc-password-1';

// A role's environment as its in-session helper wrote it (home, D-Bus session).
function roleEnv(role) {
  const env = { ...process.env };
  for (const line of readFileSync(join(WORK, role, 'env'), 'utf8').split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

// `itc` as the third member (its own home and known-hosts file).
let itcServer = null;
const itcEnv = () => ({
  ...process.env, HOME: join(WORK, 'itc'), ITC_KNOWN_HOSTS: join(WORK, 'itc', 'known_hosts'),
  ITC_USER: 'cousin', ITC_PASSWORD, ITC_SERVER: itcServer,
});
function itc(...args) {
  return execFileSync(ITC, args, { env: itcEnv(), encoding: 'utf8', timeout: 30000 });
}

// The level (RMS, dBFS) of one second of what `role`'s app plays on its speaker (its
// PulseAudio's null sink, read from the sink's monitor). It counts samples, not wall-clock
// time: `head` stops parec after exactly one second of audio, however long parec took to start
// on a loaded machine (at most 10 s).
const SECOND_BYTES = 48000 * 2;
function speakerLevel(role) {
  const recorded = spawnSync('sh', ['-c', 'timeout 10 parec --device=speaker.monitor --raw --format=s16le '
    + `--rate=48000 --channels=1 --latency-msec=20 | head -c ${SECOND_BYTES}`], { env: roleEnv(role), maxBuffer: 1 << 24 });
  const pcm = recorded.stdout || Buffer.alloc(0);
  if (pcm.length < SECOND_BYTES) throw new Error(`parec recorded ${pcm.length / 2} of 48000 samples: ${recorded.stderr}`);
  let sum = 0;
  const samples = SECOND_BYTES / 2;
  for (let i = 0; i < samples; i += 1) sum += (pcm.readInt16LE(i * 2) / 32768) ** 2;
  return 10 * Math.log10(sum / samples + 1e-12);
}

// A WAV file (48 kHz mono 16-bit, as `itc voice play` takes) of a 440 Hz tone, `seconds` long.
function toneWav(seconds) {
  const samples = 48000 * seconds;
  const wav = Buffer.alloc(44 + samples * 2);
  wav.write('RIFF', 0);
  wav.writeUInt32LE(36 + samples * 2, 4);
  wav.write('WAVEfmt ', 8);
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(48000, 24);
  wav.writeUInt32LE(96000, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36);
  wav.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i += 1) wav.writeInt16LE(Math.round(10000 * Math.sin((2 * Math.PI * 440 * i) / 48000)), 44 + i * 2);
  return wav;
}

function notifications() {
  const file = join(ARTIFACTS, 'member-notifications.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

// Every file under `dir` (the member's home) that holds `secret`.
function filesHolding(dir, secret) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path, { throwIfNoEntry: false });
    if (!info) continue;
    if (info.isDirectory()) found.push(...filesHolding(path, secret));
    else if (info.isFile() && info.size < 50_000_000 && readFileSync(path).includes(secret)) found.push(path);
  }
  return found;
}

// Page script: the text of the last message whose text includes arguments[0], or null.
const MESSAGE_WITH = "const m = [...document.querySelectorAll('#chat-messages li.message:not(.pending)')]" +
  '.filter((li) => li.textContent.includes(arguments[0])); return m.length ? m[m.length - 1].textContent : null;';

async function makeInvite(host, note) {
  await host.type('#invite-note', note);
  await host.click('#invite-create');
  return host.until(`an invite for ${note}`,
    "const t = document.getElementById('invite-text').textContent; " +
    "return !document.getElementById('invite-card').hidden && document.getElementById('invite-list').textContent.includes('For ' + arguments[0]) && t.startsWith('ITC-') ? t : null;", note);
}

async function main() {
  const host = await Session.start('host', need('HOST_DRIVER'), APP, [], ARTIFACTS);
  let member;
  try {
    let memberInvite;
    await step('the host chooses "host", sets up, and makes two invites', async () => {
      await host.until('the first question', "return !document.getElementById('welcome').hidden;");
      await host.click('#choose-host');
      await host.until('the setup form', "return !document.getElementById('setup').hidden;");
      await host.type('#server-name', 'The Test Family');
      await host.type('#admin-password', HOST_PASSWORD);
      await host.type('#admin-password-again', HOST_PASSWORD);
      await host.click('#open-router-ports');
      await host.click('#setup-submit');
      await host.until('the running server', "return document.getElementById('state-badge').textContent === 'Running';");
      memberInvite = await makeInvite(host, 'Grandma');
      const link = await host.text('#invite-link');
      if (link !== `itc://join/${memberInvite}`) throw new Error(`the invite's link is "${link}"`);
      itcServer = await makeInvite(host, 'Cousin');
      await host.screenshot('host-invite.png');
    });

    await step('itc joins as the third member', async () => {
      const out = itc('join', itcServer);
      if (!/cousin/.test(out)) throw new Error(`itc join said: ${out}`);
    });

    await step('the member app opens the itc:// link handed over like a clicked link, and joins in 3 screens', async () => {
      member = await Session.start('member', need('MEMBER_DRIVER'), APP, [], ARTIFACTS);
      await member.until('the first question', "return !document.getElementById('welcome').hidden;");
      await member.screenshot('member-1-welcome.png');
      // The OS starts the app again with the link; the running one receives it and the second exits.
      const second = spawn(APP, [`itc://join/${memberInvite}`], { env: roleEnv('member'), stdio: 'ignore' });
      const exited = new Promise((resolve) => second.on('exit', resolve));
      await member.until('the name and password screen',
        "return !document.getElementById('join-step-account').hidden && document.getElementById('join-server-name').textContent;");
      const code = await Promise.race([exited, sleep(TIMEOUT_MS).then(() => 'still running')]);
      if (code !== 0) throw new Error(`the second start did not hand over and exit (${code})`);
      const server = await member.text('#join-server-name');
      if (server !== 'The Test Family') throw new Error(`joining "${server}"`);
      await member.screenshot('member-2-name.png');
      await member.type('#join-username', 'grandma');
      await member.type('#join-password', MEMBER_PASSWORD);
      await member.type('#join-password-again', MEMBER_PASSWORD);
      await member.click('#join-submit');
      await member.until('#general', "return !document.getElementById('chat').hidden && document.getElementById('chat-title').textContent === '#general';");
      await member.screenshot('member-3-general.png');
    });

    await step('messages go every way between the member, the host and itc', async () => {
      await host.click('#show-chat');
      await host.until("the host's #general", "return !document.getElementById('chat').hidden && document.getElementById('chat-title').textContent === '#general';");
      await member.type('#chat-input', 'Hello from Grandma');
      await member.click('#chat-send');
      await host.until("grandma's message at the host", MESSAGE_WITH, 'Hello from Grandma');
      await host.type('#chat-input', 'Hello Grandma, from the host');
      await host.click('#chat-send');
      await member.until("the host's message at the member", MESSAGE_WITH, 'Hello Grandma, from the host');
      itc('send', 'general', 'Hello all, from itc');
      await member.until("itc's message at the member", MESSAGE_WITH, 'Hello all, from itc');
      await host.until("itc's message at the host", MESSAGE_WITH, 'Hello all, from itc');
      const history = itc('history', 'general');
      for (const text of ['Hello from Grandma', 'Hello Grandma, from the host']) {
        if (!history.includes(text)) throw new Error(`itc's history lacks "${text}": ${history}`);
      }
    });

    await step('markdown renders: bold, italic, strike-through, code, a highlighted code block', async () => {
      await member.type('#chat-input', '**strong words** and *leaning* and ~~gone~~ and `x = 1`');
      await member.click('#chat-send');
      itc('send', 'general', '```rust\nfn main() { let answer = 42; }\n```');
      const found = await host.until('the rendered markdown',
        "const b = [...document.querySelectorAll('#chat-messages .body')];" +
        "const has = (css, text) => b.some((e) => [...e.querySelectorAll(css)].some((n) => n.textContent === text));" +
        "return has('strong', 'strong words') && has('em', 'leaning') && has('s', 'gone') && has('code', 'x = 1')" +
        " && has('pre.code span.tok-keyword', 'fn') && has('pre.code span.tok-number', '42') ? 'yes' : null;");
      if (found !== 'yes') throw new Error('markdown did not render');
      await host.screenshot('host-markdown.png');
    });

    await step('an HTML/script payload is shown as text and runs nothing', async () => {
      const payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>not bold</b>';
      itc('send', 'general', payload);
      const shown = await member.until('the payload as text', MESSAGE_WITH, '<script>');
      if (!shown.includes(payload)) throw new Error(`shown as "${shown}"`);
      const verdict = await member.script(
        "const b = [...document.querySelectorAll('#chat-messages .body')];" +
        "return { elements: b.some((e) => e.querySelector('img, script, b')), pwned: window.__pwned === undefined ? null : window.__pwned };");
      if (verdict.elements || verdict.pwned !== null) throw new Error(`the payload became markup: ${JSON.stringify(verdict)}`);
    });

    await step('the member edits and deletes its own message; the host sees both', async () => {
      await member.type('#chat-input', 'A message with a tpyo');
      await member.click('#chat-send');
      await host.until('the message at the host', MESSAGE_WITH, 'A message with a tpyo');
      const own = "[...document.querySelectorAll('#chat-messages li.message.own')].find((li) => li.textContent.includes(arguments[0]))";
      // The member's own copy is drawn from its send's answer, which may come after the host's event.
      const ownWith = (button) => `const li = ${own}; return li && li.querySelector('button.${button}') ? true : null;`;
      await member.until('the message at the member', ownWith('edit'), 'A message with a tpyo');
      await member.script(`${own}.querySelector('button.edit').click(); return true;`, 'A message with a tpyo');
      await member.type('li.editing textarea', 'A message without a typo');
      await member.click('li.editing button[type=submit]');
      await host.until('the edit at the host',
        "const t = [...document.querySelectorAll('#chat-messages li.message')].map((li) => li.textContent).join('|');" +
        "return t.includes('A message without a typo') && t.includes('(edited)') && !t.includes('tpyo');");
      await member.until('the edit at the member', ownWith('delete'), 'A message without a typo');
      const del = `${own}.querySelector('button.delete')`;
      await member.script(`${del}.click(); return true;`, 'A message without a typo');
      const armed = await member.script(`return ${del}.textContent;`, 'A message without a typo');
      if (armed !== 'Yes, delete it') throw new Error(`after one click Delete says "${armed}"`);
      await member.script(`${del}.click(); return true;`, 'A message without a typo');
      await host.until('the message gone at the host', "return !document.getElementById('chat-messages').textContent.includes('A message without a typo');");
    });

    await step('status and presence: the member sets a status; the host sees it beside an online dot', async () => {
      await member.type('#status-input', 'Knitting');
      await member.click('#status-set');
      await host.until("grandma's status at the host",
        "return [...document.querySelectorAll('#chat-people li.online')].some((li) => li.textContent.includes('grandma') && li.textContent.includes('Knitting'));");
    });

    await adminPanelSteps(host, member, { itc, messageWith: MESSAGE_WITH });

    await step('admin: the host adds a voice channel; the member sees who is in it, joins the call, sees cousin talking and turns cousin down, mutes and turns the sound off (the host sees both), leaves', async () => {
      await host.script("document.getElementById('chat-admin').open = true; return true;");
      await host.type('#admin-channel-name', 'Kitchen');
      await host.click('#admin-channel-voice');
      await host.click('#admin-channel-create');
      await host.until('the new channel', "return document.getElementById('admin-message').textContent.endsWith('is ready.') || document.getElementById('admin-error').textContent;");
      const error = await host.text('#admin-error');
      if (error) throw new Error(`adding a channel: ${error}`);
      const channel = await member.until('the voice channel at the member',
        "const b = [...document.querySelectorAll('#chat-channels button.conversation')].find((x) => x.textContent.includes('(voice)')); return b ? b.dataset.name : null;");
      const recording = spawn(ITC, ['voice', 'record', '--seconds', '30', channel, join(WORK, 'itc', 'heard.wav')], {
        env: itcEnv(),
        stdio: 'ignore',
      });
      await member.click(`#chat-channels button.conversation[data-name="${channel}"]`);
      await member.until('cousin in the voice channel',
        "return !document.getElementById('voice').hidden && !document.getElementById('voice-join').hidden " +
        "&& document.getElementById('voice-people').textContent === 'In this call now: cousin.';");
      // The member joins the call (its sound is a headless PulseAudio) and sees cousin in it.
      await member.click('#voice-join');
      await member.until('the call joined', "return !document.getElementById('voice-safety').hidden " +
        "&& document.getElementById('voice-safety-number').textContent.trim().length > 0 " +
        "&& [...document.querySelectorAll('#voice-members li')].some((li) => li.textContent.startsWith('cousin')) " +
        "|| document.getElementById('voice-error').textContent;");
      const trouble = await member.text('#voice-error');
      if (trouble) throw new Error(`joining the call: ${trouble}`);
      // cousin speaks (a tone) from a second connection: the member's app shows it talking.
      const tone = join(WORK, 'itc', 'tone.wav');
      writeFileSync(tone, toneWav(10));
      const playing = spawn(ITC, ['voice', 'play', channel, tone], { env: itcEnv(), stdio: 'ignore' });
      await member.until('cousin talking',
        "return [...document.querySelectorAll('#voice-members li.talking')].some((li) => li.textContent.startsWith('cousin'));");
      // Per-person volume: cousin turned down to 0 is no longer heard in the member's speaker.
      const loud = speakerLevel('member');
      await member.script("for (const s of document.querySelectorAll('#voice-members input[type=range]')) " +
        "{ s.value = '0'; s.dispatchEvent(new Event('change')); } return true;");
      await sleep(500);
      const quiet = speakerLevel('member');
      console.log(`# the member's speaker: cousin at volume 1 ${loud.toFixed(1)} dBFS, at volume 0 ${quiet.toFixed(1)} dBFS`);
      if (!(loud > -40 && loud - quiet >= 20)) throw new Error(`volume 0 is not quieter: ${loud.toFixed(1)} then ${quiet.toFixed(1)} dBFS`);
      await new Promise((resolve) => playing.on('exit', resolve));
      await member.click('#voice-mute');
      await member.until('muted', "return document.getElementById('voice-mute').getAttribute('aria-pressed') === 'true';");
      // Mute and deafen reach the server: the host, outside the call, sees them.
      await host.click(`#chat-channels button.conversation[data-name="${channel}"]`);
      await host.until("grandma's microphone off at the host",
        "return document.getElementById('voice-people').textContent.includes('grandma (microphone off)');");
      await member.click('#voice-deafen');
      await host.until("grandma's sound off at the host",
        "return document.getElementById('voice-people').textContent.includes('grandma (microphone off, sound off)');");
      await member.screenshot('member-voice.png');
      await host.screenshot('host-voice.png');
      await host.click('#chat-channels button.conversation[data-name="general"]');
      await member.click('#voice-leave');
      await member.until('out of the call', "return !document.getElementById('voice-join').hidden && document.getElementById('voice-safety').hidden;");
      await new Promise((resolve) => recording.on('exit', resolve));
      await member.until('cousin gone', "return document.getElementById('voice-people').textContent.startsWith('Nobody');");
      await member.click('#chat-channels button.conversation[data-name="general"]');
    });

    await step('a direct message shows an unread count and a desktop notification; a 1:1 call from it', async () => {
      await host.until('grandma in the people list',
        "return [...document.querySelectorAll('#chat-people button')].some((b) => b.getAttribute('aria-label') === 'Write to grandma');");
      await host.click('#chat-people button[aria-label="Write to grandma"]');
      await host.until('the conversation with grandma', "return document.getElementById('chat-title').textContent === 'grandma';");
      await host.type('#chat-input', 'A secret for @grandma');
      await host.click('#chat-send');
      await member.until('the unread count on the direct conversation',
        "const b = document.querySelector('#chat-directs button.conversation .unread'); return b && b.textContent === '1';");
      const deadline = Date.now() + TIMEOUT_MS;
      let shown = [];
      while (Date.now() < deadline) {
        shown = notifications();
        if (shown.some((n) => n.summary === 'chatter wrote to you' && n.body.includes('A secret for @grandma'))) break;
        await sleep(250);
      }
      if (!shown.some((n) => n.summary === 'chatter wrote to you')) throw new Error(`notifications: ${JSON.stringify(shown)}`);
      await member.screenshot('member-unread.png');
      await member.click('#chat-directs button.conversation');
      await member.until('the direct conversation read', "return document.getElementById('chat-title').textContent === 'chatter' && !document.querySelector('#chat-directs .unread');");
      // A 1:1 call from the direct conversation: the host, on the same conversation, sees grandma in it.
      const offer = await member.text('#voice-join');
      if (offer !== 'Call chatter') throw new Error(`the direct conversation offers "${offer}"`);
      await member.click('#voice-join');
      await member.until('the 1:1 call joined', "return !document.getElementById('voice-safety').hidden || document.getElementById('voice-error').textContent;");
      const trouble = await member.text('#voice-error');
      if (trouble) throw new Error(`calling chatter: ${trouble}`);
      await host.until('grandma in the 1:1 call at the host', "return document.getElementById('voice-people').textContent === 'In this call now: grandma.';");
      await member.click('#voice-leave');
      await member.until('out of the 1:1 call', "return !document.getElementById('voice-join').hidden;");
      await host.until('the 1:1 call empty at the host', "return document.getElementById('voice-people').textContent.startsWith('Nobody');");
      await member.click('#chat-channels button.conversation[data-name="general"]');
    });

    await richChat({ host, member, itc, notifications, work: WORK, home: (role) => join(WORK, role, 'home') });

    await step('the server restarts; the member reconnects and sends what was typed meanwhile, once', async () => {
      await host.click('#show-server');
      await host.click('#stop');
      await member.until('the reconnecting state', "const s = document.getElementById('link-state'); return !s.hidden && s.textContent.includes('Reconnecting');");
      await member.screenshot('member-reconnecting.png');
      await member.type('#chat-input', 'Typed while the server was away');
      await member.click('#chat-send');
      await sleep(1000);
      await host.click('#start');
      await host.until('the running server', "return document.getElementById('state-badge').textContent === 'Running';");
      await member.until('the connection back', "return document.getElementById('link-state').hidden;");
      await member.until('the message sent', MESSAGE_WITH, 'Typed while the server was away');
      const history = itc('history', 'general');
      const copies = history.split('Typed while the server was away').length - 1;
      if (copies !== 1) throw new Error(`the message is stored ${copies} times: ${history}`);
    });

    await step('restarted, the member app is still signed in, and its history scrolls back page by page', async () => {
      for (let n = 1; n <= 60; n += 1) itc('send', 'general', `Counting ${String(n).padStart(2, '0')}`);
      await member.until('the newest count', MESSAGE_WITH, 'Counting 60');
      await member.end();
      member = await Session.start('member', need('MEMBER_DRIVER'), APP, [], ARTIFACTS);
      await member.until('#general without a password',
        "return !document.getElementById('chat').hidden && document.getElementById('chat-title').textContent === '#general' " +
        "&& document.getElementById('signin').hidden && document.getElementById('state-badge').hidden;");
      await member.until('the newest page, with more to fetch',
        "return !document.getElementById('chat-older').hidden && document.getElementById('chat-messages').textContent.includes('Counting 60') " +
        "&& !document.getElementById('chat-messages').textContent.includes('Hello from Grandma');");
      await member.screenshot('member-restarted.png');
      // Scrolling to the top fetches the older page (the "Show older messages" button does too).
      await member.script("document.getElementById('chat-scroll').scrollTop = 0; return true;");
      await member.until('the older page', MESSAGE_WITH, 'Hello from Grandma');
      await member.until('everything, once', "const t = document.getElementById('chat-messages').textContent; " +
        "return t.split('Typed while the server was away').length === 2 && t.split('Counting 01').length === 2 && document.getElementById('chat-older').hidden;");
    });

    await step('the session token is in the credential store, never in a file', async () => {
      const items = execFileSync('secret-tool', ['search', '--all', 'service', 'IPTinCan'],
        { env: roleEnv('member'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const token = (items.match(/^secret = (.+)$/m) || [])[1];
      if (!token) throw new Error(`no IPTinCan entry in the member's credential store: ${items}`);
      const leaks = filesHolding(join(WORK, 'member', 'home'), token);
      if (leaks.length) throw new Error(`the token is in plain files: ${leaks.join(', ')}`);
    });
  } finally {
    if (member) await member.end();
    await host.end();
  }
}

run('client e2e', main);
