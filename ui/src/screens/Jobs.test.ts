import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { setInvoke } from '../lib/backend';
import Jobs from './Jobs.svelte';
import type { JobStatus } from '../lib/types';
import type { Route } from '../lib/route';

afterEach(() => cleanup());

const demoJob: JobStatus = {
  id: 'demo', path: '/x/demo.yml', name: 'demo.yml', description: 'Push staff to Fliplet (demo)',
  frequency: '*/15 * * * *', schedule: 'Every 15 minutes.', next_run: null, sync_on_init: false,
  error: null, demo: true, secrets: [], running: false, freshness: null,
  last_run: {
    id: 3, job: 'demo', job_name: 'demo.yml', operation: null, trigger: 'manual',
    started_at: new Date().toISOString(), finished_at: new Date().toISOString(), outcome: 'success',
    counts: { inserted: 10, updated: 0, deleted: 0, unchanged: 0, skipped: 0 }, error: null,
  },
};

describe('Jobs screen', () => {
  it('offers the demo when there is no job, and creates it', async () => {
    const calls: string[] = [];
    let jobs: JobStatus[] = [];
    setInvoke(async (cmd) => {
      calls.push(cmd);
      if (cmd === 'create_demo') {
        jobs = [{ ...demoJob, last_run: null }];
        return jobs[0];
      }
      return jobs;
    });
    render(Jobs, { props: { onHistory: () => {} } });
    const button = await screen.findByTestId('create-demo');
    await fireEvent.click(button);
    await screen.findByTestId('job-demo');
    expect(calls).toContain('create_demo');
    expect(screen.getByTestId('last-run').textContent).toContain('never');
  });

  it('shows the last run with its counts and runs a job', async () => {
    const calls: [string, unknown][] = [];
    setInvoke(async (cmd, args) => {
      calls.push([cmd, args]);
      return cmd === 'list_jobs' ? [demoJob] : demoJob.last_run;
    });
    render(Jobs, { props: { onHistory: () => {} } });
    const card = await screen.findByTestId('job-demo');
    expect(card.textContent).toContain('Succeeded');
    expect(card.textContent).toContain('10 inserted');
    await fireEvent.click(screen.getByTestId('run-now'));
    expect(calls).toContainEqual(['run_job', { id: 'demo', dryRun: false }]);
  });

  it('shows a stale job with how long it has gone without a success', async () => {
    const since = new Date(Date.now() - 3 * 86_400_000).toISOString();
    const stale: JobStatus = {
      ...demoJob,
      freshness: {
        stale: true, last_success: since, since, stale_at: since, operation: 0,
        message: 'No successful run for 3 days — last success 28 Nov 10:02',
      },
    };
    setInvoke(async (cmd) => (cmd === 'list_jobs' ? [stale, { ...demoJob, id: 'fresh', freshness: { ...stale.freshness!, stale: false, message: null } }] : null));
    render(Jobs, { props: { onHistory: () => {} } });
    const card = await screen.findByTestId('job-demo');
    expect(card.querySelector('[data-testid=job-state]')?.textContent).toBe('stale');
    expect(card.querySelector('[data-testid=stale]')?.textContent).toContain(
      'No successful run for 3 days — last success 28 Nov 10:02',
    );
    const fresh = await screen.findByTestId('job-fresh');
    expect(fresh.querySelector('[data-testid=stale]')).toBeNull();
    expect(fresh.querySelector('[data-testid=job-state]')?.textContent).toBe('up to date');
  });

  it('opens the wizard for a new job, an imported file, and edits or previews a job', async () => {
    const calls: [string, unknown][] = [];
    setInvoke(async (cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'pick_file') return '/home/me/old job.yml';
      return [demoJob];
    });
    const routes: Route[] = [];
    render(Jobs, { props: { onHistory: () => {}, onGo: (r: Route) => routes.push(r) } });
    await screen.findByTestId('job-demo');
    await fireEvent.click(screen.getByTestId('new-job'));
    await fireEvent.click(screen.getByTestId('edit-job'));
    await fireEvent.click(screen.getByTestId('preview-job'));
    await fireEvent.click(screen.getByTestId('import-job'));
    await waitFor(() => expect(routes).toHaveLength(4));
    expect(routes).toEqual([
      { screen: 'new' },
      { screen: 'edit', id: 'demo' },
      { screen: 'preview', id: 'demo' },
      { screen: 'import', path: '/home/me/old job.yml' },
    ]);
    expect(calls).toContainEqual(['pick_file', { title: 'Import a fliplet-agent YAML file', extensions: ['yml', 'yaml'] }]);
  });
});
