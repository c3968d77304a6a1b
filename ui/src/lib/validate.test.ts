import { describe, expect, it } from 'vitest';
import {
  batchSizeWarning,
  concurrencyWarning,
  databaseProblem,
  databaseSignature,
  fieldStep,
  fileProblem,
  filterDataSources,
  newColumns,
  primaryKeyIssues,
  primaryKeyWarnings,
  secretPrefix,
  stepProblem,
  STEPS,
  suggestName,
  validateBatchSize,
  validateConcurrency,
  validateName,
  validatePort,
  type WizardFacts,
} from './validate';
import { draft, staffResult } from '../test/fixtures';
import type { FileDraft, QueryResult } from './types';

const step = (key: string) => STEPS.findIndex((s) => s.key === key);

function facts(over: Partial<WizardFacts> = {}): WizardFacts {
  return { draft: draft(), dataSource: null, connectionOk: false, query: null, schedule: 'ok', pendingSecrets: 0, ...over };
}

describe('job name', () => {
  it('is required and limited to letters, digits, - _ .', () => {
    expect(validateName('')).toMatch(/name/);
    expect(validateName('   ')).toMatch(/name/);
    expect(validateName('staff-sync_2.eu')).toBeNull();
    expect(validateName('staff sync')).toMatch(/letters/);
    expect(validateName('staff/sync')).toMatch(/letters/);
    expect(validateName('café')).toMatch(/letters/);
    expect(validateName('.hidden')).toMatch(/dot/);
    expect(validateName('x'.repeat(101))).toMatch(/long/);
  });
  it('is suggested from the data source name', () => {
    expect(suggestName('Sales – EU 2024')).toBe('sales-eu-2024');
    expect(suggestName('Café Staff')).toBe('cafe-staff');
    expect(validateName(suggestName('  ..Odd//Name!! '))).toBeNull();
  });
});

describe('numbers', () => {
  it('batch size is a whole number in 1..100000 (a warning above 10000)', () => {
    expect(validateBatchSize(1000)).toBeNull();
    expect(validateBatchSize(1)).toBeNull();
    expect(validateBatchSize(100000)).toBeNull();
    expect(validateBatchSize(0)).toMatch(/between 1 and 100000/);
    expect(validateBatchSize(100001)).toMatch(/between/);
    expect(batchSizeWarning(10000)).toBeNull();
    expect(batchSizeWarning(10001)).toMatch(/time out/);
    expect(batchSizeWarning(0)).toBeNull();
    expect(validateBatchSize(2.5)).toMatch(/whole/);
    expect(validateBatchSize(NaN)).toMatch(/Enter/);
    expect(validateBatchSize(null)).toMatch(/Enter/);
  });
  it('concurrency is a whole number in 1..100 (a warning above 20)', () => {
    expect(validateConcurrency(1)).toBeNull();
    expect(validateConcurrency(100)).toBeNull();
    expect(validateConcurrency(101)).toMatch(/between 1 and 100/);
    expect(validateConcurrency(0)).toMatch(/between/);
    expect(concurrencyWarning(20)).toBeNull();
    expect(concurrencyWarning(21)).toMatch(/rate-limited/);
  });
  it('port is empty (default) or 1..65535', () => {
    expect(validatePort(null)).toBeNull();
    expect(validatePort(5432)).toBeNull();
    expect(validatePort(0)).toMatch(/between 1 and 65535/);
    expect(validatePort(70000)).toMatch(/between/);
  });
});

