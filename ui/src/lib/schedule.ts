// Schedule presets of the wizard <-> the cron expression saved in the job (`frequency`).
// Pure: the backend (describeSchedule) is the authority on what a cron expression means;
// this module only offers friendly presets and recognises them in an existing expression.

export type Preset =
  | { kind: 'every15' }
  | { kind: 'hourly' }
  /** `time` is "HH:MM" (24 h). */
  | { kind: 'daily'; time: string }
  /** `day` 0 = Sunday … 6 = Saturday. */
  | { kind: 'weekly'; day: number; time: string }
  | { kind: 'never' }
  | { kind: 'custom'; cron: string };

export type PresetKind = Preset['kind'];

export const PRESET_LABELS: Record<PresetKind, string> = {
  every15: 'Every 15 minutes',
  hourly: 'Every hour',
  daily: 'Every day at…',
  weekly: 'Every week on…',
  never: 'Never (only when run by hand)',
  custom: 'Custom cron expression',
};

export const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** "HH:MM" -> [hour, minute], or null when it is not a valid 24-hour time. */
export function parseTime(time: string): [number, number] | null {
  const m = /^(\d{1,2}):(\d{2})$/.exec(time.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  return h <= 23 && min <= 59 ? [h, min] : null;
}

const pad = (n: number) => String(n).padStart(2, '0');
const timeText = (h: number, m: number) => `${pad(h)}:${pad(m)}`;

/** The cron expression of a preset ('' = never scheduled). Custom expressions are trimmed. */
export function presetToCron(p: Preset): string {
  switch (p.kind) {
    case 'every15':
      return '*/15 * * * *';
    case 'hourly':
      return '0 * * * *';
    case 'daily': {
      const [h, m] = parseTime(p.time) ?? [0, 0];
      return `${m} ${h} * * *`;
    }
    case 'weekly': {
      const [h, m] = parseTime(p.time) ?? [0, 0];
      return `${m} ${h} * * ${((p.day % 7) + 7) % 7}`;
    }
    case 'never':
      return '';
    case 'custom':
      return p.cron.trim().replace(/\s+/g, ' ');
  }
}

function plainNumber(field: string, max: number): number | null {
  if (!/^\d{1,2}$/.test(field)) return null;
  const n = Number(field);
  return n <= max ? n : null;
}

function weekday(field: string): number | null {
  const n = plainNumber(field, 7);
  if (n !== null) return n % 7;
  const i = DAY_NAMES.indexOf(field.toUpperCase());
  return i >= 0 ? i : null;
}

/** The preset an existing expression matches, else `custom` (a leading `0` seconds field is accepted). */
export function cronToPreset(expr: string): Preset {
  const cron = expr.trim().replace(/\s+/g, ' ');
  if (cron === '') return { kind: 'never' };
  let f = cron.split(' ');
  if (f.length === 6 && /^0+$/.test(f[0])) f = f.slice(1);
  if (f.length === 5) {
    const [min, hour, dom, month, dow] = f;
    if (dom === '*' && month === '*') {
      if (hour === '*' && dow === '*') {
        if (min === '*/15' || min === '0/15' || min === '0,15,30,45') return { kind: 'every15' };
        if (plainNumber(min, 0) === 0) return { kind: 'hourly' };
      }
      const m = plainNumber(min, 59);
      const h = plainNumber(hour, 23);
      if (m !== null && h !== null) {
        const time = timeText(h, m);
        if (dow === '*') return { kind: 'daily', time };
        const d = weekday(dow);
        if (d !== null) return { kind: 'weekly', day: d, time };
      }
    }
  }
  return { kind: 'custom', cron };
}

/** A preset in words ("Every Monday at 08:00"). Custom expressions are described by the backend. */
export function describePreset(p: Preset): string {
  switch (p.kind) {
    case 'every15':
      return 'Every 15 minutes';
    case 'hourly':
      return 'Every hour, on the hour';
    case 'daily': {
      const t = parseTime(p.time);
      return t ? `Every day at ${timeText(...t)}` : 'Every day (choose a time)';
    }
    case 'weekly': {
      const t = parseTime(p.time);
      const day = WEEKDAYS[((p.day % 7) + 7) % 7];
      return t ? `Every ${day} at ${timeText(...t)}` : `Every ${day} (choose a time)`;
    }
    case 'never':
      return 'Never: the job runs only when you click Run now';
    case 'custom':
      return p.cron.trim() ? `Custom schedule: ${p.cron.trim()}` : 'Custom schedule (enter a cron expression)';
  }
}

/** Switching the preset select to `kind`, keeping what can be kept from the current preset. */
export function switchPreset(current: Preset, kind: PresetKind): Preset {
  const time = current.kind === 'daily' || current.kind === 'weekly' ? current.time : '02:00';
  switch (kind) {
    case 'daily':
      return { kind, time };
    case 'weekly':
      return { kind, time, day: current.kind === 'weekly' ? current.day : 1 };
    case 'custom':
      return { kind, cron: presetToCron(current) || '0 2 * * *' };
    default:
      return { kind };
  }
}

/** A next-run time (ISO 8601, UTC) in the user's local time: "Mon 3 Mar 2025, 02:00". */
export function formatRunTime(iso: string, locale?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(locale, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}
