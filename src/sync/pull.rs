//! Running one pull operation: query a data source (`where`, `attributes`, `order`,
//! `limit`), write the entries to a table (upsert in one transaction) or a CSV/JSON file
//! (temp file + rename), then optionally write a column back to each pulled entry.
//!
//! A dry run queries Fliplet (and reads the target table's keys) but writes nothing: no
//! table rows, no file, no write-back.
//!
//! The write-back is one commit per 1000 entries with `append: true` and `extend: true`
//! (only the write-back column changes on each entry), which costs one request per 1000
//! entries instead of one `PUT` per entry as in the reference document's example.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value, json};
use tracing::{debug, info, warn};

use crate::config::{PullOperation, PullTarget, WriteBack, WriteBackValue};
use crate::fliplet::{ApiError, Client, CommitRequest, CommitRow, PulledEntry};
use crate::sync::table::{self, TableCounts, TableError};

/// Entries per write-back commit.
pub const WRITE_BACK_BATCH: usize = 1000;

/// Why a pull did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(
        "You don't have access to the dataSource {data_source_id}. Please check the permissions of your Fliplet user. ({message})"
    )]
    NoAccess {
        data_source_id: u64,
        message: String,
    },
    #[error("Cannot query the entries of data source {data_source_id}: {source}")]
    Query {
        data_source_id: u64,
        source: ApiError,
    },
    #[error("{0}")]
    Table(#[from] TableError),
    #[error(
        "Cannot write the file {path}: {message}. Nothing was written (the previous file, if any, is unchanged)."
    )]
    File { path: String, message: String },
    #[error(
        "The entries were written to {target}, but writing back `{column}` to the data source failed: {message} ({done} of {total} entries were marked). The next run will pull the unmarked entries again."
    )]
    WriteBack {
        target: String,
        column: String,
        message: String,
        done: usize,
        total: usize,
    },
}

/// What a pull did (or would do).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PullRun {
    pub data_source_id: u64,
    pub dry_run: bool,
    /// Entries returned by the query.
    pub fetched: usize,
    /// `table <name>`, `CSV file <path>`, `JSON file <path>`.
    pub target: String,
    /// For a table target: rows inserted / updated / skipped (no key value).
    pub table: Option<TableCounts>,
    /// Entries written to a file target.
    pub file_rows: Option<usize>,
    /// Entries marked by the write-back (0 in a dry run).
    pub written_back: usize,
    /// The write-back that would run (column), for previews.
    pub write_back_column: Option<String>,
    /// The first pulled entries (at most 20), for previews.
    pub sample: Vec<PulledEntry>,
}

/// The body of the data/query request of a pull.
pub fn query_body(op: &PullOperation) -> Value {
    let mut body = Map::new();
    if let Some(w) = &op.where_ {
        body.insert("where".into(), w.clone());
    }
    if !op.attributes.is_empty() {
        body.insert("attributes".into(), json!(op.attributes));
    }
    if !op.order.is_empty() {
        body.insert(
            "order".into(),
            Value::Array(op.order.iter().map(|(c, d)| json!([c, d])).collect()),
        );
    }
    if let Some(l) = op.limit {
        body.insert("limit".into(), json!(l));
    }
    Value::Object(body)
}

fn describe_target(t: &PullTarget) -> String {
    match t {
        PullTarget::Table {
            connection, table, ..
        } => format!("the table {table} ({})", connection.config.describe()),
        PullTarget::Csv { path, .. } => format!("the CSV file {}", path.display()),
        PullTarget::Json { path } => format!("the JSON file {}", path.display()),
    }
}

