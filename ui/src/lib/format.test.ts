import { describe, expect, it } from 'vitest';
import { countsText, durationText, jobState, relativeTime, triggerLabel } from './format';

describe('countsText', () => {
  it('lists non-zero counts in order', () => {
    expect(countsText({ inserted: 10, updated: 0, deleted: 1, unchanged: 3, skipped: 0 })).toBe(
      '10 inserted, 1 deleted, 3 unchanged',
    );
  });
  it('says no changes when everything is zero', () => {
    expect(countsText({ inserted: 0, updated: 0, deleted: 0, unchanged: 0, skipped: 0 })).toBe('no changes');
  });
});

describe('durationText', () => {
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
  it('formats ms, seconds and minutes', () => {
    expect(durationText({ started_at: at(0), finished_at: at(850) })).toBe('850 ms');
    expect(durationText({ started_at: at(0), finished_at: at(12_340) })).toBe('12.3 s');
    expect(durationText({ started_at: at(0), finished_at: at(245_000) })).toBe('4 min 05 s');
  });
  it('is empty while running', () => {
    expect(durationText({ started_at: at(0), finished_at: null })).toBe('');
  });
});

describe('relativeTime', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  it('is relative near now', () => {
    expect(relativeTime('2026-01-01T11:59:50Z', now)).toBe('just now');
    expect(relativeTime('2026-01-01T12:00:10Z', now)).toBe('in under a minute');
    expect(relativeTime('2026-01-01T12:15:00Z', now)).toBe('in 15 min');
    expect(relativeTime('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
  });
  it('shows a dash for nothing', () => {
    expect(relativeTime(null, now)).toBe('—');
    expect(relativeTime('garbage', now)).toBe('—');
  });
});

describe('jobState', () => {
  const run = (outcome: 'success' | 'failed') => ({
    id: 1, job: 'a', job_name: 'a.yml', operation: null, trigger: 'manual' as const,
    started_at: '', finished_at: '', outcome, counts: { inserted: 0, updated: 0, deleted: 0, unchanged: 0, skipped: 0 }, error: null,
  });
  it('orders running > invalid > failing > stale > paused > ok/new', () => {
    const stale = { stale: true };
    expect(jobState({ running: false, error: null, last_run: run('failed'), freshness: stale }, false)).toBe('failing');
    expect(jobState({ running: false, error: null, last_run: run('success'), freshness: stale }, true)).toBe('stale');
    expect(jobState({ running: false, error: null, last_run: null, freshness: stale }, false)).toBe('stale');
    expect(jobState({ running: false, error: null, last_run: run('success'), freshness: { stale: false } }, false)).toBe('ok');
    expect(jobState({ running: true, error: 'x', last_run: run('failed') }, true)).toBe('running');
    expect(jobState({ running: false, error: 'x', last_run: null }, false)).toBe('invalid');
    expect(jobState({ running: false, error: null, last_run: run('failed') }, true)).toBe('failing');
    expect(jobState({ running: false, error: null, last_run: run('success') }, true)).toBe('paused');
    expect(jobState({ running: false, error: null, last_run: run('success') }, false)).toBe('ok');
    expect(jobState({ running: false, error: null, last_run: null }, false)).toBe('new');
  });
  it('labels triggers', () => {
    expect(triggerLabel('dry_run')).toBe('Dry run');
  });
});
