// The family app's admin panel, end to end (called from client.mjs once the host, as the
// server's owner, and the member "grandma" are both signed in and in #general): the host times
// the member out (the member's app shows the end time, its composer is closed and the server
// refuses a send), then lifts it; warns (the member sees the note); creates an access token
// (shown once) and `curl` with it on the REST port answers /api/server and /api/stats, the list
// shows its last use, and once revoked the token is refused; sets slow mode on #general (the
// member's second message within the window is refused with the reason shown, and not stored),
// then turns it off; supervises the member with the host as guardian (the member's app says
// so, and with quiet hours around now the member's message is refused with the reason shown,
// not stored), then ends it; the audit log in the app lists those actions. The member's app shows no
// admin panel at any point.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { need, sleep, step } from './webdriver.mjs';

// The REST port of the host's server (scripts/test-client writes it into the config template).
function restPort() {
  const config = readFileSync(need('ITC_TRAY_CONFIG_TEMPLATE'), 'utf8');
  const port = (config.match(/^rest_port = (\d+)$/m) || [])[1];
  if (!port) throw new Error(`no rest_port in ${config}`);
  return port;
}

// `curl` on the REST port (self-signed certificate on loopback): [HTTP status, body].
function rest(path, token) {
  const auth = token ? ['-H', `Authorization: Bearer ${token}`] : [];
  const out = execFileSync('curl', ['-sk', '--max-time', '10', '-w', '\n%{http_code}', ...auth, `https://127.0.0.1:${restPort()}${path}`],
    { encoding: 'utf8', timeout: 15000 });
  const at = out.lastIndexOf('\n');
  return [Number(out.slice(at + 1)), out.slice(0, at)];
}

// Page script: picks the option whose text is arguments[1] in select #arguments[0], as a person would.
const PICK = "const s = document.getElementById(arguments[0]); const o = [...s.options].find((x) => x.textContent === arguments[1]);" +
  " if (!o) return null; s.value = o.value; s.dispatchEvent(new Event('change')); return o.value;";

async function pick(session, id, text) {
  const value = await session.until(`"${text}" in #${id}`, PICK, id, text);
  return value;
}

// Clicks a confirming button twice (the first click arms it); returns the words it asked with.
async function confirm(session, css) {
  await session.click(css);
  const asked = await session.text(css);
  await session.click(css);
  return asked;
}

async function noAdminPanel(member) {
  const seen = await member.script("const p = document.getElementById('admin-panel');" +
    " return { button: !document.getElementById('admin-panel-open').hidden, panel: !p.hidden, built: p.childElementCount," +
    " quick: !document.getElementById('chat-admin').hidden };");
  if (seen.button || seen.panel || seen.built || seen.quick) throw new Error(`the member's app shows admin parts: ${JSON.stringify(seen)}`);
}

async function openSection(host, id) {
  if (await host.script("return document.getElementById('admin-panel').hidden;")) await host.click('#admin-panel-open');
  await host.click(`#admin-tab-${id}`);
  await host.until(`the ${id} section`, "const s = document.getElementById('admin-section-' + arguments[0]); return s && !s.hidden;", id);
}

