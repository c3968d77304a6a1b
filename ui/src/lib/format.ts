import type { Outcome, RunCounts, RunSummary, Trigger } from './types';

const TRIGGERS: Record<Trigger, string> = {
  scheduled: 'Scheduled',
  manual: 'Run now',
  dry_run: 'Dry run',
  startup: 'At start-up',
};

const OUTCOMES: Record<Outcome, string> = {
  running: 'Running',
  success: 'Succeeded',
  failed: 'Failed',
  skipped: 'Skipped',
};

export const triggerLabel = (t: Trigger): string => TRIGGERS[t] ?? t;
export const outcomeLabel = (o: Outcome): string => OUTCOMES[o] ?? o;

/** "10 inserted, 2 updated, 1 deleted, 7 unchanged" (zero counts left out; "no changes"). */
export function countsText(c: RunCounts): string {
  const parts: string[] = [];
  if (c.inserted) parts.push(`${c.inserted} inserted`);
  if (c.updated) parts.push(`${c.updated} updated`);
  if (c.deleted) parts.push(`${c.deleted} deleted`);
  if (c.unchanged) parts.push(`${c.unchanged} unchanged`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  return parts.length ? parts.join(', ') : 'no changes';
}

/** Duration of a run: "850 ms", "12.3 s", "4 min 05 s"; "" while running. */
export function durationText(r: Pick<RunSummary, 'started_at' | 'finished_at'>): string {
  if (!r.finished_at) return '';
  const ms = Date.parse(r.finished_at) - Date.parse(r.started_at);
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m} min ${String(s).padStart(2, '0')} s`;
}

/** A time relative to `now`: "just now", "in 5 min", "3 h ago", else the local date and time. */
export function relativeTime(iso: string | null, now: Date = new Date()): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  const diff = t - now.getTime();
  const abs = Math.abs(diff);
  const fmt = (n: number, unit: string) => (diff >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`);
  if (abs < 45_000) return diff > 0 ? 'in under a minute' : 'just now';
  if (abs < 3_600_000) return fmt(Math.round(abs / 60_000), 'min');
  if (abs < 86_400_000) return fmt(Math.round(abs / 3_600_000), 'h');
  return new Date(t).toLocaleString();
}

/** The state a job card shows. */
export function jobState(
  j: { running: boolean; error: string | null; last_run: RunSummary | null; freshness?: { stale: boolean } | null },
  paused: boolean,
): 'running' | 'invalid' | 'failing' | 'stale' | 'paused' | 'ok' | 'new' {
  if (j.running) return 'running';
  if (j.error) return 'invalid';
  if (j.last_run?.outcome === 'failed') return 'failing';
  if (j.freshness?.stale) return 'stale';
  if (paused) return 'paused';
  return j.last_run ? 'ok' : 'new';
}

/** A JSON value as cell text: strings as they are, null as "", objects as JSON. */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** "1 entry", "3 entries". */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
