// End-to-end test of the tray app: drives the real app's dashboard over WebDriver
// (tauri-driver in front of WebKitWebDriver) and its tray menu over D-Bus
// (com.canonical.dbusmenu, as a StatusNotifierItem host sees it).
//
// Story: first run asks whether this PC hosts or joins; hosting shows the setup form; the
// parent names the server and picks a password; the dashboard shows the server running with a
// connection code; "Create invite" shows an invite QR picture and its text; the tray menu lists its items, "Invite someone…" from the
// tray shows a new invite on the dashboard; ticking VPN turns it on, "Add a device" shows a
// WireGuard config whose on-screen QR decodes to its text, the device is listed and "Cut
// access" removes it; an update in the release feed (served here on loopback) shows on the
// dashboard and in the tray, and installing it is refused because it is not signed; Quit ends
// the app and leaves no VPN device behind.
//
// Run by scripts/test-tray, which provides Xvfb, a D-Bus session, a tray host and
// tauri-driver. Needs only Node (built-in fetch); no npm packages.
// Environment: TRAY_APP (the app binary), ARTIFACTS (output folder), WEBDRIVER_URL,
// ITC_TRAY_CONFIG_TEMPLATE (the setup template, which gets the feed's URL), ITC_TARGET (the
// target triple, which the update artifact's name carries).
// Exits non-zero, with the reason, when any step fails (e.g. no QR picture is shown).

import { execFileSync } from 'node:child_process';
import { appendFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Session, TIMEOUT_MS, need, run, sleep, squeeze, step } from './webdriver.mjs';

const APP = need('TRAY_APP');
const ARTIFACTS = need('ARTIFACTS');
const DRIVER = process.env.WEBDRIVER_URL || 'http://127.0.0.1:4444';

// ---- The tray, over D-Bus ----

function gdbus(...args) {
  return execFileSync('gdbus', ['call', '--session', ...args], { encoding: 'utf8' });
}

// The tray item's bus name and menu path, as the StatusNotifierWatcher knows them.
function trayMenu() {
  const items = gdbus('--dest', 'org.kde.StatusNotifierWatcher', '--object-path', '/StatusNotifierWatcher',
    '--method', 'org.freedesktop.DBus.Properties.Get', 'org.kde.StatusNotifierWatcher',
    'RegisteredStatusNotifierItems');
  const entry = items.match(/'([^']+)'/);
  if (!entry) throw new Error(`no tray item is registered: ${items.trim()}`);
  const slash = entry[1].indexOf('/');
  const dest = slash < 0 ? entry[1] : entry[1].slice(0, slash);
  const itemPath = slash < 0 ? itemObjectPath(dest) : entry[1].slice(slash);
  const menu = gdbus('--dest', dest, '--object-path', itemPath, '--method',
    'org.freedesktop.DBus.Properties.Get', 'org.kde.StatusNotifierItem', 'Menu');
  const path = menu.match(/objectpath '([^']+)'/);
  if (!path) throw new Error(`the tray item has no menu: ${menu.trim()}`);
  return { dest, path: path[1] };
}

// Some watchers record only the item's bus name; libayatana-appindicator serves the item under
// its own path (/org/ayatana/NotificationItem/…), so look for the object that implements it.
function itemObjectPath(dest) {
  const tree = execFileSync('gdbus', ['introspect', '--session', '--dest', dest, '--object-path', '/', '--recurse'],
    { encoding: 'utf8' });
  let current = null;
  for (const line of tree.split('\n')) {
    const node = line.match(/^\s*node (\/\S*)/);
    if (node) current = node[1];
    if (current && /interface org\.kde\.StatusNotifierItem \{/.test(line)) return current;
  }
  throw new Error(`${dest} serves no org.kde.StatusNotifierItem object`);
}

// [{ id, label, enabled }] from com.canonical.dbusmenu.GetLayout.
function menuItems(menu) {
  const layout = gdbus('--dest', menu.dest, '--object-path', menu.path, '--method',
    'com.canonical.dbusmenu.GetLayout', '--', '0', '-1', '["label", "enabled"]');
  const items = [];
  const pattern = /\((\d+), \{([^}]*)\}/g;
  let match;
  while ((match = pattern.exec(layout)) !== null) {
    const label = match[2].match(/'label': <'([^']*)'>/);
    const enabled = !/'enabled': <false>/.test(match[2]);
    if (label) items.push({ id: Number(match[1]), label: label[1].replace(/_/g, ''), enabled });
  }
  return { items, layout };
}

