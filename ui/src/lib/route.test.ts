import { describe, expect, it } from 'vitest';
import { isWizard, parseRoute, routeHash } from './route';

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
    expect(parseRoute('#/new')).toEqual({ screen: 'new' });
    expect(parseRoute('#/edit/sales.sync')).toEqual({ screen: 'edit', id: 'sales.sync' });
    expect(parseRoute('#/edit')).toEqual({ screen: 'jobs' });
    expect(parseRoute('#/preview/demo')).toEqual({ screen: 'preview', id: 'demo' });
    expect(parseRoute('#/preview')).toEqual({ screen: 'jobs' });
    expect(parseRoute('#/import')).toEqual({ screen: 'import', path: null });
    expect(parseRoute('#/import/%2Fhome%2Fme%2Fjob%201.yml')).toEqual({ screen: 'import', path: '/home/me/job 1.yml' });
    expect(parseRoute('#/import/C%3A%5Cjobs%5Cx.yml')).toEqual({ screen: 'import', path: 'C:\\jobs\\x.yml' });
  });
  it('knows the wizard routes', () => {
    expect(isWizard({ screen: 'new' })).toBe(true);
    expect(isWizard({ screen: 'edit', id: 'x' })).toBe(true);
    expect(isWizard({ screen: 'import', path: null })).toBe(true);
    expect(isWizard({ screen: 'preview', id: 'x' })).toBe(false);
    expect(isWizard({ screen: 'jobs' })).toBe(false);
  });
  it('round-trips', () => {
    for (const h of ['#/jobs', '#/history', '#/history/demo', '#/run/7', '#/settings', '#/new', '#/edit/a-b', '#/preview/demo', '#/import', '#/import/%2Ftmp%2Fx.yml']) {
      expect(routeHash(parseRoute(h))).toBe(h);
    }
  });
});
