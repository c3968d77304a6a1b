// Generated from the Rust types by src/bindings.rs (ts-rs): do not edit.
// Regenerate with `npm run gen:types` after changing a type that crosses the Tauri boundary.

/**
 * What changed; the desktop app updates its tray and window from these.
 */
export type AgentEvent = { "kind": "run_started", job: string, trigger: Trigger, } | { "kind": "run_finished", run: RunSummary, 
/**
 * On a success after failed runs: how many failed runs came right before it.
 */
recovered_after: number | null, } | { "kind": "jobs_changed" } | { "kind": "paused_changed", paused: boolean, } | { "kind": "job_stale", job: string, job_name: string, 
/**
 * "No successful run for 3 days — last success 28 Nov 10:02"
 */
message: string, };

/**
 * `{code, message}` as the desktop app's front end receives it (what every failed command
 * rejects with), with what to do about it (`hint`, the words of `hint_kind`: set together
 * by [`AppError::with_hint`]) and, for the setup wizard, the job field it concerns (`field`).
 */
export type AppError = { code: ErrorCode, message: string, 
/**
 * What to do about it, in words ([`Hint::text`] of `hint_kind`).
 */
hint?: string, hint_kind?: Hint, 
/**
 * The draft field it concerns (`name`, `query`, `database.password` …).
 */
field?: string, };

/**
 * [`Bounds`] with its words.
 */
export type BoundsRule = { min: number, max: number, soft_max: number, default: number, out_of_range: string, above_soft_max: string, };

/**
 * A changed cell of an update, for the preview.
 */
export type CellChange = { column: string, before: unknown, after: unknown, 
/**
 * The column exists only on Fliplet and would be removed, because `merge` is off.
 */
removed?: boolean, };

/**
 * One column of a query result as the primary key: the rows a sync would skip, found with
 * the sync plan's own key rule ([`canonical_key`]: null and empty text are no key, numbers
 * and numeric text compare equal, text may be compared ignoring case).
 */
export type ColumnKeys = { column: string, 
/**
 * 1-based rows without a key: a sync skips them.
 */
empty: Array<number>, 
/**
 * Keys in several rows: a sync keeps the first row of each.
 */
duplicates: Array<KeyDuplicate>, 
/**
 * The same with `caseInsensitive` (keys compared ignoring case).
 */
duplicates_ignoring_case: Array<KeyDuplicate>, };

/**
 * A successful connection test.
 */
export type ConnectionCheck = { 
/**
 * The reference the password was stored under (`None`: no new password given).
 */
password: string | null, description: string, serverVersion: string | null, };

/**
 * How many rows went where.
 */
export type Counts = { inserted: number, updated: number, deleted: number, unchanged: number, skipped: number, };

/**
 * One data source: its columns and entry count, or why the token may not read it.
 */
export type DataSourceInfo = { id: number, name: string, columns: Array<string> | null, entryCount: number | null, accessError: AppError | null, };

/**
 * A data source in the wizard's list.
 */
export type DataSourceItem = { id: number, name: string, appId: number | null, organizationId: number | null, };

/**
 * The database settings of a draft.
 */
export type DatabaseDraft = { 
/**
 * `mssql`, `postgres`, `mysql` or `sqlite`.
 */
driver: "mssql" | "postgres" | "mysql" | "sqlite", 
/**
 * Empty: localhost.
 */
host: string, 
/**
 * `None`: the driver's default port.
 */
port: number | null, username: string, 
/**
 * Database name; for SQLite the database file.
 */
database: string, 
/**
 * `keychain:<name>` reference, or `None` for no password.
 */
password: string | null, domain: string, instance: string, encrypt: boolean, };

/**
 * Field encryption of a draft.
 */
export type EncryptDraft = { fields: Array<string>, 
/**
 * `keychain:` reference of a fixed key; `None`: the organization's keystore.
 */
key: string | null, };

/**
 * What field encryption did (or would do) in a run. Never holds the key.
 */