describe('primary key quality', () => {
  // `keys` as the backend computes them (src/app/wizard.rs, the sync plan's key rule: null and
  // '' are no key, whitespace is one).
  const result: QueryResult = {
    columns: [
      { name: 'id', type: 'text' },
      { name: 'n', type: 'int4' },
    ],
    rows: [['a', 1], [null, 2], ['', 3], ['A', 4], ['a', 5], ['b', 6], ['  ', 7]],
    more: false,
    keys: [
      {
        column: 'id',
        empty: [2, 3],
        duplicates: [{ value: 'a', rows: [1, 5] }],
        duplicates_ignoring_case: [{ value: 'a', rows: [1, 4, 5] }],
      },
      { column: 'n', empty: [], duplicates: [], duplicates_ignoring_case: [] },
    ],
  };
  it('are the backend findings for the column', () => {
    expect(primaryKeyIssues(result, 'id')).toEqual({ empty: [2, 3], duplicates: [{ value: 'a', rows: [1, 5] }] });
  });
  it('compares ignoring case when asked', () => {
    expect(primaryKeyIssues(result, 'id', true).duplicates).toEqual([{ value: 'a', rows: [1, 4, 5] }]);
  });
  it('a clean key or an unknown column give no issue', () => {
    expect(primaryKeyIssues(staffResult, 'id')).toEqual({ empty: [], duplicates: [] });
    expect(primaryKeyWarnings(primaryKeyIssues(staffResult, 'id'), 'id', 2)).toEqual([]);
    expect(primaryKeyIssues(result, 'missing')).toEqual({ empty: [], duplicates: [] });
  });
  it('is described as warnings', () => {
    const w = primaryKeyWarnings(primaryKeyIssues(result, 'id'), 'id', 7);
    expect(w).toHaveLength(2);
    expect(w[0]).toContain('empty in 2 of the 7 previewed rows (rows 2, 3)');
    expect(w[1]).toContain('“a” in several rows (1, 5)');
  });
});

describe('columns and lists', () => {
  it('lists query columns the data source does not have', () => {
    expect(newColumns(['id', 'email', 'Phone'], ['id', 'email', 'phone'])).toEqual(['Phone']);
    expect(newColumns(['id'], null)).toEqual([]);
  });
  it('filters data sources by name or id', () => {
    const items = [
      { id: 123, name: 'Staff', appId: null, organizationId: 1 },
      { id: 456, name: 'Sales EU', appId: 9, organizationId: 1 },
    ];
    expect(filterDataSources(items, '')).toHaveLength(2);
    expect(filterDataSources(items, 'sal').map((d) => d.id)).toEqual([456]);
    expect(filterDataSources(items, '12').map((d) => d.id)).toEqual([123]);
    expect(filterDataSources(items, '#45').map((d) => d.id)).toEqual([456]);
    expect(filterDataSources(items, 'zzz')).toEqual([]);
  });
  it('maps backend fields to steps', () => {
    expect(fieldStep('name')).toBe(step('preview'));
    expect(fieldStep('database.password')).toBe(step('connection'));
    expect(fieldStep('files[0].headers')).toBe(step('files'));
    expect(fieldStep('frequency')).toBe(step('schedule'));
    expect(fieldStep('authToken')).toBe(0);
    expect(fieldStep('other')).toBeNull();
    expect(fieldStep(null)).toBeNull();
  });
  it('names secrets after the job', () => {
    expect(secretPrefix({ id: 'staff', name: 'x' })).toBe('staff');
    expect(secretPrefix({ id: null, name: 'new-job' })).toBe('new-job');
    expect(secretPrefix({ id: null, name: '' })).toBe('draft');
  });
});