function clickMenu(menu, label) {
  const { items, layout } = menuItems(menu);
  const item = items.find((candidate) => candidate.label === label);
  if (!item) throw new Error(`no tray menu item "${label}" in ${layout.trim()}`);
  gdbus('--dest', menu.dest, '--object-path', menu.path, '--method', 'com.canonical.dbusmenu.Event',
    '--', String(item.id), 'clicked', '<"">', '0');
}

// Page script: whether card `card` is shown with its QR picture `img` drawn.
function qrShown(card, img) {
  return `const img = document.getElementById('${img}');` +
    `return !document.getElementById('${card}').hidden && img.src.startsWith('data:image/svg+xml') ` +
    '&& img.complete && img.naturalWidth > 0;';
}

// Every QR code zbarimg finds in a picture, as text (its XML output keeps multi-line texts whole).
function scanQrCodes(file) {
  const xml = execFileSync('zbarimg', ['--quiet', '--xml', file], { encoding: 'utf8' });
  return [...xml.matchAll(/<data[^>]*><!\[CDATA\[([\s\S]*?)\]\]><\/data>/g)].map((match) => match[1]);
}

// Whether network device `name` exists here (the app runs in the same network namespace).
function deviceExists(name) {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return false;
  }
}

// The VPN's device name in the test's settings (the default).
const VPN_DEVICE = 'itc-vpn0';

function screenshotScreen(file) {
  execFileSync('import', ['-window', 'root', join(ARTIFACTS, file)]);
}

// ---- The story ----

