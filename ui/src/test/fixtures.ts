// Drafts and backend answers shared by the wizard's tests.
import type { JobDraft, JobPreview, QueryResult } from '../lib/types';

export function draft(over: Partial<JobDraft> = {}): JobDraft {
  return {
    id: null,
    name: '',
    description: '',
    authToken: null,
    apiUrl: '',
    caFile: '',
    dataSourceId: null,
    database: { driver: 'postgres', host: '', port: null, username: '', database: '', password: null, domain: '', instance: '', encrypt: false },
    query: '',
    primaryColumn: '',
    caseInsensitive: false,
    timestampColumn: '',
    deleteColumn: '',
    mode: 'update',
    merge: false,
    runHooks: [],
    batchSize: 1000,
    concurrency: 1,
    files: [],
    encrypt: null,
    frequency: '',
    syncOnInit: false,
    removeDuplicateEntries: false,
    queryTimeout: 300,
    stallTimeout: 60,
    deleteGatePercent: 25,
    deleteGateMin: 100,
    allowEmptySource: false,
    runTimeout: 3600,
    stopOnSchemaChange: false,
    staleAfter: null,
    ...over,
  };
}

export const staffResult: QueryResult = {
  columns: [
    { name: 'id', type: 'int4' },
    { name: 'email', type: 'varchar' },
    { name: 'updated_at', type: 'timestamptz' },
  ],
  rows: [
    [1, 'a@x.org', '2025-01-01T00:00:00.000Z'],
    [2, 'b@x.org', '2025-01-02T00:00:00.000Z'],
  ],
  more: false,
  keys: ['id', 'email', 'updated_at'].map((column) => ({ column, empty: [], duplicates: [], duplicates_ignoring_case: [] })),
};

export const samplePreview: JobPreview = {
  job: 'staff',
  error: null,
  operations: [
    {
      index: 0,
      description: null,
      kind: 'push',
      data_source_id: 42,
      error: null,
      pull: null,
      plan: {
        data_source_id: 42,
        counts: { inserted: 1, updated: 1, deleted: 2, unchanged: 5, skipped: 1 },
        columns: ['id', 'email'],
        inserts: [{ row: 1, data: { id: 7, email: 'new@x.org' } }],
        updates: [
          {
            row: 2,
            entry_id: 501,
            data: { id: 2, email: 'b2@x.org' },
            changes: [
              { column: 'email', before: 'b@x.org', after: 'b2@x.org' },
              { column: 'legacy', before: 'old', after: null, removed: true },
            ],
          },
        ],
        deletes: [
          { entry_id: 601, reason: 'not_in_source', row: null, data: { id: 9, email: 'gone@x.org' } },
          { entry_id: 602, reason: 'flagged', row: 4, data: { id: 10, email: 'flagged@x.org' } },
        ],
        skipped: [{ row: 3, reason: 'the row is missing its primary key value', data: { id: null, email: 'nokey@x.org' } }],
        duplicates: [{ entry_id: 603, kept: 600, deleted: false, data: { id: 1, email: 'copy@x.org' } }],
        duplicate_count: 1,
        blocked_deletes: null,
        schema_drift: null,
        warnings: ['Column "email" has mixed types'],
        truncated: true,
        files: [
          { row: 1, column: 'photo', source: 'https://x/a.png', action: 'would_upload' },
          { row: 2, column: 'photo', source: 'https://x/b.png', action: 'failed', reason: 'HTTP 404' },
        ],
        file_counts: { uploaded: 0, would_upload: 1, reused: 0, failed: 1 },
        encryption: { fields: ['email'], missing_fields: [], key_source: { kind: 'keystore', data_source_id: 77 }, values: 3 },
      },
    },
  ],
};
