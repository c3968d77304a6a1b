import { describe, expect, it } from 'vitest';
import { cronToPreset, describePreset, formatRunTime, parseTime, presetToCron, switchPreset, type Preset } from './schedule';

describe('schedule presets', () => {
  it('turn into cron expressions', () => {
    expect(presetToCron({ kind: 'every15' })).toBe('*/15 * * * *');
    expect(presetToCron({ kind: 'hourly' })).toBe('0 * * * *');
    expect(presetToCron({ kind: 'daily', time: '02:30' })).toBe('30 2 * * *');
    expect(presetToCron({ kind: 'daily', time: '00:00' })).toBe('0 0 * * *');
    expect(presetToCron({ kind: 'weekly', day: 1, time: '08:05' })).toBe('5 8 * * 1');
    expect(presetToCron({ kind: 'weekly', day: 0, time: '23:59' })).toBe('59 23 * * 0');
    expect(presetToCron({ kind: 'never' })).toBe('');
    expect(presetToCron({ kind: 'custom', cron: '  30  6 * * 1-5 ' })).toBe('30 6 * * 1-5');
  });

  it('are recognised in existing expressions', () => {
    expect(cronToPreset('')).toEqual({ kind: 'never' });
    expect(cronToPreset('   ')).toEqual({ kind: 'never' });
    expect(cronToPreset('*/15 * * * *')).toEqual({ kind: 'every15' });
    expect(cronToPreset('0 */15 * * * *')).toEqual({ kind: 'every15' });
    expect(cronToPreset('0 * * * *')).toEqual({ kind: 'hourly' });
    expect(cronToPreset('30 2 * * *')).toEqual({ kind: 'daily', time: '02:30' });
    expect(cronToPreset('0 30 2 * * *')).toEqual({ kind: 'daily', time: '02:30' });
    expect(cronToPreset('5 8 * * 1')).toEqual({ kind: 'weekly', day: 1, time: '08:05' });
    expect(cronToPreset('0 0 * * 7')).toEqual({ kind: 'weekly', day: 0, time: '00:00' });
    expect(cronToPreset('0 9 * * fri')).toEqual({ kind: 'weekly', day: 5, time: '09:00' });
    for (const custom of ['30 6 * * 1-5', '0 0 1 * *', '*/5 * * * *', '0 */2 * * *', '15 * * * *', '0 24 * * *', '61 1 * * *', 'nonsense', '1 2 3', '5 0 2 * * *']) {
      expect(cronToPreset(custom)).toEqual({ kind: 'custom', cron: custom });
    }
  });

  it('round-trip through cron', () => {
    const presets: Preset[] = [
      { kind: 'every15' },
      { kind: 'hourly' },
      { kind: 'daily', time: '06:45' },
      { kind: 'weekly', day: 3, time: '12:00' },
      { kind: 'never' },
      { kind: 'custom', cron: '0 6 1 * *' },
    ];
    for (const p of presets) expect(cronToPreset(presetToCron(p))).toEqual(p);
  });

  it('are described in words', () => {
    expect(describePreset({ kind: 'every15' })).toBe('Every 15 minutes');
    expect(describePreset({ kind: 'hourly' })).toBe('Every hour, on the hour');
    expect(describePreset({ kind: 'daily', time: '02:30' })).toBe('Every day at 02:30');
    expect(describePreset({ kind: 'daily', time: '7:05' })).toBe('Every day at 07:05');
    expect(describePreset({ kind: 'weekly', day: 1, time: '08:00' })).toBe('Every Monday at 08:00');
    expect(describePreset({ kind: 'weekly', day: 0, time: '' })).toBe('Every Sunday (choose a time)');
    expect(describePreset({ kind: 'never' })).toMatch(/^Never/);
    expect(describePreset({ kind: 'custom', cron: '0 6 1 * *' })).toBe('Custom schedule: 0 6 1 * *');
  });

  it('parse times and keep what they can when switching', () => {
    expect(parseTime('23:59')).toEqual([23, 59]);
    expect(parseTime('24:00')).toBeNull();
    expect(parseTime('12:60')).toBeNull();
    expect(parseTime('noon')).toBeNull();
    expect(switchPreset({ kind: 'daily', time: '06:00' }, 'weekly')).toEqual({ kind: 'weekly', day: 1, time: '06:00' });
    expect(switchPreset({ kind: 'weekly', day: 4, time: '06:00' }, 'daily')).toEqual({ kind: 'daily', time: '06:00' });
    expect(switchPreset({ kind: 'hourly' }, 'daily')).toEqual({ kind: 'daily', time: '02:00' });
    expect(switchPreset({ kind: 'daily', time: '06:00' }, 'custom')).toEqual({ kind: 'custom', cron: '0 6 * * *' });
    expect(switchPreset({ kind: 'never' }, 'custom')).toEqual({ kind: 'custom', cron: '0 2 * * *' });
    expect(switchPreset({ kind: 'custom', cron: 'x' }, 'never')).toEqual({ kind: 'never' });
  });

  it('formats run times in local time', () => {
    const iso = '2025-03-03T02:00:00Z';
    expect(formatRunTime(iso, 'en-GB')).toBe(new Date(iso).toLocaleString('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' }));
    expect(formatRunTime('garbage')).toBe('garbage');
  });
});