export type EncryptionReport = { 
/**
 * Configured fields found in the query result: their values are encrypted.
 */
fields: Array<string>, 
/**
 * Configured fields the query does not return (nothing to encrypt).
 */
missing_fields: Array<string>, 
/**
 * Where the key comes from.
 */
key_source: KeySource, 
/**
 * How many values of the inserted and updated rows are (or would be) encrypted. Null,
 * false, 0 and empty values are sent as they are, like the original.
 */
values: number, };

/**
 * What kind of failure, for the front end to branch on. Only variants a consumer uses.
 */
export type ErrorCode = "not_found" | "config" | "secrets" | "history" | "other" | "token" | "network" | "tls" | "no_access" | "database" | "query" | "schedule" | "validation";

/**
 * What happened (or would happen) to one file of one row.
 */
export type FileAction = "uploaded" | "reused" | "would_upload" | "failed";

/**
 * How many files were (or would be) uploaded, reused, or could not be fetched.
 */
export type FileCounts = { uploaded: number, would_upload: number, reused: number, failed: number, };

/**
 * A file column of a draft.
 */
export type FileDraft = { column: string, 
/**
 * `remote`, `local` or `sharepoint`.
 */
type: "remote" | "local" | "sharepoint", headers: Array<HeaderDraft>, 
/**
 * `local`: folder of relative paths; empty: the values are absolute paths.
 */
directory: string, username: string, 
/**
 * `sharepoint`: `keychain:` reference of the password.
 */
password: string | null, inheritFileType: boolean, };

/**
 * How fresh a watched job's data is (a job with a `frequency` or a `stale_after`).
 */
export type Freshness = { stale: boolean, 
/**
 * The last successful run (not a dry run) of the operation that goes stale first.
 */
last_success: string | null, 
/**
 * What the age counts from: the last success, or (never succeeded) when the job was
 * first run or written.
 */
since: string, 
/**
 * When the data becomes (or became) stale.
 */
stale_at: string, 
/**
 * The operation that goes stale first (0-based).
 */
operation: number, 
/**
 * What the app and `status` say when the job is stale: "No successful run for 3 days —
 * last success 28 Nov 10:02".
 */
message: string | null, };

/**
 * A request header of a remote file column; `value` is a `keychain:` reference.
 */
export type HeaderDraft = { name: string, value: string, };

/**
 * What to do about an error. Serialized as its kind (`token_refused`); [`Hint::text`] is
 * what the user reads.
 */
export type Hint = "api_token" | "token_refused" | "token_again" | "data_source_access" | "data_source_id" | "network" | "tls_proxy" | "ca_file_missing" | "ca_file_pem" | "database_login" | "database_host" | "database_name" | "password_again" | "sqlite_file";

/**
 * The form the wizard edits: one push from an SQL query into a Fliplet data source.
 */
export type JobDraft = { 
/**
 * The job being edited (its file is replaced on save); `None` for a new job.
 */
id: string | null, 
/**
 * The job id to save as (file name without `.yml`).
 */
name: string, description: string, 
/**
 * `keychain:` reference of the Fliplet API token.
 */
authToken: string | null, 
/**
 * Empty: the token's region (or `$FLIPLET_API_URL`).
 */
apiUrl: string, 
/**
 * Extra CA certificate file; empty: none.
 */
caFile: string, dataSourceId: number | null, database: DatabaseDraft, query: string, primaryColumn: string, caseInsensitive: boolean, timestampColumn: string, deleteColumn: string, 
/**
 * `update` or `replace`.
 */
mode: "update" | "replace", merge: boolean, 
/**
 * `remove_duplicate_entries` (not in the wizard's form; kept when a job is edited).
 */
removeDuplicateEntries: boolean, 
/**
 * `insert`, `update`.
 */
runHooks: Array<"insert" | "update">, batchSize: number, concurrency: number, files: Array<FileDraft>, encrypt: EncryptDraft | null, 
/**
 * Cron expression; empty: never scheduled.
 */
frequency: string, syncOnInit: boolean, 
/**
 * `query_timeout` in seconds (0: no limit). The wizard shows no field for it: a job
 * edited in the wizard keeps its value.
 */
queryTimeout: number, 
/**
 * `stall_timeout` in seconds (0: no limit), kept like `query_timeout`.
 */
stallTimeout: number, 
/**
 * The delete gate (`delete_gate_percent`, `delete_gate_min`), `allow_empty_source` and
 * `run_timeout`: not in the form, kept when a job is edited.
 */
deleteGatePercent: number, deleteGateMin: number, allowEmptySource: boolean, runTimeout: number, 
/**
 * `on_schema_change: stop` (not in the form; kept when a job is edited).
 */
stopOnSchemaChange: boolean, 
/**
 * `stale_after` in seconds (`None`: the default rule, `0`: never stale). No field in
 * the wizard: a job edited in the wizard keeps its value.
 */
staleAfter: number | null, };

