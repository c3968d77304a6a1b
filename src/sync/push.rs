//! Running one push operation: fetch the source, fetch the remote entries, plan, commit.
//!
//! A source that fails stops the run before anything is sent: no commit, and so no delete,
//! ever comes from a failed source.

use serde::Serialize;
use serde_json::Value;
use tracing::{debug, error, info, warn};

use std::collections::HashMap;

use crate::config::{Mode, OnSchemaChange, PushOperation};
use crate::crypto::{cryptojs_decrypt, encrypt_value, field_plaintext};
use crate::fliplet::{Client, KeySource, RemoteEntry, keystore_key};
use crate::secret::Secret;
use crate::source::{self, Table};
use crate::sync::commit::{self, Commit};
use crate::sync::control::RunControl;
use crate::sync::drift::{SchemaDrift, SchemaFile};
use crate::sync::error::RunError;
use crate::sync::files::{self, FileAction, FileReport, FilesFlow};
use crate::sync::guard::{self, DataSourceLock, PendingFile};
use crate::sync::plan::{self, DeleteReason, Plan, PlanOptions};
use crate::sync::row::{RowObject, RowPatch};

/// How many rows went where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Counts {
    pub inserted: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub skipped: usize,
}

impl std::iter::Sum for Counts {
    fn sum<I: Iterator<Item = Counts>>(iter: I) -> Counts {
        iter.fold(Counts::default(), |t, c| Counts {
            inserted: t.inserted + c.inserted,
            updated: t.updated + c.updated,
            deleted: t.deleted + c.deleted,
            unchanged: t.unchanged + c.unchanged,
            skipped: t.skipped + c.skipped,
        })
    }
}

impl Counts {
    pub fn of(plan: &Plan) -> Counts {
        Counts {
            inserted: plan.inserts.len(),
            updated: plan.updates.len(),
            deleted: plan.deletes.len(),
            unchanged: plan.unchanged.len(),
            skipped: plan.skipped.len(),
        }
    }
}

/// The outcome of a push (or of its dry run).
#[derive(Debug)]
pub struct PushRun {
    pub data_source_id: u64,
    pub dry_run: bool,
    pub table: Table,
    pub remote: Vec<RemoteEntry>,
    pub plan: Plan,
    /// Commit requests sent (0 for a dry run or nothing to do).
    pub commits_sent: usize,
    /// The file of each file column of each row inserted or updated (`files:`).
    pub files: Vec<FileReport>,
    /// Field encryption of this run (`encrypt:`), if configured.
    pub encryption: Option<EncryptionReport>,
    /// A dry run whose deletes a real run would refuse (delete gate, empty source): how many,
    /// the number a one-time permission must allow.
    pub blocked_deletes: Option<usize>,
    /// How the query's columns differ from the last successful run's, if they do.
    pub schema_drift: Option<SchemaDrift>,
    /// The plan's options (with the encryption key, for the preview's cell comparison).
    options: PlanOptions,
}

/// What field encryption did (or would do) in a run. Never holds the key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EncryptionReport {
    /// Configured fields found in the query result: their values are encrypted.
    pub fields: Vec<String>,
    /// Configured fields the query does not return (nothing to encrypt).
    pub missing_fields: Vec<String>,
    /// Where the key comes from.
    pub key_source: KeySource,
    /// How many values of the inserted and updated rows are (or would be) encrypted. Null,
    /// false, 0 and empty values are sent as they are, like the original.
    pub values: usize,
}

impl PushRun {
    pub fn counts(&self) -> Counts {
        Counts::of(&self.plan)
    }
}

