// Processes of the desktop app, read from /proc, for the e2e test and the measurements: the
// window process (APP), the light tray process (TRAY) and their children (WebKit's web and
// network processes), and who holds the agent lock.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export const APP = process.env.APP;
export const TRAY = process.env.TRAY;
export const DATA_DIR = join(process.env.XDG_DATA_HOME ?? '', 'fliplet-agent');

export function procs() {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (rest[0] === 'Z') continue; // exited, not reaped yet
      let exe = '';
      try {
        exe = readlinkSync(`/proc/${d}/exe`);
      } catch {}
      out.set(Number(d), { pid: Number(d), comm, exe, ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {}
  }
  return out;
}

/** Every process of the app: the window and tray processes and all their descendants. */
export function appProcesses() {
  const all = procs();
  const pids = new Set([...all.values()].filter((p) => p.exe === APP || (TRAY && p.exe === TRAY)).map((p) => p.pid));
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all.values()) if (!pids.has(p.pid) && pids.has(p.ppid)) (pids.add(p.pid), (grew = true));
  }
  return [...pids].map((p) => all.get(p)).filter(Boolean);
}

/** WebKit's web and network processes anywhere on the machine (WebKitWebDriver excluded). */
export function webkitProcesses() {
  return [...procs().values()].filter((p) => /^WebKit(WebProces|NetworkPr)/.test(p.comm));
}

export function exeOf(pid) {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

export function alive(pid) {
  const p = procs().get(pid);
  return Boolean(p);
}

/** The pid written in the agent lock file (the process running the schedules, if alive). */
export function lockHolder() {
  try {
    const pid = Number(readFileSync(join(DATA_DIR, 'agent.lock'), 'utf8').trim());
    return pid && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** The light tray process's pid when it holds the agent, else null. */
export function trayHolder() {
  const p = lockHolder();
  return p && exeOf(p) === TRAY ? p : null;
}

export function memKb(pid, field) {
  try {
    const file = field === 'Pss' ? `/proc/${pid}/smaps_rollup` : `/proc/${pid}/status`;
    const key = field === 'Pss' ? 'Pss:' : 'VmRSS:';
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(key));
    return line ? Number(line.split(/\s+/)[1]) : 0;
  } catch {
    return 0;
  }
}

/** A method call on the session bus (what a desktop's tray host does). */
export function gdbus(args) {
  return execFileSync('gdbus', ['call', '--session', ...args], { encoding: 'utf8' });
}

/** The light tray's menu (com.canonical.dbusmenu, served by ksni): [{ id, label }]. */
export function trayMenu(dest) {
  const layout = gdbus(['--dest', dest, '--object-path', '/MenuBar', '--method', 'com.canonical.dbusmenu.GetLayout', '--', '0', '-1', '@as []']);
  return [...layout.matchAll(/<\((\d+), \{([^}]*)\}/g)].map((m) => ({
    id: Number(m[1]),
    label: m[2].match(/'label': <'([^']*)'>/)?.[1] ?? '',
  }));
}

/** The light tray's D-Bus name, once process `trayPid` shows its icon. */
export function trayDest(trayPid) {
  const names = gdbus(['--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.ListNames']);
  return names.match(new RegExp(`org\\.kde\\.StatusNotifierItem-${trayPid}-\\d+`))?.[0] ?? null;
}
