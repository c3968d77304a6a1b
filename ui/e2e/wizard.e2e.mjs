// End-to-end test of the setup wizard in the REAL desktop app (tauri-driver + WebKitWebDriver),
// against the Fliplet API emulator (its own process) and the real PostgreSQL and SQLite.
// Run through scripts/e2e.sh (Xvfb, private D-Bus + unlocked gnome-keyring, temp HOME).
//
// A wrong token, a wrong database password and a broken query each show their message next
// to their field; a correct setup previews exact counts, and "Save and run now" commits
// exactly those (checked in the emulator's state); the job is scheduled, its file holds no
// secret, the Jobs screen's Preview and Edit open it again. Then the same on SQLite.
// Screenshots of every step go to target/screenshots/wizard-*.png.
//
// Env: APP, EMULATOR (fliplet-emulator binary), WEBDRIVER_URL, SCREENSHOTS, XDG_CONFIG_HOME.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Steps, secretToolLookup } from './harness.mjs';
import { Session, sleep, waitFor, wd } from './webdriver.mjs';
import { trayDest, trayHolder, trayMenu } from './procs.mjs';

const WD = process.env.WEBDRIVER_URL ?? 'http://127.0.0.1:4444';
const JOBS_DIR = join(process.env.XDG_CONFIG_HOME, 'fliplet-agent', 'jobs');
const PG = { host: '127.0.0.1', db: 'test', user: 'fliplet_pw', password: 'fliplet-pw-right' };
const TABLE = `wiz_e2e_${process.pid}_${Math.floor(Math.random() * 1e6)}`;

/** The session, for a screenshot of a failing step. */
let current = null;
const steps = new Steps(async () => {
  if (current) await current.screenshot('wizard-FAILED.png');
});
const step = (name, fn) => steps.step(name, fn);

function psql(sql) {
  return execFileSync('psql', ['-h', PG.host, '-U', 'postgres', '-d', PG.db, '-v', 'ON_ERROR_STOP=1', '-Atc', sql], {
    encoding: 'utf8',
  });
}

function sqlite(file, sql) {
  execFileSync('sqlite3', [file, sql]);
}

/** The text of an element, also when it is scrolled out of view (WebDriver's "Get Element
 *  Text" gives only what is rendered visible, so a table below the fold reads as ""). */
async function content(s, css) {
  const t = await s.exec('const e = document.querySelector(arguments[0]); return e ? e.textContent : null;', [css]);
  if (t === null) throw new Error(`no ${css}`);
  return t.replace(/\s+/g, ' ');
}

