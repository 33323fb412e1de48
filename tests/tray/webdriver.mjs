// What the tray and client GUI tests (e2e.mjs, client.mjs) share: the few WebDriver calls
// they need, against a tauri-driver (which starts the app and drives its window through
// WebKitWebDriver), and their start-up: settings from the environment, numbered steps, and
// the tally at the end. Node's built-in fetch only.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
export const TIMEOUT_MS = 30000;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const squeeze = (text) => String(text || '').replace(/\s+/g, ' ').slice(0, 600);

// The environment variable `name`, which the test's script sets.
export function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

let passed = 0;

// Runs one step of the story and says how it went; a failed step ends the test.
export async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    console.log(`not ok - ${name}: ${err.message}`);
    throw err;
  }
}

// Runs the story `main`, then prints the tally; a failure exits non-zero with its reason.
export function run(what, main) {
  main().then(
    () => console.log(`${passed} passed, 0 failed`),
    (err) => {
      console.error(`${what}: ${err.stack || err.message}`);
      console.log(`${passed} passed, 1 failed`);
      process.exit(1);
    },
  );
}

async function wd(driver, method, path, body) {
  const response = await fetch(`${driver}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    const value = json.value || {};
    throw new Error(`${method} ${path}: ${response.status} ${value.error || ''} ${value.message || ''}`);
  }
  return json.value;
}

export class Session {
  // Starts `application` with `args` through the tauri-driver at `driver`.
  static async start(name, driver, application, args = [], artifacts = '.') {
    const value = await wd(driver, 'POST', '/session', {
      capabilities: { alwaysMatch: { 'tauri:options': { application, args } } },
    });
    return new Session(name, driver, value.sessionId, artifacts);
  }

  constructor(name, driver, id, artifacts) {
    this.name = name;
    this.driver = driver;
    this.path = `/session/${id}`;
    this.artifacts = artifacts;
  }

  call(method, path, body) {
    return wd(this.driver, method, `${this.path}${path}`, body);
  }

  async find(css) {
    const value = await this.call('POST', '/element', { using: 'css selector', value: css });
    return value[ELEMENT];
  }

  script(source, ...args) {
    return this.call('POST', '/execute/sync', { script: source, args });
  }

  async type(css, text) {
    const id = await this.find(css);
    await this.call('POST', `/element/${id}/clear`, {});
    await this.call('POST', `/element/${id}/value`, { text });
  }

  // Clicks an element, scrolled into view first (WebKitWebDriver does not scroll inner
  // scrolling boxes, such as the chat's side bar, by itself).
  async click(css) {
    const id = await this.find(css);
    await this.script("arguments[0].scrollIntoView({ block: 'center' }); return true;", { [ELEMENT]: id });
    await this.call('POST', `/element/${id}/click`, {});
  }

  text(css) {
    return this.script('const e = document.querySelector(arguments[0]); return e ? e.textContent : null;', css);
  }

  // Waits until `source` (a function body run in the page) returns a truthy value.
  async until(what, source, ...args) {
    const deadline = Date.now() + TIMEOUT_MS;
    let last;
    while (Date.now() < deadline) {
      try {
        last = await this.script(source, ...args);
        if (last) return last;
      } catch (err) {
        last = err.message;
      }
      await sleep(250);
    }
    const page = await this.text('body').catch(() => '');
    throw new Error(`${this.name}: timed out waiting for ${what} (last: ${JSON.stringify(last)}); page says: ${squeeze(page)}`);
  }

  async screenshot(file) {
    const png = await this.call('GET', '/screenshot');
    writeFileSync(join(this.artifacts, file), Buffer.from(png, 'base64'));
  }

  async end() {
    await wd(this.driver, 'DELETE', this.path).catch(() => {});
  }
}