describe('step rules', () => {
  it('token: needs a verified (stored) token', () => {
    expect(stepProblem(step('token'), facts())).toMatch(/token/);
    expect(stepProblem(step('token'), facts({ draft: draft({ authToken: 'keychain:x' }) }))).toBeNull();
  });

  it('data source: needs a chosen, readable data source', () => {
    const s = step('datasource');
    expect(stepProblem(s, facts())).toMatch(/Choose/);
    const d = draft({ dataSourceId: 42 });
    expect(stepProblem(s, facts({ draft: d }))).toMatch(/Loading/);
    const info = { id: 42, name: 'Staff', columns: ['id'], entryCount: 3, accessError: null };
    expect(stepProblem(s, facts({ draft: d, dataSource: info }))).toBeNull();
    expect(stepProblem(s, facts({ draft: d, dataSource: { ...info, id: 41 } }))).toMatch(/Loading/);
    const denied = { ...info, columns: null, entryCount: null, accessError: { code: 'no_access' as const, message: 'No access' } };
    expect(stepProblem(s, facts({ draft: d, dataSource: denied }))).toMatch(/cannot read/);
  });

  it('connection: needs the fields, then a successful test of these settings', () => {
    const s = step('connection');
    expect(stepProblem(s, facts())).toMatch(/database name/);
    const d = draft({ database: { ...draft().database, database: 'sales' } });
    expect(stepProblem(s, facts({ draft: d }))).toMatch(/Test the connection/);
    expect(stepProblem(s, facts({ draft: d, connectionOk: true }))).toBeNull();
    const sqlite = draft({ database: { ...draft().database, driver: 'sqlite' } });
    expect(databaseProblem(sqlite.database)).toMatch(/SQLite/);
    expect(databaseProblem({ ...d.database, port: 0 })).toMatch(/port/);
  });

  it('connection signature changes with any field or a typed password', () => {
    const db = draft().database;
    const base = databaseSignature(db, '');
    expect(databaseSignature({ ...db }, '')).toBe(base);
    expect(databaseSignature({ ...db, host: 'db' }, '')).not.toBe(base);
    expect(databaseSignature({ ...db, port: 5433 }, '')).not.toBe(base);
    expect(databaseSignature({ ...db, encrypt: true }, '')).not.toBe(base);
    expect(databaseSignature(db, 'secret')).not.toBe(base);
  });

  it('query: needs a query run successfully', () => {
    const s = step('query');
    expect(stepProblem(s, facts({ connectionOk: true }))).toMatch(/Write/);
    const d = draft({ query: 'select 1' });
    expect(stepProblem(s, facts({ draft: d, connectionOk: true }))).toMatch(/Run the query/);
    expect(stepProblem(s, facts({ draft: d, connectionOk: true, query: staffResult }))).toBeNull();
  });

  it('mapping: chosen columns exist, batch size and concurrency in bounds', () => {
    const s = step('mapping');
    expect(stepProblem(s, facts({ query: staffResult }))).toBeNull();
    expect(stepProblem(s, facts({ query: staffResult, draft: draft({ primaryColumn: 'id', timestampColumn: 'updated_at' }) }))).toBeNull();
    expect(stepProblem(s, facts({ query: staffResult, draft: draft({ primaryColumn: 'gone' }) }))).toMatch(/primary key column “gone”/);
    expect(stepProblem(s, facts({ query: staffResult, draft: draft({ batchSize: 0 }) }))).toMatch(/batch size/);
    expect(stepProblem(s, facts({ query: staffResult, draft: draft({ concurrency: 150 }) }))).toMatch(/concurrency/);
  });

  it('files and encryption: complete settings, never the primary key', () => {
    const s = step('files');
    const file = (over: Partial<FileDraft>): FileDraft => ({ column: 'photo', type: 'remote', headers: [], directory: '', username: '', password: null, inheritFileType: false, ...over });
    expect(stepProblem(s, facts())).toBeNull();
    expect(fileProblem(file({}))).toBeNull();
    expect(fileProblem(file({ headers: [{ name: 'Authorization', value: '' }] }))).toMatch(/value of the header/);
    expect(fileProblem(file({ headers: [{ name: 'Bad Header', value: 'keychain:x' }] }))).toMatch(/not a valid header/);
    expect(fileProblem(file({ headers: [{ name: 'Authorization', value: 'keychain:x' }] }))).toBeNull();
    expect(fileProblem(file({ type: 'sharepoint' }))).toMatch(/SharePoint user/);
    expect(stepProblem(s, facts({ draft: draft({ files: [file({ type: 'sharepoint' })] }) }))).toMatch(/SharePoint/);
    expect(stepProblem(s, facts({ draft: draft({ encrypt: { fields: [], key: null } }) }))).toMatch(/Choose the columns/);
    expect(stepProblem(s, facts({ draft: draft({ primaryColumn: 'id', encrypt: { fields: ['id'], key: null } }) }))).toMatch(/primary key/);
    expect(stepProblem(s, facts({ draft: draft({ encrypt: { fields: ['email'], key: '' } }) }))).toMatch(/encryption key/);
    expect(stepProblem(s, facts({ draft: draft({ encrypt: { fields: ['email'], key: 'keychain:k' } }) }))).toBeNull();
    expect(stepProblem(s, facts({ pendingSecrets: 1 }))).toMatch(/keychain/);
  });

  it('schedule: blocks while checking and on an invalid expression', () => {
    const s = step('schedule');
    expect(stepProblem(s, facts())).toBeNull();
    expect(stepProblem(s, facts({ schedule: 'checking' }))).toMatch(/Checking/);
    expect(stepProblem(s, facts({ schedule: { error: 'bad' } }))).toMatch(/Fix/);
  });

  it('save: needs a valid name', () => {
    const s = step('preview');
    expect(stepProblem(s, facts())).toMatch(/name/);
    expect(stepProblem(s, facts({ draft: draft({ name: 'staff' }) }))).toBeNull();
  });
});
