// Measurements for the README (run by scripts/measure_app.sh, inside the e2e harness):
// launch-to-interactive time, and idle RSS/PSS (app + WebKit child processes) and CPU with 3
// scheduled jobs, window open, window closed (webview destroyed), and started hidden.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session, sleep, waitFor, wd } from './webdriver.mjs';

const APP = process.env.APP;
const JOBS_DIR = join(process.env.XDG_CONFIG_HOME, 'fliplet-agent', 'jobs');
const LOG = process.env.FLIPLET_AGENT_LOG;
const SECONDS = Number(process.env.MEASURE_SECONDS ?? 60);
const HZ = 100;

function procs() {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      let exe = '';
      try {
        exe = readlinkSync(`/proc/${d}/exe`);
      } catch {}
      out.set(Number(d), { pid: Number(d), comm, exe, ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {}
  }
  return out;
}

function tree(rootPid) {
  const all = procs();
  const pids = new Set([rootPid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all.values()) if (!pids.has(p.pid) && pids.has(p.ppid)) (pids.add(p.pid), (grew = true));
  }
  return [...pids].map((p) => all.get(p)).filter(Boolean);
}

function memKb(pid, field) {
  try {
    const file = field === 'Pss' ? `/proc/${pid}/smaps_rollup` : `/proc/${pid}/status`;
    const key = field === 'Pss' ? 'Pss:' : 'VmRSS:';
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(key));
    return line ? Number(line.split(/\s+/)[1]) : 0;
  } catch {
    return 0;
  }
}

function appPid() {
  const found = [...procs().values()].filter((p) => p.exe === APP);
  if (found.length !== 1) throw new Error(`expected one app process, found ${found.length}`);
  return found[0].pid;
}

async function measure(label, rootPid) {
  await sleep(10_000); // settle
  const before = tree(rootPid);
  const t0 = Date.now();
  const ticks0 = before.reduce((a, p) => a + p.ticks, 0);
  await sleep(SECONDS * 1000);
  const after = tree(rootPid);
  const ticks1 = after.reduce((a, p) => a + p.ticks, 0);
  const secs = (Date.now() - t0) / 1000;
  const rows = after.map((p) => ({ comm: p.comm, rss: memKb(p.pid, 'RSS'), pss: memKb(p.pid, 'Pss') }));
  const rss = rows.reduce((a, r) => a + r.rss, 0);
  const pss = rows.reduce((a, r) => a + r.pss, 0);
  const cpu = ((Math.max(0, ticks1 - ticks0) / HZ) / secs) * 100;
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
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    s = await Session.start();
    await s.waitFind('[data-testid=job-demo-3]', 60_000);
    const wall = Date.now() - t0;
    await waitFor('ui_ready log line', async () => interactiveMs() !== null);
    launches.push({ ui_ready_ms: interactiveMs(), webdriver_wall_ms: wall });
    if (i < 2) {
      await s.end();
      await sleep(2000);
    }
  }
  results.launch = launches;
  console.log(JSON.stringify({ launch: launches }));
  const pid = appPid();
  results.open = await measure('window open, 3 scheduled jobs', pid);

  // 3. Close the window (the webview is destroyed; the app stays in the tray).
  await s.click('[data-testid=close-to-tray]');
  results.closed = await measure('window closed, 3 scheduled jobs', pid);
  // Open again (a second launch focuses the first instance, which recreates the window).
  const again = spawn(APP, [], { stdio: 'ignore' });
  await new Promise((r) => again.on('exit', r));
  await sleep(5000);
  results.reopened_processes = tree(pid).map((p) => p.comm);
  console.log(JSON.stringify({ reopened: results.reopened_processes }));
  await s.end();
  await sleep(2000);

  // 4. Started hidden (autostart at login): never had a window.
  const hidden = spawn(APP, ['--hidden'], { stdio: 'ignore' });
  await sleep(3000);
  results.hidden = await measure('started --hidden, 3 scheduled jobs', hidden.pid);
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
