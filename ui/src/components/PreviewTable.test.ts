import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen, within } from '@testing-library/svelte';
import JobPreviewView from './JobPreviewView.svelte';
import { samplePreview } from '../test/fixtures';
import type { JobPreview } from '../lib/types';

afterEach(() => cleanup());

describe('preview tables', () => {
  it('renders counts, inserts, updates before → after, deletes and skipped rows', () => {
    render(JobPreviewView, { props: { preview: samplePreview } });

    const counts = screen.getByTestId('preview-counts');
    expect(counts.textContent).toMatch(/1\s*to insert/);
    expect(counts.textContent).toMatch(/1\s*to update/);
    expect(counts.textContent).toMatch(/2\s*to delete/);
    expect(counts.textContent).toMatch(/5\s*unchanged/);
    expect(counts.textContent).toMatch(/1\s*skipped/);
    expect(screen.getByTestId('preview-count-deleted').className).toContain('danger');

    const inserts = screen.getByTestId('preview-inserts');
    expect(within(inserts).getAllByRole('columnheader').map((th) => th.textContent)).toEqual(['Row', 'id', 'email']);
    expect(inserts.textContent).toContain('new@x.org');

    const change = screen.getByTestId('preview-change-501-email');
    expect(change.querySelector('.before')?.textContent).toBe('b@x.org');
    expect(change.querySelector('.after')?.textContent?.trim()).toBe('b2@x.org');
    expect(change.textContent).toContain('→');
    const removed = screen.getByTestId('preview-change-501-legacy');
    expect(within(removed).getByTestId('preview-removed').textContent).toBe('removed');
    expect(removed.querySelector('.before')?.textContent).toBe('old');

    const deletes = screen.getByTestId('preview-deletes');
    expect(screen.getByTestId('preview-delete-601').textContent).toContain('no longer in the query result (replace mode)');
    expect(screen.getByTestId('preview-delete-601').textContent).toContain('gone@x.org');
    expect(screen.getByTestId('preview-delete-602').textContent).toContain('flagged by the delete column (row 4)');
    expect(deletes.className).toContain('deletes');
    // Deletes come first: they are the dangerous part.
    expect(deletes.compareDocumentPosition(inserts) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();

    const skipped = screen.getByTestId('preview-skipped');
    expect(skipped.textContent).toContain('the row is missing its primary key value');
    expect(skipped.textContent).toContain('nokey@x.org');
    expect(skipped.querySelector('.null')?.textContent).toBe('null');

    expect(screen.getByTestId('preview-warnings').textContent).toContain('mixed types');
    expect(screen.getByTestId('preview-duplicates').textContent?.replace(/\s+/g, ' ')).toContain('1 entry shares a primary key with an entry of lower id: #603 (copy of #600).');
    expect(screen.getByTestId('preview-truncated')).toBeTruthy();
    expect(screen.getByTestId('preview-files').textContent).toContain('HTTP 404');
    expect(screen.getByTestId('preview-encryption').textContent?.replace(/\s+/g, ' ')).toContain('3 values of email would be encrypted with the organization keystore (data source 77)');
    expect(screen.queryByTestId('preview-nothing')).toBeNull();
  });

  it('says when nothing would change, and shows errors', () => {
    const plan = samplePreview.operations[0].plan!;
    const quiet: JobPreview = {
      job: 'x',
      error: null,
      operations: [
        {
          ...samplePreview.operations[0],
          plan: {
            ...plan,
            counts: { inserted: 0, updated: 0, deleted: 0, unchanged: 3, skipped: 0 },
            inserts: [], updates: [], deletes: [], skipped: [], duplicates: [], duplicate_count: 0, blocked_deletes: null, schema_drift: null, warnings: [], truncated: false, files: [], encryption: null,
          },
        },
        { index: 1, description: 'pull', kind: 'push', data_source_id: 5, error: 'Cannot read data source 5', plan: null, pull: null },
      ],
    };
    render(JobPreviewView, { props: { preview: quiet } });
    expect(screen.getByTestId('preview-nothing')).toBeTruthy();
    expect(screen.queryByTestId('preview-deletes')).toBeNull();
    expect(screen.getByTestId('preview-op-1').textContent).toContain('Cannot read data source 5');
  });
});
