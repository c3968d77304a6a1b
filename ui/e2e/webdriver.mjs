// A minimal WebDriver client for the desktop app's tests (tauri-driver speaks W3C WebDriver).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const WD = process.env.WEBDRIVER_URL ?? 'http://127.0.0.1:4444';
const SHOTS = process.env.SCREENSHOTS ?? 'target/screenshots';

export async function wd(method, path, body) {
  const res = await fetch(WD + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const v = json.value ?? {};
    throw new Error(`${method} ${path}: ${res.status} ${v.error ?? ''} ${v.message ?? ''}`);
  }
  return json.value;
}

/** The W3C WebDriver key of an element reference (to pass elements to execute/sync). */
export const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

export class Session {
  static async start(args = []) {
    const t0 = Date.now();
    const v = await wd('POST', '/session', {
      capabilities: { alwaysMatch: { 'tauri:options': { application: process.env.APP, args } } },
    });
    const s = new Session(v.sessionId);
    s.startedMs = Date.now() - t0;
    return s;
  }
  constructor(id) {
    this.id = id;
  }
  p(path) {
    return `/session/${this.id}${path}`;
  }
  async find(css) {
    const v = await wd('POST', this.p('/element'), { using: 'css selector', value: css });
    return Object.values(v)[0];
  }
  async findAll(css) {
    const v = await wd('POST', this.p('/elements'), { using: 'css selector', value: css });
    return v.map((e) => Object.values(e)[0]);
  }
  async waitFind(css, timeoutMs) {
    return waitFor(css, () => this.find(css), timeoutMs);
  }
  /** Centre an element in its scroll areas first: WebKitWebDriver does not scroll an element that
   *  is partly visible (cut off at the bottom of the wizard's step), and then refuses to click it. */
  async reveal(el) {
    await this.exec('arguments[0].scrollIntoView({ block: "center", inline: "nearest" });', [{ [ELEMENT]: el }]).catch(() => {});
  }
  async click(css, timeoutMs) {
    const el = await this.waitFind(css, timeoutMs);
    await this.reveal(el);
    await wd('POST', this.p(`/element/${el}/click`), {});
  }
  /** Click an element that closes the window. The window (and its process) may be gone
   * before WebKitWebDriver answers, which it then reports as "no such window" or "unknown
   * error": the caller checks that the window really closed. */
  async clickToClose(css, timeoutMs) {
    const el = await this.waitFind(css, timeoutMs);
    try {
      await wd('POST', this.p(`/element/${el}/click`), {});
    } catch (e) {
      if (!/no such window|unknown error/.test(e.message)) throw e;
      console.log(`  (the click's answer: ${e.message.trim()})`);
    }
  }
  async text(css) {
    const el = await this.find(css);
    return wd('GET', this.p(`/element/${el}/text`));
  }
  async waitText(css, pred, timeoutMs) {
    return waitFor(`${css} text`, async () => {
      const t = await this.text(css);
      return pred(t) ? t : null;
    }, timeoutMs);
  }
  async type(css, value) {
    const el = await this.waitFind(css);
    await this.reveal(el);
    await wd('POST', this.p(`/element/${el}/value`), { text: value });
  }
  /** Empty a text field (WebDriver "Element Clear"; fires the events Svelte's bindings listen to). */
  async clear(css) {
    const el = await this.waitFind(css);
    await this.reveal(el);
    await wd('POST', this.p(`/element/${el}/clear`), {});
    await this.exec(
      'arguments[0].dispatchEvent(new Event("input", { bubbles: true })); arguments[0].dispatchEvent(new Event("change", { bubbles: true }));',
      [{ [ELEMENT]: el }],
    );
  }
  /** Choose an option of a <select> by value, as a user's choice does (a change event). */
  async select(css, value) {
    const el = await this.waitFind(css);
    await this.reveal(el);
    const ok = await this.exec(
      `const s = arguments[0];
       if (![...s.options].some((o) => o.value === arguments[1])) return false;
       s.value = arguments[1];
       s.dispatchEvent(new Event('input', { bubbles: true }));
       s.dispatchEvent(new Event('change', { bubbles: true }));
       return true;`,
      [{ [ELEMENT]: el }, value],
    );
    if (!ok) throw new Error(`${css} has no option ${value}`);
  }
  /** Whether the element is enabled (a disabled button is not). */
  async enabled(css) {
    const el = await this.find(css);
    return wd('GET', this.p(`/element/${el}/enabled`));
  }
  async exec(script, args = []) {
    return wd('POST', this.p('/execute/sync'), { script, args });
  }
  async go(hash) {
    await this.exec(`location.hash = arguments[0];`, [hash]);
  }
  async screenshot(name) {
    const b64 = await wd('GET', this.p('/screenshot'));
    mkdirSync(SHOTS, { recursive: true });
    const file = join(SHOTS, name);
    writeFileSync(file, Buffer.from(b64, 'base64'));
    console.log(`  screenshot: ${file}`);
  }
  async end() {
    await wd('DELETE', this.p('')).catch(() => {});
  }
}

