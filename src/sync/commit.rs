//! Sending a plan exactly once.
//!
//! A commit is not idempotent: its inserts carry no id, so a commit resent after its answer
//! was lost inserts its rows again. The Fliplet client resends a commit only when it provably
//! never reached the server; any other failure after sending is an *unknown outcome*
//! ([`ApiError::OutcomeUnknown`]). Then nothing else is sent until the data source has been
//! read again ([`settle`]) and the rest of the run re-planned from what it holds:
//!
//! - with a `primary_column`, the plan itself does it: the rows whose inserts landed now match
//!   their entries, and updates and deletes are idempotent;
//! - without one (append mode), the entries created since the run began are compared with
//!   the rows sent, value for value, and only the rows not found are sent again. Two identical
//!   rows are indistinguishable: if one of them landed, it counts for either.
//!
//! Before each commit a [`PendingCommit`] record is written and it is removed once the answer
//! is known, so a run that was killed mid-commit leaves it behind and the next run settles
//! that commit first (see `push::run_push`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tracing::{info, warn};

use crate::fliplet::{ApiError, Client, CommitRequest, CommitRow, RemoteEntry, RetryPolicy};
use crate::source::Table;
use crate::sync::control::RunControl;
use crate::sync::error::RunError;
use crate::sync::guard::{PendingCommit, PendingFile};
use crate::sync::plan::{self, Plan, PlanOptions, canonical_key, extract_fields};
use crate::sync::row::{RowObject, RowPatch};

/// Environment variable: how long after sending a commit whose outcome is unknown the run
/// waits for its effect to show, in milliseconds (default 60 000).
pub const SETTLE_ENV: &str = "FLIPLET_SETTLE_MS";

/// Default of [`SETTLE_ENV`].
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(60);

/// The settle window: `$FLIPLET_SETTLE_MS`, else [`DEFAULT_SETTLE`].
pub fn settle_window() -> Duration {
    std::env::var(SETTLE_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_SETTLE)
}

/// Everything the commit loop needs from its run.
pub(crate) struct Commit<'a> {
    pub client: &'a Client,
    pub job: &'a str,
    pub data_source_id: u64,
    pub table: &'a Table,
    pub options: &'a PlanOptions,
    pub patches: &'a HashMap<usize, RowPatch>,
    pub batch_size: usize,
    pub run_hooks: Vec<&'static str>,
    pub extend: Option<bool>,
    pub pending: &'a PendingFile,
    pub control: &'a RunControl,
}

/// Where a row of an append-mode run stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    No,
    /// Its commit was answered: it is on Fliplet.
    Confirmed,
    /// Its commit's outcome is unknown.
    Unknown,
}