/**
 * A job file of the jobs folder, as the Jobs screen and the tray show it.
 */
export type JobFile = { 
/**
 * The file name without `.yml` / `.yaml`: the job's id in history and keychain names.
 */
id: string, path: string, 
/**
 * The job's name in logs (the file name).
 */
name: string, description: string | null, 
/**
 * `frequency` of the (first) operation.
 */
frequency: string | null, 
/**
 * The schedule in words ("At every 15th minute.").
 */
schedule: string | null, 
/**
 * Next scheduled run, in UTC.
 */
next_run: string | null, sync_on_init: boolean, 
/**
 * Why the file cannot be loaded (then the other fields are empty).
 */
error: string | null, 
/**
 * Made by the demo mode.
 */
demo: boolean, secrets: Array<SecretKey>, };

/**
 * The dry-run preview of a job: what each operation would insert, update and delete.
 */
export type JobPreview = { job: string, error: string | null, operations: Array<OperationPreview>, };

/**
 * A job with its live state, for the Jobs screen and the tray menu.
 */
export type JobStatus = { running: boolean, last_run: RunSummary | null, 
/**
 * How fresh its data is; `None` when the job is not watched (no frequency, no
 * `stale_after`) or its file cannot be read.
 */
freshness: Freshness | null, 
/**
 * The file name without `.yml` / `.yaml`: the job's id in history and keychain names.
 */
id: string, path: string, 
/**
 * The job's name in logs (the file name).
 */
name: string, description: string | null, 
/**
 * `frequency` of the (first) operation.
 */
frequency: string | null, 
/**
 * The schedule in words ("At every 15th minute.").
 */
schedule: string | null, 
/**
 * Next scheduled run, in UTC.
 */
next_run: string | null, sync_on_init: boolean, 
/**
 * Why the file cannot be loaded (then the other fields are empty).
 */
error: string | null, 
/**
 * Made by the demo mode.
 */
demo: boolean, secrets: Array<SecretKey>, };

/**
 * A key value found in several rows.
 */
export type KeyDuplicate = { 
/**
 * The value of its first row.
 */
value: string, 
/**
 * 1-based rows.
 */
rows: Array<number>, };

/**
 * Where the encryption key of a run comes from (safe to show: never holds the key).
 */
export type KeySource = { "kind": "configured" } | { "kind": "keystore", data_source_id: number, } | { "kind": "keystore_created", data_source_id: number, created_data_source: boolean, } | { "kind": "would_create_keystore" } | { "kind": "would_store_key", data_source_id: number, };

/**
 * Level of a log line.
 */
export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";

/**
 * One log line of a run.
 */
export type LogLine = { at: string, level: LogLevel, message: string, };

/**
 * [`name_problem`]'s limit and words.
 */
export type NameRule = { max_len: number, empty: string, too_long: string, characters: string, leading_dot: string, };

export type OperationPreview = { index: number, description: string | null, 
/**
 * `push` or `pull`.
 */
kind: "push" | "pull", data_source_id: number, error: string | null, 
/**
 * A push's plan.
 */
plan: PushPreview | null, 
/**
 * What a pull would fetch and write (nothing is written in a preview).
 */
pull: PullRun | null, };

export type OrganizationItem = { id: number, name: string, };

/**
 * How a run ended.
 */
export type Outcome = "running" | "success" | "failed" | "skipped";