/// Run one pull.
pub async fn run_pull(
    client: &Client,
    op: &PullOperation,
    dry_run: bool,
) -> Result<PullRun, PullError> {
    let ds = op.datasource_id;
    let body = query_body(op);
    info!("[PULL] Fetching data via Fliplet API...");
    debug!("Query: {body}");
    let entries = client.query(ds, &body).await.map_err(|e| match e {
        ApiError::NoAccess { message, .. } | ApiError::Unauthorized { message } => {
            PullError::NoAccess {
                data_source_id: ds,
                message,
            }
        }
        source => PullError::Query {
            data_source_id: ds,
            source,
        },
    })?;
    info!("Fetched {} entries from data source {ds}.", entries.len());
    let target = describe_target(&op.target);
    let mut run = PullRun {
        data_source_id: ds,
        dry_run,
        fetched: entries.len(),
        target: target.clone(),
        table: None,
        file_rows: None,
        written_back: 0,
        write_back_column: op.write_back.as_ref().map(|w| w.column.clone()),
        sample: entries.iter().take(20).cloned().collect(),
    };
    match &op.target {
        PullTarget::Table {
            connection,
            table,
            key,
            columns,
        } => {
            let driver = connection.config.driver;
            let to: Vec<String> = columns.iter().map(|(_, t)| t.clone()).collect();
            let from: Vec<String> = columns.iter().map(|(f, _)| f.clone()).collect();
            let rows: Vec<Vec<Option<String>>> = entries
                .iter()
                .map(|e| {
                    from.iter()
                        .map(|f| {
                            if f == "$id" {
                                Some(e.id.to_string())
                            } else {
                                e.data.get(f).and_then(|v| table::cell(v, driver))
                            }
                        })
                        .collect()
                })
                .collect();
            let counts =
                table::upsert(&connection.config, table, key, &to, &from, &rows, dry_run).await?;
            if counts.skipped > 0 {
                warn!(
                    "{} entries have no value for the key column `{key}` and were not written.",
                    counts.skipped
                );
            }
            if dry_run {
                info!(
                    "Dry run mode is enabled: {} rows would be inserted into and {} updated in {target}. Nothing has been written.",
                    counts.inserted, counts.updated
                );
            } else {
                info!(
                    "{target}: {} rows inserted, {} updated.",
                    counts.inserted, counts.updated
                );
            }
            run.table = Some(counts);
        }
        PullTarget::Csv { path, delimiter } => {
            let bytes = csv_bytes(&entries, *delimiter, &op.attributes).map_err(|message| {
                PullError::File {
                    path: path.display().to_string(),
                    message,
                }
            })?;
            write_file(path, &bytes, dry_run, entries.len())?;
            run.file_rows = Some(entries.len());
        }
        PullTarget::Json { path } => {
            let bytes = serde_json::to_vec_pretty(&entries).map_err(|e| PullError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            write_file(path, &bytes, dry_run, entries.len())?;
            run.file_rows = Some(entries.len());
        }
    }
    if let Some(wb) = &op.write_back {
        if dry_run {
            info!(
                "Dry run: `{}` would be written back to {} entries of data source {ds}.",
                wb.column,
                entries.len()
            );
        } else {
            run.written_back = write_back(client, ds, wb, &entries, &target).await?;
            info!(
                "`{}` has been written back to {} entries of data source {ds}.",
                wb.column, run.written_back
            );
        }
    }
    Ok(run)
}

/// The value written back now.
pub fn write_back_value(v: &WriteBackValue) -> Value {
    match v {
        WriteBackValue::Now => json!(chrono::Utc::now().timestamp_millis()),
        WriteBackValue::NowIso => json!(
            chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        ),
        WriteBackValue::Fixed(v) => v.clone(),
    }
}

async fn write_back(
    client: &Client,
    ds: u64,
    wb: &WriteBack,
    entries: &[PulledEntry],
    target: &str,
) -> Result<usize, PullError> {
    let value = write_back_value(&wb.value);
    let rows: Vec<CommitRow<Value>> = entries
        .iter()
        .map(|e| CommitRow {
            id: Some(e.id),
            data: json!({ wb.column.clone(): value.clone() }),
        })
        .collect();
    let mut done = 0;
    for chunk in rows.chunks(WRITE_BACK_BATCH) {
        let request = CommitRequest {
            append: true,
            entries: chunk,
            delete: None,
            run_hooks: Vec::new(),
            extend: Some(true),
            return_entries: false,
        };
        client
            .commit(ds, &request)
            .await
            .map_err(|e| PullError::WriteBack {
                target: target.to_string(),
                column: wb.column.clone(),
                message: e.to_string(),
                done,
                total: rows.len(),
            })?;
        done += chunk.len();
    }
    Ok(done)
}

/// CSV of the entries: `id` then the data columns (`attributes` order when given, else in
/// order of first appearance).
pub fn csv_bytes(
    entries: &[PulledEntry],
    delimiter: u8,
    attributes: &[String],
) -> Result<Vec<u8>, String> {
    let mut columns: Vec<String> = attributes
        .iter()
        .map(|a| a.strip_prefix("data.").unwrap_or(a).to_string())
        .filter(|a| a != "id")
        .collect();
    if columns.is_empty() {
        for e in entries {
            for k in e.data.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    let mut header = vec!["id".to_string()];
    // A data column named `id` would clash with the entry ID.
    header.extend(columns.iter().map(|c| {
        if c == "id" {
            "data.id".to_string()
        } else {
            c.clone()
        }
    }));
    w.write_record(&header).map_err(|e| e.to_string())?;
    for e in entries {
        let mut rec = vec![e.id.to_string()];
        for c in &columns {
            rec.push(match e.data.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            });
        }
        w.write_record(&rec).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

fn write_file(path: &Path, bytes: &[u8], dry_run: bool, n: usize) -> Result<(), PullError> {
    if dry_run {
        info!(
            "Dry run mode is enabled: {n} entries would be written to {}. Nothing has been written.",
            path.display()
        );
        return Ok(());
    }
    crate::atomic_file::write(path, bytes, None).map_err(|e| PullError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    info!("{n} entries have been written to {}.", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_id_then_columns() {
        let mut d = Map::new();
        d.insert("Name".into(), json!("Ann, Jr"));
        d.insert("id".into(), json!(7));
        let e = vec![PulledEntry { id: 3, data: d }];
        let s = String::from_utf8(csv_bytes(&e, b',', &[]).unwrap()).unwrap();
        assert_eq!(s, "id,Name,data.id\n3,\"Ann, Jr\",7\n");
    }
}