/** The emulator in its own process on a free port. */
async function startEmulator() {
  const port = Number(
    execFileSync('python3', ['-c', 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'], {
      encoding: 'utf8',
    }).trim(),
  );
  const proc = spawn(process.env.EMULATOR, ['--port', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('emulator', async () => (await fetch(`${url}/__emulator/journal`)).ok, 20_000);
  const api = async (method, path, body) => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return { proc, url, api };
}

/** The Next button is enabled once the step is valid; then go on. */
async function next(s, step) {
  await waitFor(`step ${step} valid`, async () => (await s.enabled('[data-testid=wizard-next]')) || null, 30_000);
  await s.click('[data-testid=wizard-next]');
  await s.waitFind(`[data-testid=wizard-step-${step + 1}]`, 10_000);
}

/** The wizard's first step: the token (a wrong one first), against the emulator. */
async function tokenStep(s, emu, token, { wrongFirst, shots }) {
  await s.waitFind('[data-testid=wizard-step-1]', 30_000);
  await s.click('[data-testid=token-advanced]');
  await s.clear('[data-testid=token-api-url]');
  await s.type('[data-testid=token-api-url]', emu.url);
  if (wrongFirst) {
    await s.type('[data-testid=token-input]', 'eu--this-token-was-revoked');
    await s.click('[data-testid=token-verify]');
    const err = await s.waitText('[data-testid=token-error]', (t) => t.length > 0, 30_000);
    if (!/refused/i.test(err) || !/revoked/.test(err)) throw new Error(`wrong token shows "${err}"`);
    if (err.includes('this-token-was-revoked')) throw new Error('the error shows the token');
    if (shots) await s.screenshot('wizard-1-token-error.png');
    await s.clear('[data-testid=token-input]');
  }
  // Keyboard: Enter in the token field verifies it.
  await s.type('[data-testid=token-input]', `${token}\uE007`);
  const who = await s.waitText('[data-testid=token-result]', (t) => t.includes('Test User'), 30_000);
  if (who.includes(token)) throw new Error('the token is shown back');
  if (shots) await s.screenshot('wizard-1-token.png');
  await next(s, 1);
}

async function dataSourceStep(s, dsId, { shots }) {
  // Keyboard: each step puts the focus on its first field.
  const focused = await waitFor('the search field focused', async () =>
    (await s.exec('return document.activeElement && document.activeElement.dataset.testid;')) === 'ds-search' || null, 10_000);
  void focused;
  await s.click(`[data-testid=ds-item-${dsId}]`, 30_000);
  const info = await s.waitText('[data-testid=ds-info]', (t) => /3 entries/.test(t), 30_000);
  if (!info.includes('name')) throw new Error(`data source info: "${info}"`);
  if (shots) await s.screenshot('wizard-2-datasource.png');
  await next(s, 2);
}

async function queryStep(s, { broken, right, shots }) {
  if (broken) {
    await s.clear('[data-testid=query-input]');
    await s.type('[data-testid=query-input]', broken);
    await s.click('[data-testid=query-run]');
    const err = await s.waitText('[data-testid=query-error]', (t) => t.length > 0, 30_000);
    if (!err.includes('nam')) throw new Error(`broken query shows "${err}"`);
    if (shots) await s.screenshot('wizard-4-query-error.png');
  }
  await s.clear('[data-testid=query-input]');
  await s.type('[data-testid=query-input]', right);
  await s.click('[data-testid=query-run]');
  const table = await waitFor('the query table', async () => {
    const t = await content(s, '[data-testid=query-table]');
    return t.includes('Bob changed') ? t : null;
  }, 30_000);
  if (!table.includes('deleted')) throw new Error(`query table: "${table}"`);
  if (shots) await s.screenshot('wizard-4-query.png');
  await next(s, 4);
}

async function mappingToPreview(s, { shots }) {
  await s.select('[data-testid=map-primary]', 'id');
  await s.select('[data-testid=map-delete]', 'deleted');
  if (shots) await s.screenshot('wizard-5-mapping.png');
  await next(s, 5);
  if (shots) await s.screenshot('wizard-6-files.png');
  await next(s, 6);
  await s.select('[data-testid=schedule-preset]', 'every15');
  // The backend describes the expression and lists its next five runs.
  await waitFor('the schedule checked', async () => (await s.enabled('[data-testid=wizard-next]')) || null, 20_000);
  const words = await content(s, '[data-testid=schedule-description]');
  if (!/15/.test(words)) throw new Error(`schedule in words: "${words}"`);
  const times = await s.exec('return [...document.querySelectorAll("[data-testid=schedule-next] li")].map((l) => l.textContent);');
  if (times.length !== 5) throw new Error(`next runs: ${JSON.stringify(times)} (${words})`);
  if (shots) await s.screenshot('wizard-7-schedule.png');
  await next(s, 7);
}

/** After "Save and run now" the app shows the run (its outcome, counts and log); then the Jobs screen. */
async function savedAndRun(s) {
  await waitFor('the run view', async () => (await s.exec('return location.hash;')).startsWith('#/run/') || null, 60_000);
  await s.waitText('[data-testid=detail-outcome]', (t) => /Succeeded|Failed/.test(t), 60_000);
  await s.screenshot('wizard-saved-run.png');
  await s.go('#/jobs');
}

/** Step 8's counts, once the dry run is shown. */
async function previewCounts(s) {
  await s.waitFind('[data-testid=preview-counts]', 60_000);
  const n = async (k) => Number((await content(s, `[data-testid=preview-count-${k}]`)).match(/\d+/)?.[0]);
  return {
    inserted: await n('inserted'),
    updated: await n('updated'),
    deleted: await n('deleted'),
    unchanged: await n('unchanged'),
  };
}

async function main() {
  await waitFor('tauri-driver', async () => (await fetch(`${WD}/status`)).ok, 20_000);
  const emu = await startEmulator();
  let s;
  const sqliteFile = join(process.env.HOME, 'people.sqlite');
  try {
    // Fliplet: one data source with 2 (to update), 3 (flagged for deletion) and 5 (not in
    // the source: kept in update mode); and one the token may not read.
    const basic = await emu.api('POST', '/__emulator/setup-basic');
    await emu.api('POST', `/__emulator/data-sources/${basic.dataSourceId}/entries`, [
      { id: 2, name: 'Bob', deleted: 0 },
      { id: 3, name: 'Cy', deleted: 0 },
      { id: 5, name: 'Eve', deleted: 0 },
    ]);
    await emu.api('POST', '/__emulator/data-sources', { organizationId: basic.organizationId, name: 'HR (no access)' });
    const seed = `(1, 'Ann', 0), (2, 'Bob changed', 0), (3, 'Cy', 1), (4, 'Dee', 0)`;
    psql(`create table ${TABLE} (id int primary key, name text, deleted int); insert into ${TABLE} values ${seed};
          grant select on ${TABLE} to ${PG.user};`);

    await step('the wizard opens from the Jobs screen', async () => {
      s = await Session.start();
      current = s;
      await s.click('[data-testid=new-job]', 30_000);
      await s.waitFind('[data-testid=wizard-step-1]', 30_000);
    });

    await step('1. a wrong token shows why, the right one shows whose it is', async () => {
      await tokenStep(s, emu, basic.token, { wrongFirst: true, shots: true });
    });

    await step('2. the data source shows its columns and entry count', async () => {
      await dataSourceStep(s, basic.dataSourceId, { shots: true });
    });

    await step('3. a wrong PostgreSQL password shows the server message, the right one connects', async () => {
      await s.select('[data-testid=db-driver]', 'postgres');
      await s.clear('[data-testid=db-host]');
      await s.type('[data-testid=db-host]', PG.host);
      await s.clear('[data-testid=db-name]');
      await s.type('[data-testid=db-name]', PG.db);
      await s.clear('[data-testid=db-user]');
      await s.type('[data-testid=db-user]', PG.user);
      await s.type('[data-testid=db-password]', 'not-the-password');
      await s.click('[data-testid=db-test]');
      const err = await s.waitText('[data-testid=db-error]', (t) => t.length > 0, 30_000);
      if (!err.includes('password authentication failed')) throw new Error(`db error: "${err}"`);
      if (err.includes('not-the-password')) throw new Error('the password is shown');
      await s.screenshot('wizard-3-connection-error.png');
      await s.clear('[data-testid=db-password]');
      await s.type('[data-testid=db-password]', PG.password);
      await s.click('[data-testid=db-test]');
      await s.waitText('[data-testid=db-result]', (t) => t.includes('PostgreSQL'), 30_000);
      await s.screenshot('wizard-3-connection.png');
      await next(s, 3);
    });

    await step('4. a broken query shows the database message, the right one its first rows', async () => {
      await queryStep(s, {
        broken: `select id, nam from ${TABLE}`,
        right: `select id, name, deleted from ${TABLE} order by id`,
        shots: true,
      });
    });

    await step('5–7. mapping, files, schedule in words with the next five runs', async () => {
      await mappingToPreview(s, { shots: true });
    });

    let counts;
    await step('8. the preview shows inserts, the changed cell before → after, and the delete', async () => {
      counts = await previewCounts(s);
      const want = { inserted: 2, updated: 1, deleted: 1, unchanged: 0 };
      if (JSON.stringify(counts) !== JSON.stringify(want)) throw new Error(`counts ${JSON.stringify(counts)}`);
      const change = await content(s, '[data-testid=preview-updates]');
      if (!change.includes('Bob') || !change.includes('Bob changed')) throw new Error(`updates: "${change}"`);
      const del = await content(s, '[data-testid=preview-deletes]');
      if (!del.includes('Cy')) throw new Error(`deletes: "${del}"`);
      await s.clear('[data-testid=job-name]');
      await s.type('[data-testid=job-name]', 'people-sync');
      await s.screenshot('wizard-8-preview.png');
      // At the window's minimum size the step scrolls, the step list and the buttons stay.
      await wd('POST', `/session/${s.id}/window/rect`, { width: 640, height: 420 });
      await sleep(500);
      const fits = await s.exec(`const r = (t) => document.querySelector('[data-testid=' + t + ']').getBoundingClientRect();
        const b = r('save-run'); return b.bottom <= window.innerHeight && b.right <= window.innerWidth;`);
      await s.screenshot('wizard-8-preview-small.png');
      await wd('POST', `/session/${s.id}/window/rect`, { width: 980, height: 700 });
      if (!fits) throw new Error('Save and run now is cut off at 640x420');
      const writes = (await emu.api('GET', '/__emulator/journal')).filter((j) => j.method !== 'GET');
      if (writes.length) throw new Error(`the wizard wrote to Fliplet: ${JSON.stringify(writes.map((w) => w.path))}`);
    });

    await step('Save and run now commits exactly the previewed changes', async () => {
      await s.click('[data-testid=save-run]');
      await savedAndRun(s);
      const last = await s.waitText('[data-testid=job-people-sync] [data-testid=last-run]', (t) => /Succeeded|Failed/.test(t), 60_000);
      if (!last.includes('Succeeded')) throw new Error(`last run: "${last}"`);
      for (const [k, v] of Object.entries(counts)) {
        if (v > 0 && !last.includes(`${v} ${k}`)) throw new Error(`last run "${last}" lacks ${v} ${k}`);
      }
      const entries = await emu.api('GET', `/__emulator/data-sources/${basic.dataSourceId}/entries`);
      const names = entries.map((e) => e.data.name).sort();
      if (JSON.stringify(names) !== JSON.stringify(['Ann', 'Bob changed', 'Dee', 'Eve'])) {
        throw new Error(`entries on Fliplet: ${JSON.stringify(names)}`);
      }
      const nextRun = await s.text('[data-testid=job-people-sync] [data-testid=next-run]');
      if (!/in \d+ min|in under a minute/.test(nextRun)) throw new Error(`not scheduled: "${nextRun}"`);
      await s.screenshot('wizard-jobs.png');
    });

    await step('the job file holds keychain references only; the keychain holds the secrets', async () => {
      const text = readFileSync(join(JOBS_DIR, 'people-sync.yml'), 'utf8');
      if (text.includes(basic.token) || text.includes(PG.password)) throw new Error('a secret is in the job file');
      if (!/operations:/.test(text) || (text.match(/keychain:/g) ?? []).length < 2) throw new Error(text);
      if (secretToolLookup(`fliplet-agent/token-${basic.userId}`) !== basic.token) {
        throw new Error('the token is not in the keychain');
      }
    });

    await step("the Jobs screen's Preview finds nothing left to change", async () => {
      await s.click('[data-testid=job-people-sync] [data-testid=preview-job]');
      const c = await previewCounts(s);
      if (c.unchanged !== 3 || c.inserted + c.updated + c.deleted !== 0) throw new Error(`counts ${JSON.stringify(c)}`);
      await s.screenshot('preview-job.png');
    });

    await step('Edit opens the saved job in the wizard', async () => {
      await s.go('#/jobs');
      await s.click('[data-testid=job-people-sync] [data-testid=edit-job]');
      await s.waitFind('[data-testid=wizard-step-1]', 30_000);
      await s.waitFind('[data-testid=token-stored]', 10_000);
      // Each step checks itself again: the stored token, the data source, the connection.
      await next(s, 1);
      await s.waitFind('[data-testid=ds-info]', 30_000);
      await next(s, 2);
      const user = await s.exec('return document.querySelector("[data-testid=db-user]").value;');
      if (user !== PG.user) throw new Error(`database user in the form: "${user}"`);
      await s.waitFind('[data-testid=db-password-stored]', 10_000);
      await s.click('[data-testid=db-test]');
      await s.waitText('[data-testid=db-result]', (t) => t.includes('PostgreSQL'), 30_000);
      await next(s, 3);
      const q = await s.exec('return document.querySelector("[data-testid=query-input]").value;');
      if (!q.includes(TABLE)) throw new Error(`query in the editor: "${q}"`);
      await s.click('[data-testid=wizard-cancel]');
    });

    await step('Import opens an original fliplet-agent YAML in the wizard, its secrets moved to the keychain', async () => {
      const file = join(process.env.HOME, 'original.yml');
      const original = [
        `auth_token: ${basic.token}`,
        `api_url: ${emu.url}`,
        `datasource_id: ${basic.dataSourceId}`,
        'database_driver: postgres',
        `database_host: ${PG.host}`,
        `database_username: ${PG.user}`,
        `database_password: ${PG.password}`,
        `database_name: ${PG.db}`,
        `query: select id, name, deleted from ${TABLE}`,
        'primary_column: id',
        "frequency: '0 3 * * *'",
        '',
      ].join('\n');
      writeFileSync(file, original);
      await s.go('#/jobs');
      const discard = await s.findAll('[data-testid=wizard-discard]');
      if (discard.length) await s.click('[data-testid=wizard-discard]');
      await s.go(`#/import/${encodeURIComponent(file)}`);
      await s.waitFind('[data-testid=token-stored]', 30_000);
      if (secretToolLookup('fliplet-agent/original/auth_token') !== basic.token) throw new Error('the token was not moved');
      if (secretToolLookup('fliplet-agent/original/database_password') !== PG.password) throw new Error('the password was not moved');
      if (readFileSync(file, 'utf8') !== original) throw new Error('the imported file was changed');
      await next(s, 1);
      await s.waitFind('[data-testid=ds-info]', 30_000);
      await next(s, 2);
      // The moved password connects without being typed again.
      await s.waitFind('[data-testid=db-password-stored]', 10_000);
      await s.click('[data-testid=db-test]');
      await s.waitText('[data-testid=db-result]', (t) => t.includes('PostgreSQL'), 30_000);
      await s.screenshot('wizard-import.png');
      await s.click('[data-testid=wizard-cancel]');
    });

    await step('the same on SQLite: a file source previews and commits its counts', async () => {
      if (existsSync(sqliteFile)) rmSync(sqliteFile);
      sqlite(sqliteFile, `create table people (id integer primary key, name text, deleted integer);
        insert into people values (1, 'Ann', 0), (2, 'Bob changed', 0), (3, 'Cy', 1), (4, 'Dee', 0);`);
      // A second data source in the same state as the first one was.
      const ds = await emu.api('POST', '/__emulator/data-sources', { organizationId: basic.organizationId, name: 'People (SQLite)' });
      await emu.api('POST', '/__emulator/grants', { token: basic.token, dataSourceId: ds.id, perms: ['select', 'insert', 'update', 'delete'] });
      await emu.api('POST', `/__emulator/data-sources/${ds.id}/entries`, [
        { id: 2, name: 'Bob', deleted: 0 },
        { id: 3, name: 'Cy', deleted: 0 },
        { id: 5, name: 'Eve', deleted: 0 },
      ]);
      await s.go('#/jobs');
      const discard = await s.findAll('[data-testid=wizard-discard]');
      if (discard.length) await s.click('[data-testid=wizard-discard]');
      await s.click('[data-testid=new-job]');
      await tokenStep(s, emu, basic.token, { wrongFirst: false, shots: false });
      await dataSourceStep(s, ds.id, { shots: false });
      await s.select('[data-testid=db-driver]', 'sqlite');
      await s.type('[data-testid=db-file]', sqliteFile);
      await s.click('[data-testid=db-test]');
      await s.waitText('[data-testid=db-result]', (t) => t.includes('SQLite'), 30_000);
      await s.screenshot('wizard-3-sqlite.png');
      await next(s, 3);
      await queryStep(s, { right: 'select id, name, deleted from people order by id', shots: false });
      await mappingToPreview(s, { shots: false });
      const c = await previewCounts(s);
      if (c.inserted !== 2 || c.updated !== 1 || c.deleted !== 1) throw new Error(`counts ${JSON.stringify(c)}`);
      await s.clear('[data-testid=job-name]');
      await s.type('[data-testid=job-name]', 'people-sqlite');
      await s.click('[data-testid=save-run]');
      await savedAndRun(s);
      const last = await s.waitText('[data-testid=job-people-sqlite] [data-testid=last-run]', (t) => /Succeeded|Failed/.test(t), 60_000);
      if (!/2 inserted.*1 updated.*1 deleted/.test(last)) throw new Error(`last run: "${last}"`);
      const entries = await emu.api('GET', `/__emulator/data-sources/${ds.id}/entries`);
      const names = entries.map((e) => e.data.name).sort();
      if (JSON.stringify(names) !== JSON.stringify(['Ann', 'Bob changed', 'Dee', 'Eve'])) {
        throw new Error(`entries on Fliplet: ${JSON.stringify(names)}`);
      }
    });

    await step("closed to the tray, the light tray agent's menu lists the new jobs with their next run", async () => {
      await s.go('#/jobs');
      const discard = await s.findAll('[data-testid=wizard-discard]');
      if (discard.length) await s.click('[data-testid=wizard-discard]');
      await s.clickToClose('[data-testid=close-to-tray]');
      const trayPid = await waitFor('the tray agent holds the agent', async () => trayHolder(), 60_000);
      await s.end();
      s = null;
      const dest = await waitFor('the tray icon on D-Bus', async () => trayDest(trayPid));
      const menu = await waitFor('the new jobs in the tray menu', async () => {
        const labels = trayMenu(dest).map((i) => i.label);
        const ok = ['people-sync.yml: ', 'people-sqlite.yml: '].every((j) => labels.some((l) => l.startsWith(j)));
        return ok ? labels : null;
      }, 30_000);
      const job = menu.find((l) => l.startsWith('people-sync.yml: '));
      console.log(`  tray menu: ${JSON.stringify(menu)}`);
      if (!/next/i.test(job)) throw new Error(`the tray menu shows no next run: "${job}"`);
    });
  } finally {
    if (s) await s.end();
    const tray = trayHolder();
    if (tray) process.kill(tray, 'SIGTERM');
    emu.proc.kill();
    try {
      psql(`drop table if exists ${TABLE}`);
    } catch {}
    steps.summary();
  }
}

steps.run(main);