export type PreviewDelete = { entry_id: number, 
/**
 * `flagged` (the row's delete column is set), `not_in_source` (replace mode) or
 * `duplicate_key` (an extra copy of an entry's key, `remove_duplicate_entries`).
 */
reason: "flagged" | "not_in_source" | "duplicate_key", row: number | null, 
/**
 * The entry's current data on Fliplet.
 */
data: Record<string, unknown>, };

/**
 * An entry sharing its primary key with the entry `kept` (the lowest id of that key).
 */
export type PreviewDuplicate = { entry_id: number, kept: number, 
/**
 * Whether the plan deletes it (`remove_duplicate_entries`, or `mode: replace`).
 */
deleted: boolean, data: Record<string, unknown>, };

/**
 * One file of the preview (`row` is 1-based).
 */
export type PreviewFile = { row: number, column: string, 
/**
 * The column's value, redacted (URLs lose user info and query string).
 */
source: string, action: FileAction, 
/**
 * Media file name (`<primary key>-<name>`), when fetched.
 */
name?: string, size?: number, 
/**
 * MD5 hex of the bytes, when fetched.
 */
checksum?: string, 
/**
 * The Fliplet media file (uploaded or reused); `None` in a dry run.
 */
media_file_id?: number, url?: string, 
/**
 * Why the file could not be fetched.
 */
reason?: string, };

export type PreviewRow = { 
/**
 * 1-based row number in the query result.
 */
row: number, data: Record<string, unknown>, };

export type PreviewSkip = { row: number, reason: string, data: Record<string, unknown>, };

export type PreviewUpdate = { row: number, entry_id: number, changes: Array<CellChange>, data: Record<string, unknown>, };

/**
 * What a pull did (or would do).
 */
export type PullRun = { data_source_id: number, dry_run: boolean, 
/**
 * Entries returned by the query.
 */
fetched: number, 
/**
 * `table <name>`, `CSV file <path>`, `JSON file <path>`.
 */
target: string, 
/**
 * For a table target: rows inserted / updated / skipped (no key value).
 */
table: TableCounts | null, 
/**
 * Entries written to a file target.
 */
file_rows: number | null, 
/**
 * Entries marked by the write-back (0 in a dry run).
 */
written_back: number, 
/**
 * The write-back that would run (column), for previews.
 */
write_back_column: string | null, 
/**
 * The first pulled entries (at most 20), for previews.
 */
sample: Array<PulledEntry>, };

/**
 * An entry returned by a data/query (pull).
 */
export type PulledEntry = { id: number, data: Record<string, unknown>, };

/**
 * What a push would do, row by row: the dry-run preview. Lists are cut at `max_rows` each
 * (`truncated` says so); counts are always complete.
 */
export type PushPreview = { data_source_id: number, counts: Counts, columns: Array<string>, inserts: Array<PreviewRow>, updates: Array<PreviewUpdate>, deletes: Array<PreviewDelete>, skipped: Array<PreviewSkip>, 
/**
 * Entries that share a primary key with an entry of lower id (complete count in
 * `duplicate_count`; at most `max_rows` listed).
 */
duplicates: Array<PreviewDuplicate>, duplicate_count: number, 
/**
 * A real run would be stopped before writing by the delete gate (or the empty-source
 * rule): the number of deletes to permit once (`--allow-deletes N`, "Allow once").
 */
blocked_deletes: number | null, 
/**
 * The query's columns compared with the last successful run's (added, removed,
 * retyped), when they differ.
 */
schema_drift: SchemaDrift | null, warnings: Array<string>, truncated: boolean, 
/**
 * File columns: what happens to each file of the rows inserted or updated (at most
 * `max_rows` listed; `file_counts` is complete). A dry run uploads nothing.
 */
files: Array<PreviewFile>, file_counts: FileCounts, 
/**
 * Field encryption: which fields are encrypted and where the key comes from. A dry run
 * creates no keystore.
 */
encryption: EncryptionReport | null, };

export type QueryColumn = { name: string, type: string, };

/**
 * The first rows of a query, as the agent would send them.
 */