impl Commit<'_> {
    fn keyed(&self) -> bool {
        self.options.primary_column.is_some()
    }

    /// Send `first` (planned against `remote`), settling and re-planning after every unknown
    /// outcome. Returns the number of commit requests answered.
    pub async fn run(&self, first: &Plan, remote: &[RemoteEntry]) -> Result<usize, RunError> {
        let attempts = RetryPolicy::from_env().attempts.max(1) as usize;
        // Rows whose data (file URLs, ciphertexts) was prepared for this run.
        let prepared: HashSet<usize> = first
            .inserts
            .iter()
            .copied()
            .chain(first.updates.iter().map(|u| u.row))
            .collect();
        let run_max_id = remote.iter().map(|e| e.id).max().unwrap_or(0);
        let mut sent_rows = vec![Sent::No; self.table.rows.len()];
        let mut plan = first.clone();
        let mut answered = 0;
        let mut unknowns = 0;
        'round: loop {
            let mut writes: Vec<(usize, Option<u64>)> = plan
                .inserts
                .iter()
                .map(|&r| (r, None))
                .chain(plan.updates.iter().map(|u| (u.row, Some(u.entry_id))))
                .collect();
            let before = writes.len();
            writes.retain(|(r, _)| prepared.contains(r));
            if writes.len() < before {
                warn!(
                    "{} rows changed on Fliplet while this run was going on: they are left for the next run.",
                    before - writes.len()
                );
            }
            // A row whose commit was answered is on Fliplet: in `replace` mode the re-plan
            // would update it again with the same data.
            writes.retain(|(r, _)| sent_rows[*r] != Sent::Confirmed);
            writes.sort_unstable_by_key(|(r, _)| *r);
            let deletes = plan.delete_ids();
            if writes.is_empty() && deletes.is_empty() {
                break;
            }
            let chunks: Vec<&[(usize, Option<u64>)]> = if writes.is_empty() {
                vec![&[]]
            } else {
                writes.chunks(self.batch_size.max(1)).collect()
            };
            let total = chunks.len();
            for (i, chunk) in chunks.iter().enumerate() {
                let last = i + 1 == total;
                let entries: Vec<CommitRow<RowObject>> = chunk
                    .iter()
                    .map(|&(r, id)| CommitRow {
                        id,
                        data: RowObject::new(self.table, r).with_patch(self.patches.get(&r)),
                    })
                    .collect();
                let request = CommitRequest {
                    append: true,
                    entries: &entries,
                    delete: (last && !deletes.is_empty()).then_some(deletes.as_slice()),
                    run_hooks: self.run_hooks.clone(),
                    extend: self.extend,
                    return_entries: false,
                };
                if total > 1 {
                    tracing::debug!(
                        "Sending commit {}/{} ({} entries{}).",
                        i + 1,
                        total,
                        entries.len(),
                        if request.delete.is_some() {
                            format!(", {} deletions", deletes.len())
                        } else {
                            String::new()
                        }
                    );
                }
                if let Some(reason) = self.control.stopped() {
                    return Err(RunError::Stopped {
                        reason,
                        sent: answered,
                        total: answered + (total - i),
                    });
                }
                let record = self.record(chunk, i + 1, total, run_max_id);
                self.pending.write(&record).map_err(|e| {
                    RunError::Config(format!(
                        "Cannot record the commit about to be sent ({e}); nothing was sent. Check that the agent's data folder {} is writable.",
                        crate::sync::guard::sync_dir().display()
                    ))
                })?;
                match self.client.commit(self.data_source_id, &request).await {
                    Ok(()) => {
                        self.pending.clear();
                        answered += 1;
                        for &(r, _) in chunk.iter() {
                            sent_rows[r] = Sent::Confirmed;
                        }
                    }
                    Err(ApiError::OutcomeUnknown { message }) => {
                        unknowns += 1;
                        for &(r, _) in chunk.iter() {
                            if sent_rows[r] == Sent::No {
                                sent_rows[r] = Sent::Unknown;
                            }
                        }
                        if unknowns >= attempts {
                            // The record stays: the next run settles this commit first.
                            return Err(RunError::CommitUnknown {
                                message,
                                commit: i + 1,
                                total,
                                rounds: unknowns,
                            });
                        }
                        warn!(
                            "The answer to commit {}/{total} was lost ({message}). It is not resent blindly: reading what the data source holds first...",
                            i + 1
                        );
                        // The record stays until the settle read has come back.
                        let fresh =
                            self.control
                                .read(self.settle(&record))
                                .await
                                .map_err(|reason| RunError::Stopped {
                                    reason,
                                    sent: answered,
                                    total: answered + (total - i),
                                })??;
                        self.pending.clear();
                        plan = if self.keyed() {
                            plan::plan(self.table, &fresh, self.options)?
                        } else {
                            self.replan_append(first, &fresh, run_max_id, &mut sent_rows)
                        };
                        info!(
                            "Re-planned from the data source's current state: {} to insert, {} to update, {} to delete.",
                            plan.inserts.len(),
                            plan.updates.len(),
                            plan.deletes.len()
                        );
                        continue 'round;
                    }
                    Err(e) => {
                        // Known not to be applied (a 4xx, or never sent).
                        self.pending.clear();
                        let mut message = e.to_string();
                        if let ApiError::Rejected { status: 413, .. } = e {
                            message.push_str(&format!(
                                ". The commit is too large for the server: lower batch_size in the job file (now {}), e.g. to {}.",
                                self.batch_size,
                                (self.batch_size / 4).max(1)
                            ));
                        }
                        return Err(RunError::Commit {
                            message,
                            sent: answered,
                            total: answered + (total - i),
                            resumable: self.keyed(),
                        });
                    }
                }
            }
            break;
        }
        Ok(answered)
    }

    fn record(
        &self,
        chunk: &[(usize, Option<u64>)],
        commit: usize,
        commits: usize,
        max_known_id: u64,
    ) -> PendingCommit {
        let pk = self
            .options
            .primary_column
            .as_ref()
            .and_then(|c| self.table.column_index(c));
        let inserts: Vec<usize> = chunk
            .iter()
            .filter(|(_, id)| id.is_none())
            .map(|(r, _)| *r)
            .collect();
        PendingCommit {
            job: self.job.to_string(),
            data_source_id: self.data_source_id,
            pid: std::process::id(),
            sent_at: Utc::now(),
            commit,
            commits,
            insert_keys: match pk {
                Some(pk) => inserts
                    .iter()
                    .filter_map(|&r| {
                        canonical_key(&self.table.rows[r][pk], self.options.case_insensitive)
                    })
                    .collect(),
                None => Vec::new(),
            },
            inserts: inserts.len(),
            max_known_id,
        }
    }

    /// Read the data source until the effect of the commit `record` shows, or until the
    /// settle window after its sending has passed.
    pub async fn settle(&self, record: &PendingCommit) -> Result<Vec<RemoteEntry>, RunError> {
        settle(
            self.client,
            self.data_source_id,
            record,
            self.options.primary_column.as_deref(),
            self.options.case_insensitive,
        )
        .await
    }

    /// Append mode: which rows of the unknown commits landed, by comparing the entries created
    /// since the run began with the rows as sent; the plan of what is left.
    fn replan_append(
        &self,
        first: &Plan,
        fresh: &[RemoteEntry],
        run_max_id: u64,
        sent_rows: &mut [Sent],
    ) -> Plan {
        let mut created: HashMap<String, usize> = HashMap::new();
        for e in fresh.iter().filter(|e| e.id > run_max_id) {
            *created.entry(canonical_json(&e.data_value())).or_default() += 1;
        }
        let digest = |r: usize| {
            canonical_json(
                &serde_json::to_value(
                    RowObject::new(self.table, r).with_patch(self.patches.get(&r)),
                )
                .unwrap_or(Value::Null),
            )
        };
        let mut take = |d: String| match created.get_mut(&d) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        for (r, s) in sent_rows.iter().enumerate() {
            if *s == Sent::Confirmed {
                take(digest(r));
            }
        }
        let mut landed = 0;
        for (r, s) in sent_rows.iter_mut().enumerate() {
            if *s == Sent::Unknown {
                if take(digest(r)) {
                    *s = Sent::Confirmed;
                    landed += 1;
                } else {
                    *s = Sent::No;
                }
            }
        }
        info!("{landed} rows of the unanswered commits are on the data source.");
        let present: HashSet<u64> = fresh.iter().map(|e| e.id).collect();
        Plan {
            inserts: first
                .inserts
                .iter()
                .copied()
                .filter(|&r| sent_rows[r] != Sent::Confirmed)
                .collect(),
            deletes: first
                .deletes
                .iter()
                .copied()
                .filter(|d| present.contains(&d.entry_id))
                .collect(),
            ..Plan::default()
        }
    }
}

