// Shapes of what the backend (src-tauri commands over the core) returns. Kept in step with
// the core's Serialize types: agent::JobStatus, history::RunSummary/RunDetail, agent::AgentInfo.

export type Trigger = 'scheduled' | 'manual' | 'dry_run' | 'startup';
export type Outcome = 'running' | 'success' | 'failed' | 'skipped';

export interface RunCounts {
  inserted: number;
  updated: number;
  deleted: number;
  unchanged: number;
  skipped: number;
}

export interface RunSummary {
  id: number;
  job: string;
  job_name: string;
  operation: number | null;
  trigger: Trigger;
  started_at: string;
  finished_at: string | null;
  outcome: Outcome;
  counts: RunCounts;
  error: string | null;
}

export interface LogLine {
  at: string;
  level: 'error' | 'warn' | 'info' | 'debug' | 'trace';
  message: string;
}

export interface RunDetail extends RunSummary {
  logs: LogLine[];
}

export interface SecretKey {
  key: string;
  reference: string | null;
  present: boolean;
}

export interface JobStatus {
  id: string;
  path: string;
  name: string;
  description: string | null;
  frequency: string | null;
  schedule: string | null;
  next_run: string | null;
  sync_on_init: boolean;
  error: string | null;
  demo: boolean;
  secrets: SecretKey[];
  running: boolean;
  last_run: RunSummary | null;
  /** How fresh its data is (the stale-data watchdog); null: not watched (no frequency, no stale_after). */
  freshness: Freshness | null;
}

/** watchdog::Freshness: when the job last succeeded and when its data is stale. */
export interface Freshness {
  stale: boolean;
  /** Last successful run that was not a dry run (null: never succeeded). */
  last_success: string | null;
  /** What the age counts from: the last success, or when the job was first run or written. */
  since: string;
  stale_at: string;
  operation: number;
  /** "No successful run for 3 days — last success 28 Nov 10:02" (only when stale). */
  message: string | null;
}

export interface AgentInfo {
  paused: boolean;
  jobs_dir: string;
  data_dir: string;
  secrets_backend: string;
  secrets_fallback: string | null;
  demo_running: boolean;
  autostart: boolean;
  version: string;
}

export type ErrorCode = 'not_found' | 'config' | 'secrets' | 'history' | 'other';

/** What every failed command rejects with. */
export interface AppError {
  code: ErrorCode | WizardErrorCode;
  message: string;
  /** What to do about it (wizard errors). */
  hint?: string | null;
  /** The draft field it concerns (`name`, `query`, `database.password` …). */
  field?: string | null;
}

export type AgentEvent =
  | { kind: 'run_started'; job: string; trigger: Trigger }
  | { kind: 'run_finished'; run: RunSummary; recovered_after: number | null }
  | { kind: 'jobs_changed' }
  | { kind: 'paused_changed'; paused: boolean }
  | { kind: 'job_stale'; job: string; job_name: string; message: string };

// ---------------------------------------------------------------------------------------
// Setup wizard (issue 5). The wizard edits a JobDraft; every step validates it through a
// backend command over the core (src/app/wizard.rs). Secrets never sit in a draft as plain
// values: the token and passwords are sent once (verifyToken / testConnection / storeSecret),
// stored in the OS keychain, and the draft keeps their `keychain:<name>` reference.
// ---------------------------------------------------------------------------------------

export type DriverKey = 'mssql' | 'postgres' | 'mysql' | 'sqlite';

export interface DatabaseDraft {
  driver: DriverKey;
  /** '' = localhost. Unused for SQLite. */
  host: string;
  /** null = the driver's default port (1433 / 5432 / 3306). */
  port: number | null;
  username: string;
  /** Database name; for SQLite the path of the database file. */
  database: string;
  /** `keychain:<name>` reference, or null for no password. */
  password: string | null;
  /** SQL Server only: Windows/NTLM domain, named instance, TLS to the server. */
  domain: string;
  instance: string;
  encrypt: boolean;
}

export type FileKind = 'remote' | 'local' | 'sharepoint';

export interface FileDraft {
  column: string;
  type: FileKind;
  /** remote: request headers; each value is a `keychain:<name>` reference. */
  headers: { name: string; value: string }[];
  /** local: folder that relative paths are read from ('' = the values are absolute paths). */
  directory: string;
  /** sharepoint: NTLM login; password is a `keychain:<name>` reference. */
  username: string;
  password: string | null;
  /** sharepoint: keep the remote file's name and extension. */
  inheritFileType: boolean;
}

export interface EncryptDraft {
  fields: string[];
  /** `keychain:<name>` reference of a fixed key; null = the organization's keystore. */
  key: string | null;
}

export type Mode = 'update' | 'replace';
export type HookKind = 'insert' | 'update';

export interface JobDraft {
  /** The id of the job being edited (its file is replaced on save); null for a new job. */
  id: string | null;
  /** The job id to save as: the file name without `.yml` (letters, digits, - _ .). */
  name: string;
  description: string;
  /** `keychain:<name>` reference of the Fliplet API token (set by verifyToken). */
  authToken: string | null;
  /** '' = the token's region (or FLIPLET_API_URL). */
  apiUrl: string;
  /** Extra CA certificate file (PEM) for TLS-intercepting proxies; '' = none. */
  caFile: string;
  dataSourceId: number | null;
  database: DatabaseDraft;
  query: string;
  /** '' = none (rows are always appended). */
  primaryColumn: string;
  caseInsensitive: boolean;
  /** '' = none. */
  timestampColumn: string;
  /** '' = none. */
  deleteColumn: string;
  mode: Mode;
  merge: boolean;
  /** Keys the form does not show, kept when a job is edited: `remove_duplicate_entries`,
   * the delete gate, `allow_empty_source`, `run_timeout` (seconds). */
  removeDuplicateEntries?: boolean;
  deleteGatePercent?: number;
  deleteGateMin?: number;
  allowEmptySource?: boolean;
  runTimeout?: number;
  stopOnSchemaChange?: boolean;
  runHooks: HookKind[];
  batchSize: number;
  concurrency: number;
  files: FileDraft[];
  encrypt: EncryptDraft | null;
  /** Cron expression (5 fields, or 6 with seconds); '' = never scheduled. */
  frequency: string;
  syncOnInit: boolean;
  /** `stale_after` in seconds (not in the form; kept when a job is edited). null = the default rule, 0 = never stale. */
  staleAfter?: number | null;
}