export type QueryResult = { columns: Array<QueryColumn>, 
/**
 * The first rows, as the agent would send them (by column order).
 */
rows: Array<Array<unknown>>, 
/**
 * The query returned more rows than shown.
 */
more: boolean, 
/**
 * For each column (in order), what a sync would make of it as the primary key.
 */
keys: Array<ColumnKeys>, };

/**
 * What a run changed (same fields as the sync module's counts).
 */
export type RunCounts = { inserted: number, updated: number, deleted: number, unchanged: number, skipped: number, };

/**
 * A run with its log lines.
 */
export type RunDetail = { logs: Array<LogLine>, id: RunId, 
/**
 * Job id.
 */
job: string, 
/**
 * Job name shown to the user.
 */
job_name: string, 
/**
 * Index of the operation run; `None` for the whole job.
 */
operation: number | null, trigger: Trigger, started_at: string, 
/**
 * `None` while running.
 */
finished_at: string | null, outcome: Outcome, counts: RunCounts, 
/**
 * Why the run failed (or was skipped).
 */
error: string | null, };

/**
 * Id of a run record (serialized as its number, as every newtype struct is).
 */
export type RunId = number;

/**
 * A run without its log lines.
 */
export type RunSummary = { id: RunId, 
/**
 * Job id.
 */
job: string, 
/**
 * Job name shown to the user.
 */
job_name: string, 
/**
 * Index of the operation run; `None` for the whole job.
 */
operation: number | null, trigger: Trigger, started_at: string, 
/**
 * `None` while running.
 */
finished_at: string | null, outcome: Outcome, counts: RunCounts, 
/**
 * Why the run failed (or was skipped).
 */
error: string | null, };

/**
 * What saving a draft did.
 */
export type SavedJob = { job: JobStatus, 
/**
 * The run started by "Save and run now".
 */
run: RunSummary | null, };

/**
 * A cron expression in words with its next five runs.
 */
export type ScheduleInfo = { description: string, 
/**
 * ISO 8601, UTC.
 */
next: Array<string>, };

/**
 * How the query's columns differ from the last successful run's.
 */
export type SchemaDrift = { added: Array<string>, removed: Array<string>, 
/**
 * `(column, type before, type now)`.
 */
retyped: Array<[string, string, string]>, };

/**
 * One secret key of a job file and where its value is.
 */
export type SecretKey = { 
/**
 * `auth_token` or `database_password`.
 */
key: string, 
/**
 * The keychain entry the file refers to; `None` when the value is written in the file
 * itself (or absent).
 */
reference: string | null, 
/**
 * Whether the file has a value (plain or reference) for this key.
 */
present: boolean, };

/**
 * What the desktop app's Settings screen shows: the agent's state and the app's own.
 */
export type SettingsInfo = { 
/**
 * Whether the app starts at login.
 */
autostart: boolean, 
/**
 * The app's version.
 */
version: string, paused: boolean, jobs_dir: string, data_dir: string, 
/**
 * "OS keychain (service ...)" or "sealed secrets file ...".
 */
secrets_backend: string, 
/**
 * Set when no keychain was reachable and secrets go to the sealed file.
 */
secrets_fallback: string | null, demo_running: boolean, };

/**
 * What an upsert did (or would do, in a dry run).
 */
export type TableCounts = { inserted: number, updated: number, 
/**
 * Rows without a key value (not written).
 */
skipped: number, };

/**
 * Who a token belongs to.
 */
export type TokenCheck = { 
/**
 * The keychain reference the token was stored under.
 */
reference: string, user: TokenUser, region: string, apiUrl: string, organizations: Array<OrganizationItem>, };

export type TokenUser = { id: number, fullName: string | null, email: string | null, };

/**
 * What started a run.
 */
export type Trigger = "scheduled" | "manual" | "dry_run" | "startup";

/**
 * The rules above as the front end receives them (generated into
 * `ui/src/lib/generated/constants.ts` as `WIZARD_RULES`).
 */
export type WizardRules = { name: NameRule, batch_size: BoundsRule, concurrency: BoundsRule, };
