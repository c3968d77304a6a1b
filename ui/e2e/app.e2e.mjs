// End-to-end test of the REAL desktop app, driven over WebDriver (tauri-driver +
// WebKitWebDriver). Run through scripts/e2e.sh, which provides Xvfb, a private D-Bus session
// with an unlocked gnome-keyring, temporary HOME/XDG folders, and starts tauri-driver.
//
// Env: APP (app binary), CLI (fliplet-agent binary), WEBDRIVER_URL, SCREENSHOTS (folder),
// XDG_CONFIG_HOME (to find the job files), FLIPLET_STALE_CHECK_SECS (the stale-data
// watchdog's period, short here).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Steps, secretToolLookup } from './harness.mjs';
import { Session, sleep, waitFor, wd } from './webdriver.mjs';
import { DATA_DIR, TRAY, alive, appProcesses, exeOf, gdbus, lockHolder, memKb, trayDest, trayHolder, trayMenu, webkitProcesses } from './procs.mjs';

const APP = process.env.APP;
const CLI = process.env.CLI;
const WD = process.env.WEBDRIVER_URL ?? 'http://127.0.0.1:4444';
const JOBS_DIR = join(process.env.XDG_CONFIG_HOME, 'fliplet-agent', 'jobs');
const SECRET = `eu--e2e-${Math.random().toString(36).slice(2, 10)}`;

const steps = new Steps();
const step = (name, fn) => steps.step(name, fn);
const CHECK_SECS = Number(process.env.FLIPLET_STALE_CHECK_SECS ?? 60);

// Desktop notifications as the session bus carries them: every Notify call of either app
// process (there is no notification server here; the calls are made all the same).
let busLog = '';
const busMonitor = spawn('dbus-monitor', ['--session', 'type=method_call,interface=org.freedesktop.Notifications,member=Notify'], {
  stdio: ['ignore', 'pipe', 'ignore'],
});
busMonitor.stdout.on('data', (d) => (busLog += d));

/** Notify calls on the session bus with this summary (title). */
const notifyCalls = (title) => busLog.split('\n').filter((l) => l.trim() === `string "${title}"`).length;

/** "Notification: <title>: <body>" lines of the app's log with this title. */
const loggedNotifications = (title) =>
  readFileSync(process.env.FLIPLET_AGENT_LOG, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`Notification: ${title}: `));

const STALE = 'demo.yml has stale data';

/** Make the demo job stale a few seconds after a success (`stale_after`), or undo it. */
function staleAfter(value) {
  const path = join(JOBS_DIR, 'demo.yml');
  const text = readFileSync(path, 'utf8').replace(/^stale_after: .*\n/m, '');
  writeFileSync(path, value ? `${text}stale_after: ${value}\n` : text);
}

/** Runs of the demo job recorded by schedules (read from the history database). */
function scheduledRuns() {
  const out = execFileSync(
    'sqlite3',
    [join(DATA_DIR, 'history.sqlite'), "select count(*) from runs where job = 'demo' and trigger = 'scheduled' and outcome = 'success'"],
    { encoding: 'utf8' },
  );
  return Number(out.trim());
}

/** Launch the app with `args` and wait for it to exit; its exit code, or 'timeout'. */
function launch(args) {
  return new Promise((resolve) => {
    const p = spawn(APP, args, { stdio: 'ignore' });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      resolve('timeout');
    }, 20_000);
    p.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
}