/// Plan options of a push operation. File and encrypted columns are compared on the source
/// values, before upload and encryption (see [`PlanOptions::file_columns`] and
/// [`PlanOptions::encrypted_columns`]), so a run with nothing changed sends nothing although
/// ciphertexts are salted at random and remote file columns hold Fliplet URLs.
pub fn plan_options(op: &PushOperation, key: Option<&Secret>) -> PlanOptions {
    PlanOptions {
        primary_column: op.primary_column.clone(),
        case_insensitive: op.case_insensitive_primary_column,
        timestamp_column: op.timestamp_column.clone(),
        delete_column: op.delete_column.clone(),
        mode: op.mode,
        compare_ignore: Vec::new(),
        file_columns: op.files.iter().map(|f| f.column.clone()).collect(),
        encrypted_columns: op
            .encrypt
            .as_ref()
            .map(|e| e.fields.clone())
            .unwrap_or_default(),
        encryption_key: key.cloned(),
        remove_duplicates: op.remove_duplicate_entries,
    }
}

/// Run one push. With `dry_run`, everything but the commit happens: the result holds the plan
/// that a real run would send, and nothing is written to Fliplet.
///
/// A real run holds the data source's lock from its reading of the entries to its last commit
/// (another process on the same data source waits), and first settles a commit that a
/// previous run left in flight (see [`crate::sync::commit`]).
pub async fn run_push(
    client: &Client,
    op: &PushOperation,
    dry_run: bool,
    job: &str,
    control: &RunControl,
) -> Result<PushRun, RunError> {
    let ds = op.datasource_id;
    if op.case_insensitive_primary_column {
        info!("[✓] The primary key has been set to be case-insensitive.");
    } else {
        info!("[!] The primary key has been set to be case-sensitive.");
    }
    match op.mode {
        Mode::Replace => info!(
            "Remote entries not found in the local dataset will be deleted (\"mode\" is set to \"replace\")."
        ),
        Mode::Update => info!(
            "Remote entries not found in the local dataset will be kept (\"mode\" is set to \"update\")."
        ),
    }
    // The source first: if it fails, nothing else happens.
    let from = op.source.label();
    info!("Fetching data from {from}...");
    let table = control
        .read(Box::pin(source::fetch_source(&op.source)))
        .await
        .map_err(RunError::stopped)??;
    debug!("Successfully fetched data from the source.");
    debug!("Fetched {} rows from {from}.", table.rows.len());

    // The encryption key before the remote entries (the original's order; docs/fliplet-api.md,
    // "Push"): a wrong salt stops the run before anything is read or written.
    let key = match &op.encrypt {
        None => None,
        Some(enc) => Some(match &enc.key {
            Some(k) => {
                debug!("Encryption is enabled with the key configured in the job.");
                crate::fliplet::RunKey {
                    key: Some(k.clone()),
                    source: KeySource::Configured,
                }
            }
            None => {
                debug!("Encryption is enabled: fetching the key from the organization keystore...");
                keystore_key(client, enc.salt.as_ref(), dry_run).await?
            }
        }),
    };

    let dir = guard::sync_dir();
    let schema = SchemaFile::new(&dir, client.base_url(), ds, job);
    let drift = schema
        .read()
        .and_then(|before| SchemaDrift::between(&before, &table.columns));
    if let Some(d) = &drift {
        if op.on_schema_change == OnSchemaChange::Stop && !dry_run {
            return Err(RunError::SchemaDrift(d.describe()));
        }
        warn!("{}", d.describe());
    }
    let pending = PendingFile::new(&dir, client.base_url(), ds);
    let left_in_flight = pending.read();
    let _lock = if dry_run {
        None
    } else {
        Some(DataSourceLock::acquire(&dir, client.base_url(), ds, job, guard::lock_wait()).await?)
    };
    info!("[PUSH] Fetching data via Fliplet API...");
    let mut in_flight_warning = None;
    let remote = match left_in_flight {
        Some(rec) if !dry_run => {
            warn!(
                "The previous run of job \"{}\" (pid {}) stopped while its commit {}/{} was in flight (sent at {}). Checking what the data source holds before planning, so that nothing is sent twice...",
                rec.job,
                rec.pid,
                rec.commit,
                rec.commits,
                rec.sent_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            let remote = control
                .read(commit::settle(
                    client,
                    ds,
                    &rec,
                    op.primary_column.as_deref(),
                    op.case_insensitive_primary_column,
                ))
                .await
                .map_err(RunError::stopped)??;
            pending.clear();
            remote
        }
        other => {
            if let Some(rec) = other {
                in_flight_warning = Some(format!(
                    "The last run of job \"{}\" stopped while a commit was in flight (sent at {}): the next real run checks what landed before sending anything, so this preview may show rows that are already on Fliplet.",
                    rec.job,
                    rec.sent_at.format("%Y-%m-%d %H:%M:%S UTC")
                ));
            }
            control
                .read(client.entries(ds))
                .await
                .map_err(RunError::stopped)?
                .map_err(|e| RunError::fetch(ds, e))?
        }
    };
    debug!("Fetched {} entries from the data source.", remote.len());

    if let Some(col) = &op.delete_column {
        debug!("Delete mode is enabled for rows having \"{col}\" not null.");
    }
    if op.run_hooks.is_empty() {
        debug!("No post-sync hooks have been enabled");
    } else {
        let hooks: Vec<&str> = op.run_hooks.iter().map(|h| h.as_str()).collect();
        debug!("Post-sync hooks enabled: {}", hooks.join(", "));
    }

    let options = plan_options(op, key.as_ref().and_then(|k| k.key.as_ref()));
    let mut plan = plan::plan(&table, &remote, &options)?;
    plan.warnings.extend(in_flight_warning);
    if let Some(d) = &drift {
        plan.warnings
            .push(if op.on_schema_change == OnSchemaChange::Stop {
                format!(
                    "{} A real run stops here (on_schema_change: stop).",
                    d.describe()
                )
            } else {
                d.describe()
            });
    }
    log_plan(&table, &remote, &plan, op);
    let mut blocked_deletes = None;
    if let Some(stop) = delete_gate(op, &plan, table.rows.len(), remote.len(), control) {
        if !dry_run {
            return Err(RunError::DeleteGate(stop));
        }
        warn!("{stop}");
        plan.warnings.push(stop);
        blocked_deletes = Some(plan.deletes.len());
    }

    let mut run = PushRun {
        data_source_id: ds,
        dry_run,
        table,
        remote,
        plan,
        commits_sent: 0,
        files: Vec::new(),
        encryption: None,
        blocked_deletes,
        schema_drift: drift,
        options,
    };
    let c = run.counts();
    if run.plan.is_empty() {
        info!("Nothing to commit.");
        if let Some(k) = key {
            run.encryption = Some(encryption_report(op, &run, k.source));
        }
        if !dry_run {
            schema.write(&run.table.columns);
        }
        return Ok(run);
    }

    // Files of the rows being written, then encryption (docs/fliplet-api.md, "Push", steps 5
    // and 6).
    let writes = write_rows(&run.plan);
    for f in &op.files {
        if run.table.column_index(&f.column).is_none() {
            let msg = format!(
                "The file column \"{}\" is not a column of the query result: no file to upload there.",
                f.column
            );
            warn!("{msg}");
            run.plan.warnings.push(msg);
        }
    }
    if !op.files.is_empty() {
        let tasks = files::tasks(&run.table, &writes, &op.files, op.primary_column.as_deref());
        if !tasks.is_empty() {
            let flow = FilesFlow::prepare(client, dry_run).await?;
            let table = &run.table;
            let label = |r: usize| row_key(table, op, r);
            run.files = flow.run(&tasks, &op.files, op.concurrency, &label).await?;
            let FileCounts {
                uploaded,
                would_upload: would,
                reused,
                failed,
            } = FileCounts::of(&run.files);
            if dry_run {
                info!(
                    "Files: {would} would be uploaded, {reused} already on Fliplet (reused), {failed} could not be fetched."
                );
            } else {
                info!(
                    "Files: {uploaded} uploaded, {reused} already on Fliplet (reused), {failed} could not be fetched."
                );
            }
        }
    }
    if let Some(k) = &key {
        let report = encryption_report(op, &run, k.source.clone());
        for f in &report.missing_fields {
            let msg = format!(
                "The field \"{f}\" to encrypt is not a column of the query result: nothing to encrypt there."
            );
            warn!("{msg}");
            run.plan.warnings.push(msg);
        }
        run.encryption = Some(report);
    }

    if dry_run {
        info!(
            "Dry run mode is enabled. Here's what would be sent to the Fliplet API: {} to insert, {} to update, {} to delete ({} unchanged, {} skipped). Nothing has been written.",
            c.inserted, c.updated, c.deleted, c.unchanged, c.skipped
        );
        if !run.plan.deletes.is_empty() {
            info!(
                "Entries to delete: {}",
                serde_json::to_string(&run.plan.delete_ids()).unwrap_or_default()
            );
        }
        return Ok(run);
    }
    let patches = patches(op, &run, key.as_ref().and_then(|k| k.key.as_ref()));
    run.commits_sent = Commit {
        client,
        job,
        data_source_id: ds,
        table: &run.table,
        options: &run.options,
        patches: &patches,
        batch_size: op.batch_size,
        run_hooks: op.run_hooks.iter().map(|h| h.as_str()).collect(),
        extend: op.merge,
        pending: &pending,
        control,
    }
    .run(&run.plan, &run.remote)
    .await?;
    info!(
        "Sync finished. {} data source entries have been affected ({} inserted, {} updated, {} deleted).",
        c.inserted + c.updated + c.deleted,
        c.inserted,
        c.updated,
        c.deleted
    );
    schema.write(&run.table.columns);
    Ok(run)
}

/// Why the run must not apply this plan without explicit permission, if it must not: `mode:
/// replace` with a query that returned no rows (unless `allow_empty_source`), or more deletes
/// than the delete gate allows. A one-time permission for at least this many deletes
/// (`--allow-deletes N`, the app's "Allow once") lets it through.
pub fn delete_gate(
    op: &PushOperation,
    plan: &Plan,
    rows: usize,
    entries: usize,
    control: &RunControl,
) -> Option<String> {
    let deletes = plan.deletes.len();
    if deletes == 0 || control.allow_deletes.is_some_and(|n| deletes <= n) {
        return None;
    }
    let once = format!(
        "To apply them once after checking them in the preview (`fliplet-agent preview <job file>`): `fliplet-agent start <job file> --allow-deletes {deletes}`, or \"Allow once\" on the run in the desktop app."
    );
    let permitted = match control.allow_deletes {
        Some(n) => format!(" (permission was given for {n}, fewer than this run would delete)"),
        None => String::new(),
    };
    if op.mode == Mode::Replace && rows == 0 && !op.allow_empty_source {
        return Some(format!(
            "The query returned no rows: with \"mode: replace\" this run would delete all {deletes} entries of the data source{permitted}. Nothing was written. If the source is really empty now: {once} To allow it always, set `allow_empty_source: true` in the job file."
        ));
    }
    // Without a primary key, `mode: replace` deletes every entry and inserts every row on each
    // run (a full reload): what is lost is only what is not inserted again.
    let keyed = op.primary_column.is_some();
    let lost = if keyed {
        deletes
    } else {
        deletes.saturating_sub(plan.inserts.len())
    };
    if !op.delete_gate.allows(lost, entries) {
        let share = lost as f64 * 100.0 / entries.max(1) as f64;
        let what = if keyed {
            format!(
                "This run would delete {deletes} of the data source's {entries} entries ({share:.0}%)"
            )
        } else {
            format!(
                "This run would delete {deletes} entries and insert only {} rows again (no primary_column: each run reloads every entry), so {lost} of the data source's {entries} entries ({share:.0}%) would be lost",
                plan.inserts.len()
            )
        };
        return Some(format!(
            "{what}, more than the delete gate allows (more than {}% and more than {} entries){permitted}. Nothing was written. {once} To allow larger deletes always, raise `delete_gate_percent` or `delete_gate_min` in the job file.",
            op.delete_gate.percent, op.delete_gate.min
        ));
    }
    None
}

/// Rows inserted or updated, in row order.
fn write_rows(plan: &Plan) -> Vec<usize> {
    let mut rows: Vec<usize> = plan
        .inserts
        .iter()
        .copied()
        .chain(plan.updates.iter().map(|u| u.row))
        .collect();
    rows.sort_unstable();
    rows
}

/// How a row is named in messages: its primary key value, else its 1-based number.
fn row_key(table: &Table, op: &PushOperation, row: usize) -> String {
    match op
        .primary_column
        .as_ref()
        .and_then(|pk| table.column_index(pk))
    {
        Some(i) => display_key(&table.rows[row][i]),
        None => format!("{}", row + 1),
    }
}

fn encryption_report(op: &PushOperation, run: &PushRun, key_source: KeySource) -> EncryptionReport {
    let fields = op
        .encrypt
        .as_ref()
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let (present, missing): (Vec<String>, Vec<String>) = fields
        .into_iter()
        .partition(|f| run.table.column_index(f).is_some());
    let cols: Vec<usize> = present
        .iter()
        .filter_map(|f| run.table.column_index(f))
        .collect();
    let values = write_rows(&run.plan)
        .into_iter()
        .map(|r| {
            cols.iter()
                .filter(|&&c| field_plaintext(&run.table.rows[r][c]).is_some())
                .count()
        })
        .sum();
    EncryptionReport {
        fields: present,
        missing_fields: missing,
        key_source,
        values,
    }
}

/// The patches of the rows being written.
fn patches(op: &PushOperation, run: &PushRun, key: Option<&Secret>) -> HashMap<usize, RowPatch> {
    let mut out: HashMap<usize, RowPatch> = HashMap::new();
    let t = &run.table;
    for f in &run.files {
        let Some(col) = t.column_index(&f.column) else {
            continue;
        };
        let p = out.entry(f.row).or_default();
        match (f.action, f.media_file_id, &f.url) {
            (FileAction::Uploaded | FileAction::Reused, Some(id), Some(url)) => {
                p.set.insert(col, Value::String(url.clone()));
                let id_col = format!("{}MediaFileId", f.column);
                match t.column_index(&id_col) {
                    Some(i) => {
                        p.set.insert(i, Value::from(id));
                    }
                    None => p.extra.push((id_col, Value::from(id))),
                }
            }
            (FileAction::Failed, _, _) => p.omit.push(col),
            _ => {}
        }
    }
    if let (Some(enc), Some(key)) = (&op.encrypt, key) {
        let cols: Vec<usize> = enc
            .fields
            .iter()
            .filter_map(|f| t.column_index(f))
            .collect();
        if !cols.is_empty() {
            for r in write_rows(&run.plan) {
                for &c in &cols {
                    let p = out.entry(r).or_default();
                    if p.omit.contains(&c) {
                        continue;
                    }
                    let current = p.set.get(&c).unwrap_or(&t.rows[r][c]);
                    if let Some(cipher) = encrypt_value(current, key.expose()) {
                        p.set.insert(c, cipher);
                    }
                }
            }
        }
    }
    out
}

fn log_plan(table: &Table, remote: &[RemoteEntry], plan: &Plan, op: &PushOperation) {
    for w in &plan.warnings {
        warn!("{w}");
    }
    let key = |row: usize| -> String {
        match op
            .primary_column
            .as_ref()
            .and_then(|pk| table.column_index(pk))
        {
            Some(i) => display_key(&table.rows[row][i]),
            None => format!("{}", row + 1),
        }
    };
    for s in &plan.skipped {
        let row = RowObject::new(table, s.row);
        let row_json = serde_json::to_string(&row).unwrap_or_default();
        match s.reason {
            plan::SkipReason::MissingKey => error!(
                "A row is missing its primary key value from the database. Skipping: {row_json}"
            ),
            plan::SkipReason::DuplicateKey { .. } => error!(
                "A duplicate row has been found for the same primary key. Skipping: {row_json}"
            ),
            plan::SkipReason::DeletedNotOnFliplet => debug!(
                "Row #{} is not present on Fliplet servers and it's locally marked as deleted. Skipping...",
                key(s.row)
            ),
        }
    }
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let no_pk = op.primary_column.is_none();
    for &r in &plan.inserts {
        if no_pk {
            debug!(
                "Row #{} has been marked for inserting since we don't have a primary key for the comparison.",
                key(r)
            );
        } else {
            debug!("Row #{} has been marked for inserting.", key(r));
        }
    }
    for u in &plan.updates {
        debug!("Row #{} has been marked for updating.", key(u.row));
    }
    for u in &plan.unchanged {
        debug!(
            "Row #{} already exists on Fliplet servers with ID {} and does not require updating.",
            key(u.row),
            u.entry_id
        );
    }
    for d in &plan.deletes {
        match d.reason {
            DeleteReason::Flagged { row } => debug!(
                "Row #{} has been marked for deletion on Fliplet servers with ID {}.",
                key(row),
                d.entry_id
            ),
            DeleteReason::NotInSource => debug!(
                "Remote entry with ID {} has been marked for deletion as it doesn't exist in the local dataset.",
                remote[d.remote].id
            ),
            DeleteReason::DuplicateKey { kept } => debug!(
                "Remote entry with ID {} has been marked for deletion as it shares its primary key with entry {kept}.",
                d.entry_id
            ),
        }
    }
}

fn display_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A changed cell of an update, for the preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CellChange {
    pub column: String,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub before: Value,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub after: Value,
    /// The column exists only on Fliplet and would be removed, because `merge` is off.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(test, ts(type = "boolean", optional = nullable))]
    pub removed: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PreviewRow {
    /// 1-based row number in the query result.
    pub row: usize,
    #[cfg_attr(test, ts(type = "Record<string, unknown>"))]
    pub data: Value,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PreviewUpdate {
    pub row: usize,
    pub entry_id: u64,
    pub changes: Vec<CellChange>,
    #[cfg_attr(test, ts(type = "Record<string, unknown>"))]
    pub data: Value,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PreviewDelete {
    pub entry_id: u64,
    /// `flagged` (the row's delete column is set), `not_in_source` (replace mode) or
    /// `duplicate_key` (an extra copy of an entry's key, `remove_duplicate_entries`).
    #[cfg_attr(test, ts(type = r#""flagged" | "not_in_source" | "duplicate_key""#))]
    pub reason: &'static str,
    pub row: Option<usize>,
    /// The entry's current data on Fliplet.
    #[cfg_attr(test, ts(type = "Record<string, unknown>"))]
    pub data: Value,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PreviewSkip {
    pub row: usize,
    pub reason: String,
    #[cfg_attr(test, ts(type = "Record<string, unknown>"))]
    pub data: Value,
}

/// An entry sharing its primary key with the entry `kept` (the lowest id of that key).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PreviewDuplicate {
    pub entry_id: u64,
    pub kept: u64,
    /// Whether the plan deletes it (`remove_duplicate_entries`, or `mode: replace`).
    pub deleted: bool,
    #[cfg_attr(test, ts(type = "Record<string, unknown>"))]
    pub data: Value,
}

/// What a push would do, row by row: the dry-run preview. Lists are cut at `max_rows` each
/// (`truncated` says so); counts are always complete.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PushPreview {
    pub data_source_id: u64,
    pub counts: Counts,
    pub columns: Vec<String>,
    pub inserts: Vec<PreviewRow>,
    pub updates: Vec<PreviewUpdate>,
    pub deletes: Vec<PreviewDelete>,
    pub skipped: Vec<PreviewSkip>,
    /// Entries that share a primary key with an entry of lower id (complete count in
    /// `duplicate_count`; at most `max_rows` listed).
    pub duplicates: Vec<PreviewDuplicate>,
    pub duplicate_count: usize,
    /// A real run would be stopped before writing by the delete gate (or the empty-source
    /// rule): the number of deletes to permit once (`--allow-deletes N`, "Allow once").
    pub blocked_deletes: Option<usize>,
    /// The query's columns compared with the last successful run's (added, removed,
    /// retyped), when they differ.
    pub schema_drift: Option<SchemaDrift>,
    pub warnings: Vec<String>,
    pub truncated: bool,
    /// File columns: what happens to each file of the rows inserted or updated (at most
    /// `max_rows` listed; `file_counts` is complete). A dry run uploads nothing.
    pub files: Vec<PreviewFile>,
    pub file_counts: FileCounts,
    /// Field encryption: which fields are encrypted and where the key comes from. A dry run
    /// creates no keystore.
    pub encryption: Option<EncryptionReport>,
}

/// One file of the preview (`row` is 1-based).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PreviewFile {
    pub row: usize,
    #[serde(flatten)]
    pub file: FileReport,
}

/// How many files were (or would be) uploaded, reused, or could not be fetched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct FileCounts {
    pub uploaded: usize,
    pub would_upload: usize,
    pub reused: usize,
    pub failed: usize,
}

impl FileCounts {
    pub fn of(files: &[FileReport]) -> FileCounts {
        let mut c = FileCounts::default();
        for f in files {
            match f.action {
                FileAction::Uploaded => c.uploaded += 1,
                FileAction::WouldUpload => c.would_upload += 1,
                FileAction::Reused => c.reused += 1,
                FileAction::Failed => c.failed += 1,
            }
        }
        c
    }
}

impl PushRun {
    /// The preview of this run's plan, with at most `max_rows` rows per list (`None`: all).
    pub fn preview(&self, merge: bool, max_rows: Option<usize>) -> PushPreview {
        let cap = max_rows.unwrap_or(usize::MAX);
        let p = &self.plan;
        let t = &self.table;
        // File columns may hold signed URLs: a preview never shows their query strings.
        let file_columns = &self.options.file_columns;
        let redact = |mut v: Value| {
            super::files::redact_file_columns(&mut v, file_columns);
            v
        };
        let row_value =
            |r: usize| redact(serde_json::to_value(RowObject::new(t, r)).unwrap_or_default());
        let by_id: std::collections::HashMap<u64, usize> = if p.updates.is_empty() {
            Default::default()
        } else {
            self.remote
                .iter()
                .enumerate()
                .map(|(i, e)| (e.id, i))
                .collect()
        };
        let deleted_ids: std::collections::HashSet<u64> = if p.duplicates.is_empty() {
            Default::default()
        } else {
            p.deletes.iter().map(|d| d.entry_id).collect()
        };
        let truncated = [
            p.inserts.len(),
            p.updates.len(),
            p.deletes.len(),
            p.skipped.len(),
        ]
        .iter()
        .any(|&n| n > cap);
        PushPreview {
            data_source_id: self.data_source_id,
            counts: self.counts(),
            columns: t.column_names(),
            inserts: p
                .inserts
                .iter()
                .take(cap)
                .map(|&r| PreviewRow {
                    row: r + 1,
                    data: row_value(r),
                })
                .collect(),
            updates: p
                .updates
                .iter()
                .take(cap)
                .map(|u| {
                    let remote = by_id
                        .get(&u.entry_id)
                        .map(|&i| self.remote[i].data_value())
                        .unwrap_or(Value::Null);
                    PreviewUpdate {
                        row: u.row + 1,
                        entry_id: u.entry_id,
                        changes: cell_changes(t, u.row, &remote, merge, &self.options)
                            .into_iter()
                            .map(|mut c| {
                                if file_columns.contains(&c.column) {
                                    super::files::redact_file_value(&mut c.before);
                                    super::files::redact_file_value(&mut c.after);
                                }
                                c
                            })
                            .collect(),
                        data: row_value(u.row),
                    }
                })
                .collect(),
            deletes: p
                .deletes
                .iter()
                .take(cap)
                .map(|d| PreviewDelete {
                    entry_id: d.entry_id,
                    reason: match d.reason {
                        DeleteReason::Flagged { .. } => "flagged",
                        DeleteReason::NotInSource => "not_in_source",
                        DeleteReason::DuplicateKey { .. } => "duplicate_key",
                    },
                    row: match d.reason {
                        DeleteReason::Flagged { row } => Some(row + 1),
                        DeleteReason::NotInSource | DeleteReason::DuplicateKey { .. } => None,
                    },
                    data: redact(self.remote[d.remote].data_value()),
                })
                .collect(),
            skipped: p
                .skipped
                .iter()
                .take(cap)
                .map(|s| PreviewSkip {
                    row: s.row + 1,
                    reason: s.reason.to_string(),
                    data: row_value(s.row),
                })
                .collect(),
            duplicates: p
                .duplicates
                .iter()
                .take(cap)
                .map(|d| PreviewDuplicate {
                    entry_id: d.entry_id,
                    kept: d.kept,
                    deleted: deleted_ids.contains(&d.entry_id),
                    data: self.remote[d.remote].data_value(),
                })
                .collect(),
            duplicate_count: p.duplicates.len(),
            blocked_deletes: self.blocked_deletes,
            schema_drift: self.schema_drift.clone(),
            warnings: p.warnings.clone(),
            truncated: truncated || self.files.len() > cap || p.duplicates.len() > cap,
            files: self
                .files
                .iter()
                .take(cap)
                .map(|f| PreviewFile {
                    row: f.row + 1,
                    file: f.redacted(),
                })
                .collect(),
            file_counts: FileCounts::of(&self.files),
            encryption: self.encryption.clone(),
        }
    }
}

/// The cells of a row that differ from the entry's data.
fn cell_changes(
    t: &Table,
    row: usize,
    remote: &Value,
    merge: bool,
    options: &PlanOptions,
) -> Vec<CellChange> {
    let empty = serde_json::Map::new();
    let remote = remote.as_object().unwrap_or(&empty);
    let key = options.encryption_key.as_ref().map(Secret::expose);
    let media_ids: Vec<String> = options
        .file_columns
        .iter()
        .map(|c| format!("{c}MediaFileId"))
        .collect();
    let mut out: Vec<CellChange> = t
        .columns
        .iter()
        .zip(&t.rows[row])
        .filter_map(|(c, v)| {
            let mut before = remote.get(&c.name).cloned().unwrap_or(Value::Null);
            let set = v.as_str().is_some_and(|s| !s.trim().is_empty());
            if set && options.file_columns.contains(&c.name) {
                // The remote value is the Fliplet URL of the uploaded file, never the path.
                let uploaded = remote
                    .get(&format!("{}MediaFileId", c.name))
                    .is_some_and(|id| !id.is_null());
                return (!uploaded).then(|| CellChange {
                    column: c.name.clone(),
                    before,
                    after: v.clone(),
                    removed: false,
                });
            }
            if options.encrypted_columns.contains(&c.name)
                && let Some(text) = field_plaintext(v)
            {
                // Compare (and show) the plaintext: ciphertexts differ on every run.
                let plain = match (key, &before) {
                    (Some(k), Value::String(cipher)) => cryptojs_decrypt(cipher, k).ok(),
                    _ => None,
                };
                if plain.as_deref() == Some(text.as_str()) {
                    return None;
                }
                before = plain.map(Value::String).unwrap_or(before);
            }
            (before != *v).then(|| CellChange {
                column: c.name.clone(),
                before,
                after: v.clone(),
                removed: false,
            })
        })
        .collect();
    if !merge {
        for (k, v) in remote {
            if t.column_index(k).is_none() && !media_ids.contains(k) {
                out.push(CellChange {
                    column: k.clone(),
                    before: v.clone(),
                    after: Value::Null,
                    removed: true,
                });
            }
        }
    }
    out
}
