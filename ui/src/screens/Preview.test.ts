import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { setInvoke } from '../lib/backend';
import Preview from './Preview.svelte';
import { samplePreview } from '../test/fixtures';
import type { JobPreview } from '../lib/types';

afterEach(() => cleanup());

function gated(blocked: number | null): JobPreview {
  const op = samplePreview.operations[0];
  return { ...samplePreview, operations: [{ ...op, plan: { ...op.plan!, blocked_deletes: blocked } }] };
}

describe('Preview screen', () => {
  it('offers to allow exactly the gated deletes once, and runs with that permission', async () => {
    const calls: [string, unknown][] = [];
    let preview = gated(120);
    setInvoke(async (cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'preview_job') return preview;
      if (cmd === 'run_job_allowing_deletes') {
        preview = gated(null);
        return {
          id: 9, job: 'staff', job_name: 'staff.yml', operation: null, trigger: 'manual',
          started_at: new Date().toISOString(), finished_at: new Date().toISOString(), outcome: 'success',
          counts: { inserted: 0, updated: 0, deleted: 120, unchanged: 3, skipped: 0 }, error: null,
        };
      }
      throw new Error(`unexpected ${cmd}`);
    });
    render(Preview, { props: { id: 'staff', onExit: () => {} } });
    const button = await screen.findByTestId('allow-once');
    expect(button.textContent).toContain('Allow these 120 deletes once');
    expect(screen.getByTestId('delete-gate').textContent).toContain('would delete 120');
    await fireEvent.click(button);
    await waitFor(() => expect(screen.getByTestId('allow-once-result').textContent).toContain('120 deleted'));
    expect(calls).toContainEqual(['run_job_allowing_deletes', { id: 'staff', deletes: 120 }]);
    // The fresh preview has nothing gated: the panel is gone.
    await waitFor(() => expect(screen.queryByTestId('delete-gate')).toBeNull());
  });

  it('shows no permission panel when nothing is gated', async () => {
    setInvoke(async () => gated(null));
    render(Preview, { props: { id: 'staff', onExit: () => {} } });
    await screen.findByTestId('preview');
    expect(screen.queryByTestId('delete-gate')).toBeNull();
  });
});