async function main() {
  await waitFor('tauri-driver', async () => (await fetch(`${WD}/status`)).ok, 20_000);
  let s;
  let runsBeforeQuit = 0;
  try {
    await step('app starts and shows the demo offer on first launch', async () => {
      s = await Session.start();
      await s.waitFind('[data-testid=create-demo]', 30_000);
      console.log(`  session + first screen: ${s.startedMs} ms to session`);
    });

    await step('demo job is created', async () => {
      await s.click('[data-testid=create-demo]');
      await s.waitFind('[data-testid=job-demo]', 30_000);
      const next = await s.text('[data-testid=job-demo] [data-testid=next-run]');
      if (!/in \d+ min|in under a minute/.test(next)) throw new Error(`next run shows "${next}"`);
    });

    await step('running the demo job inserts 10 entries', async () => {
      await s.click('[data-testid=job-demo] [data-testid=run-now]');
      await s.waitText('[data-testid=job-demo] [data-testid=last-run]', (t) => t.includes('Succeeded'), 60_000);
      const t = await s.text('[data-testid=job-demo] [data-testid=last-run]');
      if (!t.includes('10 inserted')) throw new Error(`last run shows "${t}"`);
      await s.screenshot('jobs.png');
    });

    await step('a dry run finds nothing to change', async () => {
      await s.click('[data-testid=job-demo] [data-testid=dry-run]');
      await s.waitText('[data-testid=job-demo] [data-testid=last-run]', (t) => t.includes('10 unchanged'), 60_000);
    });

    await step('History lists both runs with the right counts, and a run opens with its log', async () => {
      await s.click('[data-testid=nav-history]');
      await s.waitFind('[data-testid=runs]');
      const rows = await waitFor('2 runs', async () => {
        const r = await s.findAll('tr.run');
        return r.length === 2 ? r : null;
      });
      const texts = [];
      for (const r of rows) texts.push(await wd('GET', s.p(`/element/${r}/text`)));
      // Newest first: the dry run, then the real run.
      if (!/Dry run/.test(texts[0]) || !/10 unchanged/.test(texts[0])) throw new Error(`row 1: ${texts[0]}`);
      if (!/Run now/.test(texts[1]) || !/Succeeded/.test(texts[1]) || !/10 inserted/.test(texts[1]))
        throw new Error(`row 2: ${texts[1]}`);
      await s.screenshot('history.png');
      const testid = await wd('GET', s.p(`/element/${rows[1]}/attribute/data-testid`));
      await s.click(`[data-testid=${testid}] [data-testid=open-run]`);
      const log = await s.waitText('[data-testid=run-log]', (t) => t.includes('Authentication has been verified'));
      if (!log.includes('Connection has been established')) throw new Error(`log: ${log}`);
      const counts = await s.text('[data-testid=detail-counts]');
      if (counts !== '10 inserted') throw new Error(`detail counts: ${counts}`);
      await s.screenshot('run.png');
    });

    await step('a secret edited in Settings is in the keychain, not in the job file', async () => {
      await s.click('[data-testid=nav-settings]');
      await s.click('[data-testid=secret-key] option[value=auth_token]');
      await s.type('[data-testid=secret-value]', SECRET);
      await s.click('[data-testid=secret-save]');
      const msg = await s.waitText('[data-testid=settings-message]', (t) => t.includes('keychain:'));
      if (!msg.includes('OS keychain')) throw new Error(`stored in: ${msg}`);
      const stored = secretToolLookup('fliplet-agent/demo/auth_token');
      if (stored !== SECRET) throw new Error(`secret-tool lookup gave ${JSON.stringify(stored)}`);
      const file = readFileSync(join(JOBS_DIR, 'demo.yml'), 'utf8');
      if (file.includes(SECRET)) throw new Error('the secret value is in the job file');
      if (!file.includes('auth_token: keychain:fliplet-agent/demo/auth_token'))
        throw new Error(`job file has no reference:\n${file}`);
      await s.screenshot('settings.png');
    });

    await step('the edited token is used: the run fails, and the token is not in the history', async () => {
      await s.go('#/jobs');
      await s.click('[data-testid=job-demo] [data-testid=run-now]');
      const t = await s.waitText('[data-testid=job-demo] [data-testid=last-run]', (t) => t.includes('Failed'), 60_000);
      if (!/authenticate|token/i.test(t)) throw new Error(`failed run shows: ${t}`);
      if (t.includes(SECRET)) throw new Error('the token is shown in the error');
      await s.screenshot('jobs-failed.png');
      await s.go('#/history');
      await s.waitFind('tr.run.failed');
      const log = readFileSync(process.env.FLIPLET_AGENT_LOG, 'utf8');
      if (!/Notification: demo.yml failed/.test(log)) throw new Error('no failure notification');
      if (log.includes(SECRET)) throw new Error('the token is in the log file');
    });

    await step('the right token again: the run succeeds and the recovery is notified', async () => {
      await s.go('#/settings');
      await s.click('[data-testid=secret-key] option[value=auth_token]');
      await s.type('[data-testid=secret-value]', 'eu--demo-token');
      await s.click('[data-testid=secret-save]');
      await s.waitText('[data-testid=settings-message]', (t) => t.includes('keychain:'));
      await s.go('#/jobs');
      await s.click('[data-testid=job-demo] [data-testid=run-now]');
      await s.waitText('[data-testid=job-demo] [data-testid=last-run]', (t) => t.includes('Succeeded'), 60_000);
      const log = await waitFor('recovery notification', async () =>
        /Notification: demo.yml recovered: It ran successfully after 1 failed run\./.test(
          readFileSync(process.env.FLIPLET_AGENT_LOG, 'utf8'),
        ),
      );
      void log;
    });

    await step('stale-data watchdog: the card shows a stale job, notified once per stale episode', async () => {
      if (CHECK_SECS > 5) throw new Error(`FLIPLET_STALE_CHECK_SECS is ${CHECK_SECS}: scripts/e2e.sh makes it short`);
      if (loggedNotifications(STALE).length || notifyCalls(STALE)) throw new Error('a stale notification before the test');
      // The last run succeeded just now; 4 seconds after it the data counts as stale.
      staleAfter('4s');
      const note = await s.waitText('[data-testid=job-demo] [data-testid=stale]', (t) => t.includes('No successful run for'), 30_000);
      if (!/No successful run for \d+ seconds — last success \d+ \w+ \d\d:\d\d\. The data in Fliplet may be out of date\./.test(note))
        throw new Error(`stale note: ${note}`);
      const badge = await s.text('[data-testid=job-demo] [data-testid=job-state]');
      if (badge !== 'stale') throw new Error(`badge: ${badge}`);
      const opacity = await s.exec('return getComputedStyle(document.querySelector("[data-testid=job-demo] [data-testid=job-state]")).opacity;');
      if (opacity !== '1') throw new Error(`the stale badge is faded (opacity ${opacity})`);
      await waitFor('the stale notification', async () => loggedNotifications(STALE).length === 1 && notifyCalls(STALE) === 1, 20_000);
      const line = loggedNotifications(STALE)[0];
      if (!/Notification: demo\.yml has stale data: No successful run for \d+ seconds — last success .+\.$/.test(line))
        throw new Error(`notification: ${line}`);
      await s.screenshot('jobs-stale.png');
      // Once per episode: more checks go by without a second notification.
      await sleep(3 * CHECK_SECS * 1000 + 500);
      if (loggedNotifications(STALE).length !== 1 || notifyCalls(STALE) !== 1)
        throw new Error(`notified ${loggedNotifications(STALE).length} times (bus: ${notifyCalls(STALE)})`);
      // A successful run ends the episode: the card is fresh again...
      await s.click('[data-testid=job-demo] [data-testid=run-now]');
      await s.waitText('[data-testid=job-demo] [data-testid=run-now]', (t) => t === 'Run now', 60_000);
      await waitFor('the stale note gone', async () => (await s.findAll('[data-testid=job-demo] [data-testid=stale]')).length === 0, 10_000);
      // ...until 4 seconds later a new episode begins, notified once more.
      await waitFor('the second episode notified', async () => loggedNotifications(STALE).length === 2 && notifyCalls(STALE) === 2, 30_000);
      await s.waitFind('[data-testid=job-demo] [data-testid=stale]', 10_000);
      staleAfter(null);
      await waitFor('fresh again under the default rule', async () => (await s.findAll('[data-testid=job-demo] [data-testid=stale]')).length === 0, 20_000);
      await s.screenshot('jobs-fresh-again.png');
    });

    await step('the command line runs the job file the app saved (keychain references resolved)', async () => {
      const out = execFileSync(CLI, ['start', '--test', join(JOBS_DIR, 'demo.yml')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      void out;
    });

    await step('Settings switches start-at-login on (hidden in the tray) and off again', async () => {
      const dir = join(process.env.HOME, '.config', 'autostart');
      const entries = () => {
        try {
          return readdirSync(dir).filter((f) => f.endsWith('.desktop')).map((f) => readFileSync(join(dir, f), 'utf8'));
        } catch {
          return [];
        }
      };
      if (entries().length) throw new Error('an autostart entry exists before the switch');
      await s.go('#/settings');
      await s.click('[data-testid=autostart]');
      const entry = await waitFor('the autostart entry', async () => entries()[0] ?? null, 10_000).catch(async (e) => {
        const shown = await s.exec('return document.body.innerText;');
        console.log(`  settings screen: ${shown}`);
        throw e;
      });
      const exec = entry.split('\n').find((l) => l.startsWith('Exec='));
      if (!exec || !exec.includes(APP) || !exec.includes('--hidden')) throw new Error(`autostart entry: ${entry}`);
      await waitFor('the switch shows on', async () => (await s.exec('return document.querySelector("[data-testid=autostart]").checked;')) || null, 10_000);
      await s.click('[data-testid=autostart]');
      await waitFor('the autostart entry removed', async () => entries().length === 0 || null, 10_000);
      await s.go('#/jobs');
    });

    await step('closing the window hands the agent to the light tray: no WebKit, schedules still run', async () => {
      if (!TRAY) throw new Error('TRAY (the fliplet-agent-tray binary) is not set');
      const demoPath = join(JOBS_DIR, 'demo.yml');
      // Every 4 seconds from now on: the tray agent reads the schedules when it takes over.
      writeFileSync(demoPath, readFileSync(demoPath, 'utf8').replace("'*/15 * * * *'", "'*/4 * * * * *'"));
      const windowPid = lockHolder();
      if (!windowPid || exeOf(windowPid) !== APP) throw new Error(`the agent lock is held by ${windowPid} (${exeOf(windowPid)})`);
      const before = scheduledRuns();
      await s.clickToClose('[data-testid=close-to-tray]');
      const trayPid = await waitFor('the tray agent holds the agent', async () => trayHolder(), 60_000);
      await waitFor('the window process exits', async () => !alive(windowPid), 30_000);
      await s.end();
      s = null;
      await waitFor('WebKit processes gone', async () => webkitProcesses().length === 0, 30_000);
      const procs = appProcesses();
      if (procs.length !== 1 || procs[0].pid !== trayPid)
        throw new Error(`app processes: ${procs.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
      const maps = readFileSync(`/proc/${trayPid}/maps`, 'utf8');
      if (/libwebkit|libgtk/.test(maps)) throw new Error('the tray process loaded GTK or WebKit');
      await waitFor('scheduled runs recorded by the tray agent', async () => scheduledRuns() >= before + 2, 40_000);
      console.log(`  tray agent pid ${trayPid}: ${Math.round(memKb(trayPid, 'RSS') / 1024)} MB RSS; scheduled runs ${before} -> ${scheduledRuns()}`);
      // No second scheduler: a launch at login (--hidden) while the tray runs exits at once.
      const code = await launch(['--hidden']);
      if (code !== 0) throw new Error(`hidden launch exit: ${code}`);
      if (lockHolder() !== trayPid || appProcesses().length !== 1) throw new Error('a hidden launch changed the agent');
      const log = readFileSync(process.env.FLIPLET_AGENT_LOG, 'utf8');
      if (!/Fliplet Agent already runs \(pid \d+\); this launch exits\./.test(log)) throw new Error('no "already runs" log line');
      writeFileSync(demoPath, readFileSync(demoPath, 'utf8').replace("'*/4 * * * * *'", "'*/15 * * * *'"));
    });

    await step('Open (a new window process) takes the agent back from the tray agent', async () => {
      const trayPid = lockHolder();
      const runs = scheduledRuns();
      s = await Session.start();
      await s.waitFind('[data-testid=job-demo]', 60_000);
      await waitFor('the tray agent exits', async () => !alive(trayPid), 60_000);
      const holder = lockHolder();
      if (exeOf(holder) !== APP) throw new Error(`the agent lock is held by ${holder} (${exeOf(holder)})`);
      const trays = appProcesses().filter((p) => p.exe === TRAY);
      if (trays.length) throw new Error(`tray processes still running: ${trays.map((p) => p.pid)}`);
      // The tray agent's scheduled runs are in the window's History.
      await s.go('#/history');
      await waitFor('scheduled runs in History', async () => {
        const rows = await s.findAll('tr.run');
        let n = 0;
        for (const r of rows) if (/Scheduled/.test(await wd('GET', s.p(`/element/${r}/text`)))) n++;
        return n >= runs && n > 0;
      });
      const log = readFileSync(process.env.FLIPLET_AGENT_LOG, 'utf8');
      if (!/Took the agent over from the tray agent\./.test(log)) throw new Error('no handoff log line');
    });

    await step('quit from the app', async () => {
      await s.go('#/history');
      runsBeforeQuit = (await waitFor('runs', async () => s.findAll('tr.run'))).length;
      await s.go('#/settings');
      await s.clickToClose('[data-testid=quit]');
      await sleep(1500);
      await s.end();
      s = null;
    });

    await step('after a restart the history is still there', async () => {
      s = await Session.start();
      await s.waitFind('[data-testid=job-demo]', 30_000);
      await s.go('#/history');
      const rows = await waitFor('runs after restart', async () => {
        const r = await s.findAll('tr.run');
        return r.length === runsBeforeQuit && r.length > 0 ? r : null;
      });
      const last = await wd('GET', s.p(`/element/${rows[rows.length - 1]}/text`));
      if (!/10 inserted/.test(last)) throw new Error(`oldest run after restart: ${last}`);
    });

    await step('the demo still runs after the restart (emulator restarted, its state kept)', async () => {
      const before = (await s.findAll('tr.run')).length;
      await s.go('#/jobs');
      await s.click('[data-testid=job-demo] [data-testid=run-now]');
      await s.waitText('[data-testid=job-demo] [data-testid=run-now]', (t) => t === 'Run now', 60_000);
      await s.go('#/history');
      const rows = await waitFor('one more run', async () => {
        const r = await s.findAll('tr.run');
        return r.length === before + 1 ? r : null;
      });
      const newest = await wd('GET', s.p(`/element/${rows[0]}/text`));
      // Entries synced before the restart are still in the emulator: nothing to insert.
      if (!/Run now/.test(newest) || !/Succeeded/.test(newest) || !/10 unchanged/.test(newest))
        throw new Error(`newest run: ${newest}`);
    });

    await step('a second launch exits and leaves the first instance', async () => {
      const t0 = Date.now();
      const code = await launch([]);
      if (code !== 0) throw new Error(`second instance exit: ${code}`);
      console.log(`  second instance exited in ${Date.now() - t0} ms`);
      // The first instance is still there and answers.
      await s.go('#/jobs');
      await s.waitFind('[data-testid=job-demo]');
    });
    await step("the light tray's menu over D-Bus: Open starts the window process, which takes the agent back", async () => {
      await s.clickToClose('[data-testid=close-to-tray]');
      const trayPid = await waitFor('the tray agent holds the agent', async () => trayHolder(), 60_000);
      await s.end();
      s = null;
      const dest = await waitFor('the tray icon on D-Bus', async () => trayDest(trayPid));
      const menu = await waitFor('the job in the menu', async () => {
        const m = trayMenu(dest);
        return m.some((i) => i.label.startsWith('demo.yml: ')) ? m : null;
      });
      const labels = menu.map((i) => i.label).filter(Boolean);
      for (const l of ['Run all now', 'Pause schedules', 'Open Fliplet Agent', 'Quit'])
        if (!labels.includes(l)) throw new Error(`menu: ${JSON.stringify(labels)}`);
      console.log(`  tray menu: ${JSON.stringify(labels)}`);
      // The stale-data watchdog runs in the light tray too: its icon's tooltip and the job's
      // label say so, and the notification comes from this process.
      const notifiedBefore = loggedNotifications(STALE).length;
      staleAfter('3s');
      const staleLabel = await waitFor('a stale label in the tray menu', async () =>
        trayMenu(dest).find((i) => /^demo\.yml: .* · ⚠ stale: no success for \d+ (seconds?|minutes?)( · |$)/.test(i.label))?.label, 30_000);
      console.log(`  stale tray label: ${staleLabel}`);
      const tip = gdbus(['--dest', dest, '--object-path', '/StatusNotifierItem', '--method', 'org.freedesktop.DBus.Properties.Get', 'org.kde.StatusNotifierItem', 'ToolTip']);
      if (!tip.includes("Fliplet Agent: a job's data is stale")) throw new Error(`tooltip: ${tip}`);
      await waitFor('the tray agent notifies the stale job', async () => loggedNotifications(STALE).length === notifiedBefore + 1, 20_000);
      const open = menu.find((i) => i.label === 'Open Fliplet Agent');
      gdbus(['--dest', dest, '--object-path', '/MenuBar', '--method', 'com.canonical.dbusmenu.Event', '--', String(open.id), "'clicked'", '<int32 0>', 'uint32 0']);
      const windowPid = await waitFor('the window process holds the agent', async () => {
        const p = lockHolder();
        return p && exeOf(p) === APP ? p : null;
      }, 60_000);
      await waitFor('the tray agent exits', async () => !alive(trayPid), 60_000);
      await waitFor('the window (WebKit) is back', async () => webkitProcesses().length > 0, 60_000);
      // The window process took the agent (and the watchdog) over: the same stale episode is
      // not notified again.
      await sleep(3 * CHECK_SECS * 1000 + 500);
      const after = loggedNotifications(STALE).length;
      if (after !== notifiedBefore + 1) throw new Error(`after the handoff: ${after - notifiedBefore} stale notifications`);
      staleAfter(null);
      // This window process was not started by WebDriver: end it here.
      process.kill(windowPid, 'SIGTERM');
      await waitFor('the window process exits', async () => !alive(windowPid), 30_000);
    });
  } finally {
    if (s) await s.end();
    const tray = trayHolder();
    if (tray) process.kill(tray, 'SIGTERM');
    busMonitor.kill();
    steps.summary();
  }
}

steps.run(main);
