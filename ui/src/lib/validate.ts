// The wizard's validation rules, pure so they can be unit-tested: what each step needs before
// Next, and the non-blocking warnings (primary key quality, new columns). The backend checks
// the whole draft again on preview and save. Rules the core also checks take their limits and
// words from it (WIZARD_RULES, generated from src/app/wizard.rs), and the primary key issues
// are the backend's (computed with the sync plan's own key rule).
import { WIZARD_RULES } from './generated/constants';
import type { BoundsRule, DatabaseDraft, DataSourceInfo, DataSourceItem, DriverKey, FileDraft, JobDraft, KeyIssues, QueryResult } from './types';

export const STEPS = [
  { key: 'token', title: 'Fliplet token' },
  { key: 'datasource', title: 'Data source' },
  { key: 'connection', title: 'Database' },
  { key: 'query', title: 'Query' },
  { key: 'mapping', title: 'Mapping' },
  { key: 'files', title: 'Files & encryption' },
  { key: 'schedule', title: 'Schedule' },
  { key: 'preview', title: 'Preview & save' },
] as const;

export type StepKey = (typeof STEPS)[number]['key'];

export const DRIVERS: { key: DriverKey; label: string; port: number | null }[] = [
  { key: 'mssql', label: 'SQL Server', port: 1433 },
  { key: 'postgres', label: 'PostgreSQL', port: 5432 },
  { key: 'mysql', label: 'MySQL / MariaDB', port: 3306 },
  { key: 'sqlite', label: 'SQLite', port: null },
];

// Hard bounds are the backend's (src/app/wizard.rs); above the soft ones the wizard warns.
const { batch_size: BATCH, concurrency: CONCURRENCY, name: NAME } = WIZARD_RULES;
export const BATCH_MIN = BATCH.min;
export const BATCH_MAX = BATCH.max;
export const CONCURRENCY_MIN = CONCURRENCY.min;
export const CONCURRENCY_MAX = CONCURRENCY.max;

/** Job name (the file name of the job): required, letters, digits, `-`, `_` and `.`
 * (the core's `name_problem`, with its words). */
export function validateName(name: string): string | null {
  const n = name.trim();
  if (!n) return NAME.empty;
  if ([...n].length > NAME.max_len) return NAME.too_long;
  if (!/^[A-Za-z0-9._-]+$/.test(n)) return NAME.characters;
  if (n.startsWith('.')) return NAME.leading_dot;
  return null;
}

/** A name suggested from the data source's name: "Sales – EU 2024" -> "sales-eu-2024". */
export function suggestName(from: string): string {
  return from
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 60);
}

/** A whole number within [min, max]; `outOfRange`: the words for a number outside. */
function integerIn(value: unknown, min: number, max: number, what: string, outOfRange?: string): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return `Enter the ${what} (a whole number).`;
  if (!Number.isInteger(value)) return `The ${what} must be a whole number.`;
  if (value < min || value > max) return outOfRange ?? `The ${what} must be between ${min} and ${max}.`;
  return null;
}

const withinRule = (rule: BoundsRule, what: string) => (n: unknown) => integerIn(n, rule.min, rule.max, what, rule.out_of_range);
export const validateBatchSize = withinRule(BATCH, 'batch size');
export const validateConcurrency = withinRule(CONCURRENCY, 'concurrency');

/** Valid but unusual numbers (not blocking). */
export function batchSizeWarning(n: number): string | null {
  return !validateBatchSize(n) && n > BATCH.soft_max ? BATCH.above_soft_max : null;
}

export function concurrencyWarning(n: number): string | null {
  return !validateConcurrency(n) && n > CONCURRENCY.soft_max ? CONCURRENCY.above_soft_max : null;
}

/** null = the driver's default port. */
export function validatePort(port: unknown): string | null {
  if (port === null || port === undefined || port === '') return null;
  return integerIn(port, 1, 65535, 'port');
}

/** What the connection step asks for before a test makes sense. */
export function databaseProblem(db: DatabaseDraft): string | null {
  if (db.driver === 'sqlite') return db.database.trim() ? null : 'Choose the SQLite database file.';
  const port = validatePort(db.port);
  if (port) return port;
  if (!db.database.trim()) return 'Enter the database name.';
  return null;
}

/** Everything a connection test depends on: a change invalidates an earlier successful test. */
export function databaseSignature(db: DatabaseDraft, typedPassword: string): string {
  return JSON.stringify([db.driver, db.host.trim(), db.port, db.database.trim(), db.username, db.password, db.domain, db.instance, db.encrypt, typedPassword]);
}

/** Null/empty and duplicate primary key values among the previewed rows: the backend's
 * findings (`QueryResult.keys`, the sync plan's key rule), for the chosen matching. */
export function primaryKeyIssues(result: QueryResult, column: string, caseInsensitive = false): KeyIssues {
  const keys = result.keys.find((k) => k.column === column);
  if (!keys) return { empty: [], duplicates: [] };
  return { empty: keys.empty, duplicates: caseInsensitive ? keys.duplicates_ignoring_case : keys.duplicates };
}

/** The warnings of primaryKeyIssues in words ([] when the key looks fine). */
export function primaryKeyWarnings(issues: KeyIssues, column: string, shown: number): string[] {
  const out: string[] = [];
  const rows = (r: number[]) => (r.length > 5 ? `${r.slice(0, 5).join(', ')} …` : r.join(', '));
  if (issues.empty.length)
    out.push(`“${column}” is empty in ${issues.empty.length} of the ${shown} previewed rows (rows ${rows(issues.empty)}): those rows would be skipped.`);
  for (const d of issues.duplicates.slice(0, 3))
    out.push(`“${column}” has the value “${d.value}” in several rows (${rows(d.rows)}): only the first would be synced.`);
  if (issues.duplicates.length > 3) out.push(`… and ${issues.duplicates.length - 3} more duplicated values.`);
  return out;
}

