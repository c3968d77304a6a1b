// Measurements for the README (run by scripts/measure_app.sh, inside the e2e harness):
// launch-to-interactive time, and idle RSS/PSS and CPU with 3 scheduled jobs, summed over ALL
// processes of the app (the window process, the light tray process, WebKit's web and network
// processes), window open, window closed (the agent handed to the light tray), started hidden.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session, sleep, waitFor } from './webdriver.mjs';
import { APP, TRAY, appProcesses, exeOf, lockHolder, memKb, trayHolder } from './procs.mjs';

const JOBS_DIR = join(process.env.XDG_CONFIG_HOME, 'fliplet-agent', 'jobs');
const LOG = process.env.FLIPLET_AGENT_LOG;
const SECONDS = Number(process.env.MEASURE_SECONDS ?? 60);
const HZ = 100;

async function measure(label) {
  await sleep(10_000); // settle
  const before = new Map(appProcesses().map((p) => [p.pid, p.ticks]));
  const t0 = Date.now();
  await sleep(SECONDS * 1000);
  const after = appProcesses();
  // CPU of the processes alive at the end (those started during the sample count in full).
  const ticks = after.reduce((a, p) => a + Math.max(0, p.ticks - (before.get(p.pid) ?? 0)), 0);
  const secs = (Date.now() - t0) / 1000;
  const rows = after.map((p) => ({ comm: p.comm, rss: memKb(p.pid, 'RSS'), pss: memKb(p.pid, 'Pss') }));
  const rss = rows.reduce((a, r) => a + r.rss, 0);
  const pss = rows.reduce((a, r) => a + r.pss, 0);
  const cpu = (ticks / HZ / secs) * 100;
  const r = {
    label,
    processes: rows.map((x) => `${x.comm} ${Math.round(x.rss / 1024)} MB`).join(', '),
    rss_mb: Math.round(rss / 1024),
    pss_mb: Math.round(pss / 1024),
    cpu_percent: Number(cpu.toFixed(2)),
    seconds: Math.round(secs),
  };
  console.log(JSON.stringify(r));
  return r;
}

async function trayHolds() {
  return waitFor('the tray agent holds the agent', async () => trayHolder(), 120_000);
}

function interactiveMs() {
  const lines = readFileSync(LOG, 'utf8').split('\n').filter((l) => l.includes('Window interactive'));
  const m = lines.at(-1)?.match(/interactive (\d+) ms/);
  return m ? Number(m[1]) : null;
}

async function main() {
  await waitFor('tauri-driver', async () => (await fetch(`${process.env.WEBDRIVER_URL}/status`)).ok, 20_000);
  const results = {};
  // 1. First launch in demo mode, then three scheduled jobs (two copies of the demo job).
  let s = await Session.start(['--demo']);
  await s.waitFind('[data-testid=job-demo]', 60_000);
  await s.click('[data-testid=job-demo] [data-testid=run-now]');
  await s.waitText('[data-testid=job-demo] [data-testid=last-run]', (t) => t.includes('Succeeded'), 60_000);
  const demo = readFileSync(join(JOBS_DIR, 'demo.yml'), 'utf8');
  writeFileSync(join(JOBS_DIR, 'demo-2.yml'), demo.replace("'*/15 * * * *'", "'5,20,35,50 * * * *'"));
  writeFileSync(join(JOBS_DIR, 'demo-3.yml'), demo.replace("'*/15 * * * *'", "'10 */2 * * *'"));
  await s.end();
  await sleep(2000);

  // 2. Launch with 3 scheduled jobs: time to an interactive window, then idle, window open.
  const launches = [];
  let tookBefore = readFileSync(LOG, 'utf8').split('\n').filter((l) => l.includes('Took the agent over')).length;
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    s = await Session.start();
    await s.waitFind('[data-testid=job-demo-3]', 60_000);
    const wall = Date.now() - t0;
    await waitFor('ui_ready log line', async () => interactiveMs() !== null);
    // Whether this launch took the agent over from a light tray process (the end of the
    // previous WebDriver session closed its window, which hands the agent over).
    const took = readFileSync(LOG, 'utf8').split('\n').filter((l) => l.includes('Took the agent over')).length;
    launches.push({ ui_ready_ms: interactiveMs(), webdriver_wall_ms: wall, took_over_from_tray: took > tookBefore });
    tookBefore = took;
    if (i < 2) {
      await s.end();
      await sleep(2000);
    }
  }
  results.launch = launches;
  console.log(JSON.stringify({ launch: launches }));
  results.open = await measure('window open, 3 scheduled jobs');

  // 3. Close the window: the window process hands the agent to the light tray and exits.
  await s.clickToClose('[data-testid=close-to-tray]');
  await trayHolds();
  await s.end();
  results.closed = await measure('window closed, 3 scheduled jobs');
  // Open again (a launch of the app, what the tray's Open does): the window process takes
  // the agent back.
  const readyLines = () => readFileSync(LOG, 'utf8').split('\n').filter((l) => l.includes('Window interactive')).length;
  const readyBefore = readyLines();
  const again = spawn(APP, [], { stdio: 'ignore' });
  await waitFor('the window process holds the agent', async () => lockHolder() === again.pid, 120_000);
  await waitFor('the reopened window is interactive', async () => readyLines() > readyBefore, 60_000);
  // Process start to the front end's first data, the handoff from the tray included.
  results.reopen_ui_ready_ms = interactiveMs();
  console.log(JSON.stringify({ reopen_ui_ready_ms: results.reopen_ui_ready_ms }));
  await sleep(5000);
  results.reopened_processes = appProcesses().map((p) => p.comm);
  console.log(JSON.stringify({ reopened: results.reopened_processes }));
  again.kill('SIGTERM');
  await waitFor('the window process exits', async () => appProcesses().length === 0, 30_000);

  // 4. Started hidden (autostart at login): the light tray at once, never a window.
  const hidden = spawn(APP, ['--hidden'], { stdio: 'ignore' });
  await trayHolds();
  results.hidden = await measure('started --hidden, 3 scheduled jobs');
  hidden.kill('SIGTERM');
  writeFileSync(process.env.MEASURE_OUT ?? 'target/measure-app.json', JSON.stringify(results, null, 2));
  console.log('1 passed, 0 failed');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(`FAIL ${e.stack ?? e}`);
    process.exit(1);
  },
);