// A release feed on loopback offering version 99.0.0 with an unsigned package, and the app's
// setup template pointed at it (ITC_TRAY_CONFIG_TEMPLATE, read when the app starts).
const UPDATE_VERSION = '99.0.0';
async function serveUnsignedUpdate() {
  const artifact = `iptincan-deb-${UPDATE_VERSION}-${need('ITC_TARGET')}.tar.gz`;
  const manifest = JSON.stringify({
    schema: 1,
    releases: [{ version: UPDATE_VERSION, assets: [{ name: artifact, url: artifact }] }],
  });
  const server = createServer((request, response) => {
    if (request.url === '/manifest.json') response.end(manifest);
    else if (request.url === `/${artifact}`) response.end(Buffer.alloc(4096, 7));
    else response.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const feed = `http://127.0.0.1:${server.address().port}/manifest.json`;
  appendFileSync(need('ITC_TRAY_CONFIG_TEMPLATE'), `[update]\ncheck = true\nfeed_url = "${feed}"\n`);
  server.unref();
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  await serveUnsignedUpdate();
  const session = await Session.start('tray', DRIVER, APP, [], ARTIFACTS);
  let menu;
  try {
    await step('first run asks host or join; hosting shows the setup form', async () => {
      await session.until('the first question', "return !document.getElementById('welcome').hidden;");
      await session.screenshot('welcome.png');
      await session.click('#choose-host');
      await session.until('the setup form', "return !document.getElementById('setup').hidden;");
    });

    await step('setup with a name and a password starts the server', async () => {
      await session.type('#server-name', 'The Test Family');
      await session.type('#admin-password', 'a-good-password');
      await session.type('#admin-password-again', 'a-good-password');
      // Tests never touch the real network's router.
      await session.click('#open-router-ports');
      await session.click('#setup-submit');
      await session.until('the running dashboard',
        "return !document.getElementById('dashboard').hidden && " +
        "document.getElementById('connection-code').textContent.startsWith('ITC-');");
      const badge = await session.text('#state-badge');
      if (badge !== 'Running') throw new Error(`state badge says "${badge}"`);
      const title = await session.text('#title');
      if (title !== 'The Test Family') throw new Error(`title says "${title}"`);
      await session.script('window.scrollTo(0, 0); return true;');
      await sleep(300);
      await session.screenshot('dashboard-status.png');
    });

    await step('creating an invite shows its QR picture and text', async () => {
      await session.type('#invite-note', 'Grandma');
      await session.click('#invite-create');
      await session.until('the invite QR picture', qrShown('invite-card', 'invite-qr'));
      const text = await session.text('#invite-text');
      if (!/^ITC-\S+\.\S+$/.test(text)) throw new Error(`invite text is "${text}"`);
      await session.until('the invite in the list',
        "return document.getElementById('invite-list').textContent.includes('For Grandma');");
      await sleep(500);
      await session.screenshot('dashboard-invite.png');
      screenshotScreen('screen-dashboard.png');
      // The QR as the window draws it decodes to the invite's text (a phone could scan it).
      const scanned = execFileSync('zbarimg', ['--quiet', '--raw', join(ARTIFACTS, 'dashboard-invite.png')],
        { encoding: 'utf8' }).trim();
      if (scanned !== text) throw new Error(`the QR on screen reads "${scanned}", the invite is "${text}"`);
    });

    await step('the tray menu has every item, enabled as the state says', async () => {
      menu = trayMenu();
      const { items, layout } = menuItems(menu);
      writeFileSync(join(ARTIFACTS, 'tray-menu.txt'), `${layout}\n`);
      const want = ['Start', 'Stop', 'Open dashboard', 'Invite someone…', 'Copy connection code', 'Back up now', 'Quit'];
      for (const label of want) {
        if (!items.some((item) => item.label === label)) throw new Error(`missing "${label}" in ${layout.trim()}`);
      }
      const enabled = (label) => items.find((item) => item.label === label).enabled;
      if (enabled('Start') || !enabled('Stop') || !enabled('Invite someone…')) {
        throw new Error(`wrong enabled items for a running server: ${layout.trim()}`);
      }
      if (!items.some((item) => item.label.startsWith('The Test Family — running'))) {
        throw new Error(`no summary line: ${layout.trim()}`);
      }
    });

    await step("the tray's Invite someone… shows a new invite on the dashboard", async () => {
      const before = await session.text('#invite-text');
      clickMenu(menu, 'Invite someone…');
      await session.until('a new invite from the tray',
        "const text = document.getElementById('invite-text').textContent;" +
        'return text.startsWith(\'ITC-\') && text !== arguments[0];', before);
    });

    await step("the tray's Stop stops the server, and Start starts it again", async () => {
      clickMenu(menu, 'Stop');
      await session.until('the stopped state', "return document.getElementById('state-badge').textContent === 'Stopped';");
      clickMenu(menu, 'Start');
      await session.until('the running state', "return document.getElementById('state-badge').textContent === 'Running';");
    });

    await step("the tray's Back up now makes a backup the dashboard shows", async () => {
      clickMenu(menu, 'Back up now');
      await session.until('the last backup',
        "return document.getElementById('last-backup').textContent !== 'none yet';");
    });

    let vpnState = 'not turned on';
    await step('the VPN: tick it, add a device, its on-screen QR is its config, cut its access', async () => {
      await session.script("document.getElementById('vpn-enabled').scrollIntoView({ block: 'center' }); return true;");
      await session.click('#vpn-enabled');
      await session.until('the VPN switched on',
        "const box = document.getElementById('vpn-enabled');" +
        "return box.checked && !box.disabled && !document.getElementById('vpn-details').hidden " +
        "&& document.getElementById('vpn-member').options.length > 0 " +
        "&& !/^(The VPN is off\\. Tick|Turning)/.test(document.getElementById('vpn-state').textContent);");
      const state = await session.text('#vpn-state');
      writeFileSync(join(ARTIFACTS, 'vpn-state.txt'), `${state}\n`);
      // As root (in the test's own network namespace) it really runs; otherwise it says why not.
      vpnState = state;
      const vpnRuns = /runs|running/.test(state);
      if (vpnRuns !== deviceExists(VPN_DEVICE)) {
        throw new Error(`the VPN says "${state}", but its device ${VPN_DEVICE} ${vpnRuns ? 'is missing' : 'exists'}`);
      }

      const member = await session.script("return document.getElementById('vpn-member').value;");
      if (member !== 'chatter') throw new Error(`the device picker offers "${member}"`);
      await session.type('#vpn-device-name', 'Test laptop');
      await session.click('#vpn-add');
      await session.until('the VPN config picture', qrShown('vpn-card', 'vpn-qr'));
      const config = await session.text('#vpn-config');
      for (const part of ['[Interface]', 'PrivateKey = ', '[Peer]', 'Endpoint = ']) {
        // The config holds a private key: say what is missing, never print the text.
        if (!config.includes(part)) throw new Error(`the config text has no "${part}"`);
      }
      const note = await session.text('#vpn-card .once');
      if (!/shown only now/i.test(note)) throw new Error(`no "shown only now" note: ${squeeze(note)}`);
      const row = await session.until('the device in the list',
        "const row = [...document.querySelectorAll('#vpn-peer-rows tr')]" +
        ".find((r) => r.cells[0].textContent === 'chatter' && r.cells[1].textContent === 'Test laptop');" +
        'return row ? row.dataset.peer : null;');

      await session.script("document.getElementById('vpn-qr').scrollIntoView({ block: 'center' }); return true;");
      await sleep(500);
      await session.screenshot('dashboard-vpn.png');
      // The QR as the window draws it decodes to the config text (the WireGuard app could scan it).
      const scanned = scanQrCodes(join(ARTIFACTS, 'dashboard-vpn.png'));
      if (!scanned.some((text) => text.trim() === config.trim())) {
        throw new Error(`no QR on screen reads as the config (${scanned.length} QR codes found)`);
      }

      // Caps: this device's own, and everyone's.
      const rowCss = `#vpn-peer-rows tr[data-peer="${row}"]`;
      await session.type(`${rowCss} form.cap input`, '2');
      await session.click(`${rowCss} form.cap button`);
      await session.until("the device's cap",
        `return document.querySelector('${rowCss} .cap-now').textContent === '2 Mbit/s';`);
      await session.type('#vpn-cap', '8');
      await session.click('#vpn-cap-set');
      await session.until("everyone's cap",
        "return document.getElementById('vpn-cap-now').textContent.includes('at most 8 Mbit/s each way');");
      await session.script("document.getElementById('vpn-heading').scrollIntoView({ block: 'start' }); return true;");
      await sleep(300);
      await session.screenshot('dashboard-vpn-devices.png');

      const cut = `${rowCss} button.cut`;
      await session.script(`document.querySelector('${cut}').scrollIntoView({ block: 'center' }); return true;`);
      await session.click(cut);
      const armed = await session.text(cut);
      if (armed !== 'Yes, cut access') throw new Error(`after one click the button says "${armed}"`);
      await session.click(cut);
      await session.until('the device gone from the list',
        `return !document.querySelector('#vpn-peer-rows tr[data-peer="${row}"]') ` +
        "&& document.getElementById('vpn-message').textContent.startsWith('Access cut: Test laptop');");
      await session.screenshot('dashboard-vpn-cut.png');
    });

    await step('an update shows on the dashboard and in the tray; an unsigned one is refused', async () => {
      await session.until('the update on the dashboard',
        "return !document.getElementById('install-update').hidden && " +
        `document.getElementById('update-text').textContent.includes('${UPDATE_VERSION} is available');`);
      const { items, layout } = menuItems(menu);
      if (!items.some((item) => item.label.includes('update available'))) {
        throw new Error(`the tray does not say "update available": ${layout.trim()}`);
      }
      await session.click('#install-update');
      await session.until('the refusal',
        "return document.getElementById('update-error').textContent.includes(\"not signed with IPTinCan's release key\");");
      await session.script("document.getElementById('update-heading').scrollIntoView(); return true;");
      await sleep(300);
      await session.screenshot('dashboard-update.png');
    });

    await step('the tray menu, opened on screen', async () => {
      openMenuOnScreen();
      screenshotScreen('tray-menu.png');
      execFileSync('xdotool', ['key', 'Escape']);
    });

    await step('Quit ends the app', async () => {
      clickMenu(menu, 'Quit');
      const deadline = Date.now() + TIMEOUT_MS;
      while (Date.now() < deadline) {
        try {
          trayMenu();
        } catch (err) {
          return; // The tray item is gone: the app exited.
        }
        await sleep(250);
      }
      throw new Error('the tray item is still there');
    });

    await step('Quit left no VPN device behind', async () => {
      const deadline = Date.now() + TIMEOUT_MS;
      while (deviceExists(VPN_DEVICE) && Date.now() < deadline) await sleep(250);
      if (deviceExists(VPN_DEVICE)) throw new Error(`${VPN_DEVICE} is still there after Quit`);
      let tables = '';
      try {
        tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      } catch (err) {
        // Not root: nftables is out of reach for the app as much as for us.
      }
      if (/table ip iptincan\b/.test(tables)) throw new Error(`the VPN's nftables table is still there: ${tables}`);
      console.log(`# the VPN said: ${vpnState}`);
    });
  } finally {
    await session.end();
  }
}

// Clicks the tray icon in the tray host's bar (bottom right of the screen) so that the menu
// opens where a screenshot sees it.
function openMenuOnScreen() {
  const geometry = execFileSync('xdotool', ['getdisplaygeometry'], { encoding: 'utf8' }).trim().split(/\s+/);
  const [width, height] = geometry.map(Number);
  execFileSync('xdotool', ['mousemove', String(width - 12), String(height - 12), 'click', '3']);
  execFileSync('sleep', ['1']);
}

run('tray e2e', main);