export async function adminPanelSteps(host, member, { itc, messageWith }) {
  await step('admin panel: the member\'s app shows none of it; the host\'s opens on Users', async () => {
    await noAdminPanel(member);
    await host.until('the admin panel button', "return !document.getElementById('admin-panel-open').hidden;");
    await openSection(host, 'users');
    await pick(host, 'admin-user', 'grandma (member)');
  });

  await step('admin panel: the host times the member out; the member sees the end time and cannot send; the host lifts it', async () => {
    await pick(host, 'admin-timeout-length', '10 minutes');
    await host.type('#admin-timeout-reason', 'a short break');
    const asked = await confirm(host, '#admin-timeout');
    if (asked !== 'Yes, stop grandma writing and speaking for 10 minutes') throw new Error(`the timeout asked "${asked}"`);
    await host.until('the timeout done', "return document.getElementById('admin-users-message').textContent.includes('cannot write') || document.getElementById('admin-users-error').textContent;");
    const error = await host.text('#admin-users-error');
    if (error) throw new Error(`timing out: ${error}`);
    const shown = await member.until('the end time at the member',
      "const t = document.getElementById('chat-timeout'); return t && !t.hidden ? t.textContent : null;");
    const at = (shown.match(/You can write again at (\d\d:\d\d)\./) || [])[1];
    // The end is ten minutes from now, in the member's local time (a minute either way for the clock's turn).
    const expected = await member.script("const two = (n) => String(n).padStart(2, '0');" +
      " return [-1, 0, 1].map((m) => new Date(Date.now() + (10 + m) * 60000)).map((d) => `${two(d.getHours())}:${two(d.getMinutes())}`);");
    if (!at || !expected.includes(at) || !shown.includes('a short break')) throw new Error(`the member's app says "${shown}" (expected one of ${expected})`);
    const closed = await member.script("return document.getElementById('chat-input').disabled && document.getElementById('chat-send').disabled;");
    if (!closed) throw new Error('the composer is open while timed out');
    await member.screenshot('member-timed-out.png');
    // The server refuses too, when the page tries anyway.
    await member.script("window.__tried = null; const id = Number(document.querySelector('#chat-channels button.conversation[data-name=\"general\"]').dataset.channel);" +
      " window.__TAURI__.core.invoke('chat_send', { channelId: id, body: 'Sneaking one in' }).then(() => { window.__tried = 'sent'; }, (e) => { window.__tried = String(e); }); return true;");
    const tried = await member.until('the send refused', 'return window.__tried;');
    if (!tried.includes('timed out')) throw new Error(`a send while timed out answered "${tried}"`);
    await host.click('#admin-timeout-lift');
    await member.until('the composer open again',
      "return document.getElementById('chat-timeout').hidden && !document.getElementById('chat-input').disabled && !document.getElementById('chat-send').disabled;");
  });

  await step('admin panel: the host warns the member, who sees the note', async () => {
    await host.type('#admin-warn-note', 'please keep it friendly');
    await host.click('#admin-warn');
    await member.until('the warning at the member',
      "const w = document.getElementById('chat-warning'); return w && !w.hidden && w.textContent === 'A moderator warned you: please keep it friendly';");
    await member.click('#chat-warning-read');
    await member.until('the warning read', "return document.getElementById('chat-standing').hidden;");
  });

  await step('admin panel: a token, shown once, works with curl on the REST port, shows its last use, and is refused once revoked', async () => {
    await openSection(host, 'tokens');
    await host.type('#admin-token-name', 'test script');
    await host.click('#admin-token-create');
    const secret = await host.until('the token shown once',
      "const c = document.getElementById('admin-token-card'); const s = document.getElementById('admin-token-secret').textContent;" +
      " return !c.hidden && c.textContent.includes('Shown only now') && s.startsWith('itc_') ? s : null;");
    await host.screenshot('host-token.png');
    const [status, body] = rest('/api/server', secret);
    if (status !== 200 || JSON.parse(body).name !== 'The Test Family') throw new Error(`/api/server answered ${status}: ${body}`);
    const [statsStatus, stats] = rest('/api/stats', secret);
    if (statsStatus !== 200 || !(JSON.parse(stats).users >= 3)) throw new Error(`/api/stats with the token answered ${statsStatus}: ${stats}`);
    const [anonymous] = rest('/api/stats');
    if (anonymous !== 401) throw new Error(`/api/stats without a token answered ${anonymous}`);
    await host.click('#admin-token-done');
    await host.click('#admin-tab-tokens'); // shows the list again, fresh
    await host.until('the last use in the list',
      "const li = document.querySelector('#admin-tokens li[data-name=\"test script\"] .last-used'); return li && li.textContent.startsWith('last used');");
    const asked = await confirm(host, '#admin-tokens li[data-name="test script"] button');
    if (!asked.startsWith('Yes, revoke "test script"')) throw new Error(`revoking asked "${asked}"`);
    await host.until('the token gone from the list', "return !document.querySelector('#admin-tokens li[data-name=\"test script\"]');");
    const [revoked] = rest('/api/stats', secret);
    if (revoked !== 401) throw new Error(`the revoked token answered ${revoked}`);
  });

  await step('admin panel: slow mode on #general refuses the member\'s second message with the reason; then off', async () => {
    await openSection(host, 'channels');
    await pick(host, 'admin-channel', '#general');
    await pick(host, 'admin-slow-mode', '1 minute');
    await host.click('#admin-slow-mode-set');
    await host.until('slow mode set', "return document.getElementById('admin-channels-message').textContent.includes('one message every 1 minute');");
    await member.type('#chat-input', 'First under slow mode');
    await member.click('#chat-send');
    await host.until('the first message at the host', messageWith, 'First under slow mode');
    await member.type('#chat-input', 'Second under slow mode');
    await member.click('#chat-send');
    const refused = await member.until('the reason at the member',
      "const e = document.getElementById('chat-error').textContent; return e.includes('slow mode') ? e : null;");
    if (!/one message every 60 s\); wait \d+ s/.test(refused)) throw new Error(`the member's app says "${refused}"`);
    await member.screenshot('member-slow-mode.png');
    await sleep(500);
    if (itc('history', 'general').includes('Second under slow mode')) throw new Error('the refused message was stored');
    await pick(host, 'admin-slow-mode', 'off');
    await host.click('#admin-slow-mode-set');
    await host.until('slow mode off', "return document.getElementById('admin-channels-message').textContent.includes('slow mode is off');");
    await member.script("document.getElementById('chat-input').value = ''; return true;");
  });

  await step('admin panel: the host supervises the member; the member sees by whom, and cannot send in quiet hours; then it ends', async () => {
    await openSection(host, 'supervision');
    await pick(host, 'admin-supervised', 'grandma');
    await pick(host, 'admin-guardian', 'chatter');
    await host.click('#admin-supervise');
    await host.until('the supervision made',
      "return document.getElementById('admin-supervision-message').textContent.includes('is now looked after by chatter') || document.getElementById('admin-supervision-error').textContent;");
    const error = await host.text('#admin-supervision-error');
    if (error) throw new Error(`supervising: ${error}`);
    const shown = await member.until('the supervision at the member',
      "const p = document.getElementById('chat-supervised'); return p && !p.hidden ? p.textContent : null;");
    if (!shown.startsWith('Your account is looked after by chatter. You can write privately to chatter.')) throw new Error(`the member's app says "${shown}"`);
    // Quiet hours from an hour ago to an hour from now, in the host computer's time.
    await host.script("const two = (n) => String(n).padStart(2, '0'); const at = (ms) => { const d = new Date(Date.now() + ms); return `${two(d.getHours())}:${two(d.getMinutes())}`; };" +
      " document.getElementById('admin-quiet-from').value = at(-3600000); document.getElementById('admin-quiet-to').value = at(3600000); return true;");
    await host.click('#admin-quiet-set');
    await host.until('the quiet hours set', "return document.getElementById('admin-supervision-message').textContent.includes('cannot send messages from');");
    await member.until('the quiet hours at the member', "return document.getElementById('chat-supervised').textContent.includes('(quiet hours)');");
    await member.type('#chat-input', 'Awake in quiet hours');
    await member.click('#chat-send');
    const refused = await member.until('the quiet-hours reason at the member',
      "const e = document.getElementById('chat-error').textContent; return e.includes('quiet hours') ? e : null;");
    if (!refused.includes('not sent')) throw new Error(`the member's app says "${refused}"`);
    await member.screenshot('member-quiet-hours.png');
    await sleep(500);
    if (itc('history', 'general').includes('Awake in quiet hours')) throw new Error('a message sent in quiet hours was stored');
    await confirm(host, '#admin-unsupervise');
    await member.until('the supervision ended at the member', "return document.getElementById('chat-supervised').hidden;");
    await member.script("document.getElementById('chat-input').value = ''; return true;");
  });

  await step('admin panel: the audit log lists those actions; the member still sees no admin panel', async () => {
    await openSection(host, 'moderation');
    const actions = await host.until('the actions in the audit log',
      "const a = [...document.querySelectorAll('#admin-audit li')].map((li) => li.dataset.action);" +
      " return ['timeout', 'lift_timeout', 'warn', 'set_slow_mode', 'supervise', 'set_quiet_hours', 'unsupervise'].every((x) => a.includes(x)) ? a : null;");
    const line = await host.text('#admin-audit li[data-action="timeout"]');
    if (!line.includes('chatter') || !line.includes('grandma') || !line.includes('a short break')) throw new Error(`the timeout's line says "${line}" (${actions})`);
    await host.screenshot('host-audit.png');
    await host.click('#admin-panel-close');
    await host.until('the chat again', "return document.getElementById('admin-panel').hidden && !document.querySelector('.chat-main').hidden;");
    await noAdminPanel(member);
  });
}