/** Wizard errors add a hint (what to do) to the usual `{code, message}`. */
export type WizardErrorCode =
  | 'token' // the token is unknown/revoked/of another region
  | 'network' // Fliplet cannot be reached
  | 'tls' // certificate verification failed (proxy interception?)
  | 'no_access' // the token may not read this data source
  | 'database' // connection/login failed
  | 'query' // the database rejected the query
  | 'schedule' // bad cron expression
  | 'validation'; // the draft is incomplete or invalid (message names the field)

/** Wizard errors are AppErrors with a hint and the field they concern. */
export type WizardError = AppError;

export interface TokenCheck {
  /** The keychain reference the token was stored under. */
  reference: string;
  user: { id: number; fullName: string | null; email: string | null };
  /** Region from the token prefix (`eu`, `us`, `ca`). */
  region: string;
  /** The API base URL that answered. */
  apiUrl: string;
  organizations: { id: number; name: string }[];
}

export interface DataSourceItem {
  id: number;
  name: string;
  appId: number | null;
  organizationId: number | null;
}

export interface DataSourceInfo {
  id: number;
  name: string;
  /** Column names of the data source (null when the token may not read it). */
  columns: string[] | null;
  /** Number of entries (null when the token may not read them). */
  entryCount: number | null;
  /** null when readable; otherwise why not and what to grant in Fliplet Studio. */
  accessError: WizardError | null;
}

export interface ConnectionCheck {
  /** The keychain reference the password was stored under (null: no password given). */
  password: string | null;
  /** "PostgreSQL at 127.0.0.1:5432/sales" (never the password). */
  description: string;
  /** Server version string when the driver reports one. */
  serverVersion: string | null;
}

export interface QueryColumn {
  name: string;
  /** The database's type name (`int4`, `varchar`, `datetime` …). */
  type: string;
}

export interface QueryResult {
  columns: QueryColumn[];
  /** The first rows, as the agent would send them (JSON values, by column order). */
  rows: unknown[][];
  /** Whether the query returned more rows than shown. */
  more: boolean;
}

export interface ScheduleInfo {
  /** The cron expression in words ("At 02:00, only on Monday."). */
  description: string;
  /** The next five runs, ISO 8601 in UTC. */
  next: string[];
}

export interface CellChange {
  column: string;
  before: unknown;
  after: unknown;
  /** The column exists only on Fliplet and would be removed (merge off). */
  removed?: boolean;
}

export interface PreviewRow {
  /** 1-based row of the query result. */
  row: number;
  data: Record<string, unknown>;
}

export interface PreviewUpdate {
  row: number;
  entry_id: number;
  changes: CellChange[];
  data: Record<string, unknown>;
}

export interface PreviewDelete {
  entry_id: number;
  /** `flagged`: the row's delete column is set; `not_in_source`: replace mode;
   * `duplicate_key`: an extra entry of a primary key (`remove_duplicate_entries`). */
  reason: 'flagged' | 'not_in_source' | 'duplicate_key';
  row: number | null;
  data: Record<string, unknown>;
}

export interface PreviewSkip {
  row: number;
  reason: string;
  data: Record<string, unknown>;
}

export interface PreviewFile {
  row: number;
  column: string;
  source: string;
  action: 'uploaded' | 'reused' | 'would_upload' | 'failed';
  name?: string;
  size?: number;
  reason?: string;
}

/** An entry sharing its primary key with the entry `kept` (the lowest id of that key). */
export interface PreviewDuplicate {
  entry_id: number;
  kept: number;
  /** Whether the plan deletes it. */
  deleted: boolean;
  data: Record<string, unknown>;
}

export interface PushPreview {
  data_source_id: number;
  counts: RunCounts;
  columns: string[];
  inserts: PreviewRow[];
  updates: PreviewUpdate[];
  deletes: PreviewDelete[];
  skipped: PreviewSkip[];
  /** Entries sharing a primary key with an entry of lower id (listed up to the row cap). */
  duplicates: PreviewDuplicate[];
  duplicate_count: number;
  /** A real run would be stopped by the delete gate: the deletes to permit once. */
  blocked_deletes: number | null;
  /** The query's columns compared with the last successful run's, when they differ. */
  schema_drift: { added: string[]; removed: string[]; retyped: [string, string, string][] } | null;
  warnings: string[];
  /** Lists were cut (counts are complete). */
  truncated: boolean;
  files: PreviewFile[];
  file_counts: { uploaded: number; would_upload: number; reused: number; failed: number };
  encryption: { fields: string[]; missing_fields: string[]; key_source: unknown; values: number } | null;
}

export interface OperationPreview {
  index: number;
  description: string | null;
  kind: 'push' | 'pull';
  data_source_id: number;
  error: string | null;
  plan: PushPreview | null;
  pull: unknown | null;
}

export interface JobPreview {
  job: string;
  error: string | null;
  operations: OperationPreview[];
}

export interface SaveResult {
  job: JobStatus;
  /** The run started by "Save and run now". */
  run: RunSummary | null;
}