/// Read a data source until the effect of the commit `record` shows (one of its inserted keys,
/// or in append mode an entry created since it was sent), or until the settle window after
/// its sending has passed. A commit without inserts needs no wait: updates and deletes are
/// idempotent, so re-planning resends them harmlessly.
pub async fn settle(
    client: &Client,
    data_source_id: u64,
    record: &PendingCommit,
    primary_column: Option<&str>,
    case_insensitive: bool,
) -> Result<Vec<RemoteEntry>, RunError> {
    let window = chrono::Duration::from_std(settle_window()).unwrap_or(chrono::Duration::zero());
    let deadline = record.sent_at + window;
    let keys: HashSet<&str> = record.insert_keys.iter().map(String::as_str).collect();
    let mut told = false;
    loop {
        let fresh = client
            .entries(data_source_id)
            .await
            .map_err(|e| RunError::fetch(data_source_id, e))?;
        let landed = record.inserts == 0
            || match primary_column {
                Some(pk) => fresh.iter().any(|e| {
                    extract_fields(e.data.get(), &[pk])
                        .into_iter()
                        .next()
                        .flatten()
                        .and_then(|v| canonical_key(&v, case_insensitive))
                        .is_some_and(|k| keys.contains(k.as_str()))
                }),
                None => fresh.iter().any(|e| e.id > record.max_known_id),
            };
        let now = Utc::now();
        if landed || now >= deadline {
            if !landed && told {
                info!(
                    "Commit {} did not land: it will be sent again.",
                    record.commit
                );
            }
            return Ok(fresh);
        }
        if !told {
            info!(
                "The data source does not show commit {}/{} yet: it may still be landing; reading again for up to {} s.",
                record.commit,
                record.commits,
                (deadline - now).num_seconds().max(1)
            );
            told = true;
        }
        let left = (deadline - now).to_std().unwrap_or_default();
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }
}

/// A JSON value as text with every object's keys sorted, so that two values that differ only
/// in key order compare equal.
pub fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let v = sorted(v);
    // Without serde_json's `preserve_order` the map is sorted already; with it, insertion
    // order is the sorted order built above.
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[{"k":1,"j":2}]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":[{"j":2,"k":1}],"y":2},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        let c: Value = serde_json::from_str(r#"{"a":{"x":[{"j":2,"k":1}],"y":3},"b":1}"#).unwrap();
        assert_ne!(canonical_json(&a), canonical_json(&c));
    }
}
