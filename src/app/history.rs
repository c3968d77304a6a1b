//! Run history: one record per run of a job (or of one operation), with its counts, outcome,
//! error and log lines, in an embedded SQLite database (the app data folder's
//! `history.sqlite`).
//!
//! The database is opened in WAL mode, so the tray app can read while a run writes; its
//! schema version is kept in `PRAGMA user_version` ([`SCHEMA_VERSION`]) and
//! [`History::open`] migrates older files forward and refuses newer ones.
//!
//! # Secrets
//!
//! History stores exactly the text it is given. Callers pass text that contains no secret:
//! the core never formats a [`Secret`] (its `Display` is `<redacted>`), and as a defence in
//! depth a caller that builds error or log text from a job should pass it through
//! [`redact`] with the job's secrets ([`crate::secret_store::job_secrets`]) first.
//!
//! # Log lines
//!
//! A run's log lines ([`LogLine`]) are collected while it runs by [`crate::log::LogCapture`]
//! and stored with [`History::append_logs`].

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, sqlite::SqliteRow};

use crate::log::{LogLevel, LogLine, UnknownLevel};
use crate::secret::Secret;

/// Current schema version (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// Default file name of the history database in the app data folder.
pub const FILE_NAME: &str = "history.sqlite";

/// How many runs of each job the history keeps (with their log lines); older ones are
/// pruned at the end of every run, except the job's latest success and failure.
pub const KEEP_RUNS_PER_JOB: u32 = 1000;

/// Errors of the history store. Messages say what to check.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot open the run history {path}: {message}; check that the folder is writable")]
    Open { path: String, message: String },
    #[error(
        "the run history {path} was written by a newer version of the agent (schema {found}, \
         this version knows up to {supported}); update the agent or move the file away"
    )]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("run history database error: {0}")]
    Database(String),
    #[error("the run history holds an invalid value `{value}` in column `{column}`")]
    Corrupt { column: &'static str, value: String },
}

impl From<sqlx::Error> for HistoryError {
    fn from(e: sqlx::Error) -> Self {
        HistoryError::Database(e.to_string())
    }
}

/// Id of a run record (serialized as its number, as every newtype struct is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RunId(pub i64);

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl FromStr for $name {
            type Err = HistoryError;
            fn from_str(s: &str) -> Result<Self, HistoryError> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(HistoryError::Corrupt { column: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum! {
    /// What started a run.
    #[cfg_attr(test, derive(ts_rs::TS))]
    Trigger {
        /// The cron schedule.
        Scheduled = "scheduled",
        /// The user (Run now, CLI `start` without schedule).
        Manual = "manual",
        /// A preview / `--test` run: nothing was sent.
        DryRun = "dry_run",
        /// `sync_on_init`, or a run missed while the machine slept.
        Startup = "startup",
    }
}

str_enum! {
    /// How a run ended.
    #[cfg_attr(test, derive(ts_rs::TS))]
    Outcome {
        /// Not finished yet (or the process died: see [`History::abandon_running`]).
        Running = "running",
        Success = "success",
        Failed = "failed",
        /// Not run (e.g. the previous run of the job was still going).
        Skipped = "skipped",
    }
}

impl From<UnknownLevel> for HistoryError {
    fn from(e: UnknownLevel) -> Self {
        HistoryError::Corrupt {
            column: "LogLevel",
            value: e.0,
        }
    }
}

/// What a run changed (same fields as the sync module's counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RunCounts {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

/// A run without its log lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RunSummary {
    pub id: RunId,
    /// Job id.
    pub job: String,
    /// Job name shown to the user.
    pub job_name: String,
    /// Index of the operation run; `None` for the whole job.
    pub operation: Option<u32>,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    /// `None` while running.
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    pub counts: RunCounts,
    /// Why the run failed (or was skipped).
    pub error: Option<String>,
}

impl RunSummary {
    /// Duration of a finished run.
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.finished_at.map(|f| f - self.started_at)
    }
}

/// A run with its log lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub logs: Vec<LogLine>,
}

/// The run history database. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct History {
    pool: SqlitePool,
}

const SCHEMA_V1: &str = r#"
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT    NOT NULL,
    job_name    TEXT    NOT NULL,
    operation   INTEGER,
    trigger     TEXT    NOT NULL CHECK (trigger IN ('scheduled', 'manual', 'dry_run', 'startup')),
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('running', 'success', 'failed', 'skipped')),
    inserted    INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX runs_by_job ON runs (job, id);
CREATE TABLE run_logs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    at      TEXT    NOT NULL,
    level   TEXT    NOT NULL,
    message TEXT    NOT NULL
);
CREATE INDEX run_logs_by_run ON run_logs (run_id, id);
"#;

const SUMMARY_COLUMNS: &str = "id, job, job_name, operation, trigger, started_at, finished_at, \
     outcome, inserted, updated, deleted, unchanged, skipped, error";

