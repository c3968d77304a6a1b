import { afterEach, describe, expect, it } from 'vitest';
import { backend, setInvoke, toAppError } from './backend';

afterEach(() => setInvoke(async () => undefined));

describe('backend', () => {
  it('passes command names and camelCase arguments', async () => {
    const calls: [string, unknown][] = [];
    setInvoke(async (cmd, args) => {
      calls.push([cmd, args]);
      return { id: 1 };
    });
    await backend.runJob('demo', true);
    await backend.setSecret('demo', 'auth_token', 'x');
    await backend.runs(null, 5);
    expect(calls).toEqual([
      ['run_job', { id: 'demo', dryRun: true }],
      ['set_secret', { job: 'demo', key: 'auth_token', value: 'x' }],
      ['list_runs', { job: null, limit: 5 }],
    ]);
  });

  it('rejects with {code, message}', async () => {
    setInvoke(async () => {
      throw { code: 'not_found', message: 'There is no job `x`' };
    });
    await expect(backend.runJob('x')).rejects.toEqual({ code: 'not_found', message: 'There is no job `x`' });
    setInvoke(async () => {
      throw 'plain string';
    });
    await expect(backend.listJobs()).rejects.toEqual({ code: 'other', message: 'plain string' });
  });

  it('wraps Error objects', () => {
    expect(toAppError(new Error('boom'))).toEqual({ code: 'other', message: 'boom' });
  });
});
