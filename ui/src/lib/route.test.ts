import { describe, expect, it } from 'vitest';
import { parseRoute, routeHash } from './route';

describe('routes', () => {
  it('parses every screen', () => {
    expect(parseRoute('')).toEqual({ screen: 'jobs' });
    expect(parseRoute('#/jobs')).toEqual({ screen: 'jobs' });
    expect(parseRoute('#/history')).toEqual({ screen: 'history', job: null });
    expect(parseRoute('#/history/sales%20sync')).toEqual({ screen: 'history', job: 'sales sync' });
    expect(parseRoute('#/run/42')).toEqual({ screen: 'run', id: 42 });
    expect(parseRoute('#/run/abc')).toEqual({ screen: 'history', job: null });
    expect(parseRoute('#/settings')).toEqual({ screen: 'settings' });
    expect(parseRoute('#/nonsense')).toEqual({ screen: 'jobs' });
  });
  it('round-trips', () => {
    for (const h of ['#/jobs', '#/history', '#/history/demo', '#/run/7', '#/settings']) {
      expect(routeHash(parseRoute(h))).toBe(h);
    }
  });
});