impl History {
    /// Open (creating if needed) the history database at `path`, in WAL mode, and bring its
    /// schema to [`SCHEMA_VERSION`].
    pub async fn open(path: &Path) -> Result<History, HistoryError> {
        let open_err = |message: String| HistoryError::Open {
            path: path.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        let history = History { pool };
        history.migrate(path).await?;
        Ok(history)
    }

    async fn migrate(&self, path: &Path) -> Result<(), HistoryError> {
        // IMMEDIATE: the write lock first, so that two processes opening a new file at once
        // (the app and `fliplet-agent start`) do not both create the schema.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError::TooNew {
                path: path.display().to_string(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            sqlx::raw_sql(SCHEMA_V1).execute(&mut *tx).await?;
        }
        // Later versions: `if version < 2 { ... }`.
        if version < SCHEMA_VERSION {
            sqlx::raw_sql(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<i64, HistoryError> {
        Ok(sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Record the start of a run (outcome `running`).
    pub async fn start_run(
        &self,
        job: &str,
        job_name: &str,
        trigger: Trigger,
        operation: Option<u32>,
    ) -> Result<RunId, HistoryError> {
        let id = sqlx::query(
            "INSERT INTO runs (job, job_name, operation, trigger, started_at, outcome) \
             VALUES (?, ?, ?, ?, ?, 'running')",
        )
        .bind(job)
        .bind(job_name)
        .bind(operation.map(i64::from))
        .bind(trigger.as_str())
        .bind(Utc::now())
        .execute(&self.pool)
        .await?
        .last_insert_rowid();
        Ok(RunId(id))
    }

    /// Add one log line to a run (stored as given: pass redacted text, see [`redact`]).
    pub async fn append_log(
        &self,
        run: RunId,
        level: LogLevel,
        message: &str,
    ) -> Result<(), HistoryError> {
        self.append_logs(run, &[LogLine::new(level, message)]).await
    }

    /// Add log lines to a run in one transaction (e.g. a
    /// [`crate::log::LogWatch::finish`] result).
    pub async fn append_logs(&self, run: RunId, lines: &[LogLine]) -> Result<(), HistoryError> {
        let mut tx = self.pool.begin().await?;
        for line in lines {
            sqlx::query("INSERT INTO run_logs (run_id, at, level, message) VALUES (?, ?, ?, ?)")
                .bind(run.0)
                .bind(line.at)
                .bind(line.level.as_str())
                .bind(&line.message)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record the end of a run. The error text is stored as given (pass redacted text).
    pub async fn finish_run(
        &self,
        run: RunId,
        outcome: Outcome,
        counts: RunCounts,
        error: Option<&str>,
    ) -> Result<(), HistoryError> {
        sqlx::query(
            "UPDATE runs SET finished_at = ?, outcome = ?, inserted = ?, updated = ?, \
             deleted = ?, unchanged = ?, skipped = ?, error = ? WHERE id = ?",
        )
        .bind(Utc::now())
        .bind(outcome.as_str())
        .bind(counts.inserted as i64)
        .bind(counts.updated as i64)
        .bind(counts.deleted as i64)
        .bind(counts.unchanged as i64)
        .bind(counts.skipped as i64)
        .bind(error)
        .bind(run.0)
        .execute(&self.pool)
        .await?;
        self.prune(KEEP_RUNS_PER_JOB).await?;
        Ok(())
    }

    /// Mark runs still `running` as `failed` with `reason` (call once at start-up: a run
    /// left running means the process stopped during it). Returns how many were marked.
    pub async fn abandon_running(&self, reason: &str) -> Result<u64, HistoryError> {
        Ok(sqlx::query(
            "UPDATE runs SET outcome = 'failed', finished_at = ?, error = ? \
             WHERE outcome = 'running'",
        )
        .bind(Utc::now())
        .bind(reason)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// The latest `limit` runs of `job`, newest first.
    pub async fn runs(&self, job: &str, limit: u32) -> Result<Vec<RunSummary>, HistoryError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM runs WHERE job = ? ORDER BY id DESC LIMIT ?"
        ))
        .bind(job)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(summary_from_row).collect()
    }

    /// The latest `limit` runs of every job, newest first.
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<RunSummary>, HistoryError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(summary_from_row).collect()
    }

    /// The latest run of `job`.
    pub async fn last_run(&self, job: &str) -> Result<Option<RunSummary>, HistoryError> {
        Ok(self.runs(job, 1).await?.into_iter().next())
    }

    /// The latest finished run of `job` that was not a dry run, with outcome `outcome`.
    /// `operation: Some(i)` keeps the runs that covered operation `i` (runs of that
    /// operation alone, and runs of the whole job). Dry runs write nothing, so they never
    /// count as a success (nor as a failure) of the job.
    pub async fn last_real_run(
        &self,
        job: &str,
        outcome: Outcome,
        operation: Option<u32>,
    ) -> Result<Option<RunSummary>, HistoryError> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM runs WHERE job = ?1 AND outcome = ?2 \
               AND trigger <> 'dry_run' \
               AND (?3 IS NULL OR operation IS NULL OR operation = ?3) \
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(job)
        .bind(outcome.as_str())
        .bind(operation.map(i64::from))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(summary_from_row).transpose()
    }

    /// The oldest run of `job` still in the history (any trigger and outcome).
    pub async fn first_run(&self, job: &str) -> Result<Option<RunSummary>, HistoryError> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM runs WHERE job = ? ORDER BY id LIMIT 1"
        ))
        .bind(job)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(summary_from_row).transpose()
    }

    /// Every job id the history has runs of, sorted.
    pub async fn job_ids(&self) -> Result<Vec<String>, HistoryError> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT job FROM runs ORDER BY job")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// One run with its log lines.
    pub async fn run(&self, id: RunId) -> Result<Option<RunDetail>, HistoryError> {
        let Some(row) = sqlx::query(&format!("SELECT {SUMMARY_COLUMNS} FROM runs WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let summary = summary_from_row(&row)?;
        let logs =
            sqlx::query("SELECT at, level, message FROM run_logs WHERE run_id = ? ORDER BY id")
                .bind(id.0)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(LogLine {
                        at: r.try_get("at")?,
                        level: r.try_get::<String, _>("level")?.parse()?,
                        message: r.try_get("message")?,
                    })
                })
                .collect::<Result<Vec<_>, HistoryError>>()?;
        Ok(Some(RunDetail { summary, logs }))
    }

    /// How many `failed` runs of the same job came right before `run` (since the previous
    /// `success`; `skipped` and `running` runs in between are ignored). For a successful run
    /// this is what the app shows as "recovered after N failures".
    pub async fn consecutive_failures_before(&self, run: RunId) -> Result<u32, HistoryError> {
        let n: i64 = sqlx::query_scalar(
            "WITH r AS (SELECT job FROM runs WHERE id = ?1) \
             SELECT COUNT(*) FROM runs, r WHERE runs.job = r.job AND runs.id < ?1 \
               AND runs.outcome = 'failed' \
               AND runs.id > COALESCE((SELECT MAX(id) FROM runs AS s WHERE s.job = r.job \
                                       AND s.id < ?1 AND s.outcome = 'success'), 0)",
        )
        .bind(run.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Keep the newest `keep_per_job` runs of each job (and their log lines); delete older
    /// ones, except each job's latest real (not dry-run) success and failure per operation,
    /// so its last success and last failure survive any streak (the watchdog and
    /// `fliplet-agent status` read them). Runs still `running` are never deleted. Returns how
    /// many runs were deleted. Called with [`KEEP_RUNS_PER_JOB`] at the end of every run.
    pub async fn prune(&self, keep_per_job: u32) -> Result<u64, HistoryError> {
        Ok(sqlx::query(
            "DELETE FROM runs WHERE outcome <> 'running' \
               AND id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER \
                            (PARTITION BY job ORDER BY id DESC) AS n FROM runs) WHERE n > ?) \
               AND id NOT IN (SELECT MAX(id) FROM runs \
                                WHERE outcome IN ('success', 'failed') AND trigger <> 'dry_run' \
                                GROUP BY job, operation, outcome)",
        )
        .bind(i64::from(keep_per_job))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Close the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn summary_from_row(r: &SqliteRow) -> Result<RunSummary, HistoryError> {
    let count =
        |c: &str| -> Result<u64, HistoryError> { Ok(r.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(RunSummary {
        id: RunId(r.try_get("id")?),
        job: r.try_get("job")?,
        job_name: r.try_get("job_name")?,
        operation: r
            .try_get::<Option<i64>, _>("operation")?
            .map(|o| o.clamp(0, u32::MAX as i64) as u32),
        trigger: r.try_get::<String, _>("trigger")?.parse()?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        outcome: r.try_get::<String, _>("outcome")?.parse()?,
        counts: RunCounts {
            inserted: count("inserted")?,
            updated: count("updated")?,
            deleted: count("deleted")?,
            unchanged: count("unchanged")?,
            skipped: count("skipped")?,
        },
        error: r.try_get("error")?,
    })
}

/// `text` with every occurrence of each non-empty secret value replaced by `<redacted>`.
/// Longer secrets are replaced first, so a secret containing another is fully hidden.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut values: Vec<&str> = secrets
        .iter()
        .map(|s| s.expose())
        .filter(|v| !v.is_empty())
        .collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = text.to_owned();
    for v in values {
        if out.contains(v) {
            out = out.replace(v, "<redacted>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_every_secret_longest_first() {
        let a = Secret::new("abc");
        let b = Secret::new("abcdef");
        let empty = Secret::new("");
        assert_eq!(
            redact("x abcdef y abc z", &[&a, &b, &empty]),
            "x <redacted> y <redacted> z"
        );
        assert_eq!(redact("nothing", &[&a]), "nothing");
    }
}