/** Query columns the data source does not have yet (they would be created); [] when its columns are unknown. */
export function newColumns(queryColumns: string[], dataSourceColumns: string[] | null | undefined): string[] {
  if (!dataSourceColumns) return [];
  const known = new Set(dataSourceColumns);
  return queryColumns.filter((c) => !known.has(c));
}

/** What a file column still needs ('' when complete). */
export function fileProblem(f: FileDraft): string | null {
  if (f.type === 'remote') {
    for (const h of f.headers) {
      if (!h.name.trim() && !h.value) continue;
      if (!h.name.trim()) return `Column “${f.column}”: a request header has a value but no name.`;
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h.name.trim())) return `Column “${f.column}”: “${h.name}” is not a valid header name.`;
      if (!h.value) return `Column “${f.column}”: enter the value of the header “${h.name}”.`;
    }
  }
  if (f.type === 'sharepoint' && !f.username.trim()) return `Column “${f.column}”: enter the SharePoint user name.`;
  return null;
}

/** Facts the step rules look at (the wizard state, as plain data). */
export interface WizardFacts {
  draft: JobDraft;
  /** The data source the wizard loaded (dataSource command), if any. */
  dataSource: DataSourceInfo | null;
  /** Whether the connection test succeeded with the current settings. */
  connectionOk: boolean;
  /** The query result of the current query text (null: not run, failed or edited since). */
  query: QueryResult | null;
  /** The schedule check: 'ok', 'checking' or an error message. */
  schedule: 'ok' | 'checking' | { error: string };
  /** Secrets typed but not yet stored in the keychain. */
  pendingSecrets: number;
}

/** Why the step cannot be left with Next, or null when it is valid. */
export function stepProblem(step: number, f: WizardFacts): string | null {
  const d = f.draft;
  switch (STEPS[step]?.key) {
    case 'token':
      return d.authToken ? null : 'Verify a Fliplet API token first.';
    case 'datasource':
      if (d.dataSourceId === null) return 'Choose the data source to sync into.';
      if (!f.dataSource || f.dataSource.id !== d.dataSourceId) return 'Loading the data source…';
      if (f.dataSource.accessError) return 'The token cannot read this data source: grant access or choose another one.';
      return null;
    case 'connection':
      return databaseProblem(d.database) ?? (f.connectionOk ? null : 'Test the connection with these settings.');
    case 'query':
      if (!d.query.trim()) return 'Write the query that selects the rows to sync.';
      if (!f.connectionOk) return 'Test the database connection first.';
      return f.query ? null : 'Run the query to check it.';
    case 'mapping': {
      const cols = f.query?.columns.map((c) => c.name) ?? [];
      for (const [what, c] of [
        ['primary key', d.primaryColumn],
        ['timestamp', d.timestampColumn],
        ['delete', d.deleteColumn],
      ] as const) {
        if (c && f.query && !cols.includes(c)) return `The ${what} column “${c}” is not in the query result.`;
      }
      return validateBatchSize(d.batchSize) ?? validateConcurrency(d.concurrency);
    }
    case 'files': {
      for (const file of d.files) {
        const p = fileProblem(file);
        if (p) return p;
      }
      if (d.encrypt) {
        if (!d.encrypt.fields.length) return 'Choose the columns to encrypt, or turn encryption off.';
        if (d.primaryColumn && d.encrypt.fields.includes(d.primaryColumn)) return 'The primary key column cannot be encrypted.';
        if (d.encrypt.key === '') return 'Enter the encryption key, or use the organization keystore.';
      }
      if (f.pendingSecrets) return 'Saving secrets in the keychain…';
      return null;
    }
    case 'schedule':
      if (f.schedule === 'checking') return 'Checking the schedule…';
      if (f.schedule !== 'ok') return 'Fix the schedule first.';
      return null;
    case 'preview':
      return validateName(d.name);
    default:
      return null;
  }
}

/** The step where a draft field is edited (for errors the backend reports with `field`). */
export function fieldStep(field: string | null | undefined): number | null {
  if (!field) return null;
  const root = field.split(/[.[]/)[0];
  const map: Record<string, StepKey> = {
    authToken: 'token',
    apiUrl: 'token',
    caFile: 'token',
    dataSourceId: 'datasource',
    database: 'connection',
    query: 'query',
    primaryColumn: 'mapping',
    caseInsensitive: 'mapping',
    timestampColumn: 'mapping',
    deleteColumn: 'mapping',
    mode: 'mapping',
    merge: 'mapping',
    runHooks: 'mapping',
    batchSize: 'mapping',
    concurrency: 'mapping',
    files: 'files',
    encrypt: 'files',
    frequency: 'schedule',
    syncOnInit: 'schedule',
    name: 'preview',
    description: 'preview',
  };
  const key = map[root];
  return key ? STEPS.findIndex((s) => s.key === key) : null;
}

/** `keychain:<name>` references (never a secret value). */
export const isReference = (v: string | null | undefined): boolean => !!v && v.startsWith('keychain:');

/** The prefix of secrets the wizard stores for this draft: the job id, else its name, else "draft". */
export function secretPrefix(d: Pick<JobDraft, 'id' | 'name'>): string {
  return d.id || d.name.trim() || 'draft';
}

/** Data sources whose name contains the search text (any case), or whose id starts with it. */
export function filterDataSources(items: DataSourceItem[], q: string): DataSourceItem[] {
  const s = q.trim().toLowerCase().replace(/^#/, '');
  if (!s) return items;
  return items.filter((d) => d.name.toLowerCase().includes(s) || String(d.id).startsWith(s));
}
