//! The stale-data watchdog: when did each job last succeed, and is its data stale?
//!
//! A job is **stale** when its last successful run (recorded in the run history, see
//! [`crate::app::history`]) is too old:
//!
//! - with `stale_after` set (a duration, see [`crate::schedule::parse_duration`]): older than that;
//!   `stale_after: 0` turns the watchdog off for the job;
//! - otherwise, for an operation with a `frequency`: once 3 of its scheduled runs have come
//!   since the last success without one succeeding (3 intervals of its schedule, measured on
//!   the cron schedule itself, so a weekday-only job is not stale over the weekend), and never
//!   sooner than one day after the last success;
//! - an operation without a `frequency` (and no `stale_after`) is never stale.
//!
//! Each operation of a job is checked (a run of the whole job covers all of them); the job is
//! stale when one of its operations is. Dry runs write nothing and never count as a success.
//! A job that has never succeeded counts from its first recorded run or from when its file
//! was last written, whichever is earlier (the job was created then).
//!
//! The desktop app checks every [`check_period`] (once a minute) and notifies once per stale
//! episode; `fliplet-agent status` prints the same facts and exits with [`STALE_EXIT_CODE`]
//! when a job is stale. See `docs/safety.md`, "Stale-data watchdog".

use crate::schedule::format_duration;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Datelike, Local, Utc};
use serde::Serialize;

use crate::app::history::{History, HistoryError, Outcome, RunSummary, Trigger};
use crate::config::Job;
use crate::schedule;

/// Environment variable: the period of the desktop app's staleness check, in seconds
/// (default [`DEFAULT_CHECK_PERIOD`]; tests make it short).
pub const CHECK_PERIOD_ENV: &str = "FLIPLET_STALE_CHECK_SECS";
/// How often the desktop app checks for stale jobs.
pub const DEFAULT_CHECK_PERIOD: Duration = Duration::from_secs(60);
/// Scheduled runs without a success after which a job is stale (the default rule).
pub const MISSED_RUNS: usize = 3;
/// The default rule never calls data stale sooner than this after its last success.
pub const MIN_DEFAULT: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// Exit code of `fliplet-agent status` when a job is stale.
pub const STALE_EXIT_CODE: u8 = 3;

/// The check period: `$FLIPLET_STALE_CHECK_SECS` seconds (at least 1), else one minute.
pub fn check_period() -> Duration {
    std::env::var(CHECK_PERIOD_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_CHECK_PERIOD, Duration::from_secs)
}

/// A time span in words, rounded down to its largest unit: "3 days", "1 hour", "40 seconds".
pub fn age_text(span: chrono::TimeDelta) -> String {
    let s = span.num_seconds().max(0);
    let (n, unit) = match s {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3600 => (s / 3600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn local_time(t: DateTime<Utc>) -> String {
    let t = t.with_timezone(&Local);
    if t.year() == Local::now().year() {
        t.format("%-d %b %H:%M").to_string()
    } else {
        t.format("%-d %b %Y %H:%M").to_string()
    }
}

// ---------------------------------------------------------------------------------------
// The rule
// ---------------------------------------------------------------------------------------

/// When an operation's data is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// Never (no `frequency`, or `stale_after: 0`).
    Never,
    /// `stale_after`: this many seconds after the last success.
    After(u64),
    /// The default: [`MISSED_RUNS`] scheduled runs of this cron expression after the last
    /// success, and at least [`MIN_DEFAULT`].
    Missed(String),
}

/// The bound of an operation with `frequency`, in a job with `stale_after`.
pub fn bound(stale_after: Option<u64>, frequency: Option<&str>) -> Bound {
    match (stale_after, frequency) {
        (Some(0), _) => Bound::Never,
        (Some(s), _) => Bound::After(s),
        (None, Some(f)) => Bound::Missed(f.to_owned()),
        (None, None) => Bound::Never,
    }
}

/// When data fresh at `since` becomes stale under `bound`; `None`: never (including a
/// schedule that never fires).
pub fn stale_at(bound: &Bound, since: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match bound {
        Bound::Never => None,
        Bound::After(s) => Some(since + chrono::TimeDelta::seconds(*s as i64)),
        Bound::Missed(expr) => {
            let fires = schedule::next_runs(expr, since.with_timezone(&Local), MISSED_RUNS).ok()?;
            let last = fires.get(MISSED_RUNS - 1)?.with_timezone(&Utc);
            Some(last.max(since + MIN_DEFAULT))
        }
    }
}

/// Is data fresh at `since` stale at `now` under `bound`? `None` when it never is.
pub fn is_stale(bound: &Bound, since: DateTime<Utc>, now: DateTime<Utc>) -> Option<bool> {
    stale_at(bound, since).map(|at| now >= at)
}

// ---------------------------------------------------------------------------------------
// A job's freshness, from the run history
// ---------------------------------------------------------------------------------------

/// How fresh a watched job's data is (a job with a `frequency` or a `stale_after`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Freshness {
    pub stale: bool,
    /// The last successful run (not a dry run) of the operation that goes stale first.
    pub last_success: Option<DateTime<Utc>>,
    /// What the age counts from: the last success, or (never succeeded) when the job was
    /// first run or written.
    pub since: DateTime<Utc>,
    /// When the data becomes (or became) stale.
    pub stale_at: DateTime<Utc>,
    /// The operation that goes stale first (0-based).
    pub operation: usize,
    /// What the app and `status` say when the job is stale: "No successful run for 3 days —
    /// last success 28 Nov 10:02".
    pub message: Option<String>,
}

/// The message of a stale job.
pub fn stale_message(
    last_success: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> String {
    let age = age_text(now - since);
    match last_success {
        Some(t) => format!(
            "No successful run for {age} — last success {}",
            local_time(t)
        ),
        None => format!(
            "No successful run for {age} — it has never succeeded (counted from {})",
            local_time(since)
        ),
    }
}

/// When a job that has never succeeded starts counting: its first recorded run or its
/// file's last modification, whichever is earlier (`now` when neither is known).
pub async fn anchor(
    history: &History,
    job_id: &str,
    path: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, HistoryError> {
    let first = history.first_run(job_id).await?.map(|r| r.started_at);
    let written = path
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
        .map(DateTime::<Utc>::from);
    Ok([first, written].into_iter().flatten().min().unwrap_or(now))
}

/// The freshness of `job` (recorded under `job_id`) at `now`; `None` when none of its
/// operations is watched (no `frequency`, no `stale_after`, or `stale_after: 0`).
pub async fn freshness(
    history: &History,
    job_id: &str,
    job: &Job,
    now: DateTime<Utc>,
) -> Result<Option<Freshness>, HistoryError> {
    let mut first: Option<Freshness> = None;
    let mut anchor_at: Option<DateTime<Utc>> = None;
    for (i, op) in job.operations.iter().enumerate() {
        let b = bound(job.stale_after, op.frequency());
        if b == Bound::Never {
            continue;
        }
        let last = history
            .last_real_run(job_id, Outcome::Success, Some(i as u32))
            .await?
            .map(|r| r.finished_at.unwrap_or(r.started_at));
        let since = match last {
            Some(t) => t,
            None => match anchor_at {
                Some(a) => a,
                None => {
                    let a = anchor(history, job_id, job.path.as_deref(), now).await?;
                    anchor_at = Some(a);
                    a
                }
            },
        };
        let Some(at) = stale_at(&b, since) else {
            continue;
        };
        if first.as_ref().is_none_or(|f| at < f.stale_at) {
            first = Some(Freshness {
                stale: now >= at,
                last_success: last,
                since,
                stale_at: at,
                operation: i,
                message: None,
            });
        }
    }
    Ok(first.map(|mut f| {
        if f.stale {
            f.message = Some(stale_message(f.last_success, f.since, now));
        }
        f
    }))
}

// ---------------------------------------------------------------------------------------
// Job ids and `fliplet-agent status`
// ---------------------------------------------------------------------------------------

/// The id a job file's runs are recorded under: its id in the app (the file name without
/// `.yml`) for a file of the jobs folder `jobs_dir`, else its absolute path.
pub fn job_id_for_path(path: &Path, jobs_dir: &Path) -> String {
    let abs = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let dir = std::fs::canonicalize(jobs_dir).unwrap_or_else(|_| jobs_dir.to_path_buf());
    if abs.parent() == Some(dir.as_path())
        && let Some(id) = crate::app::jobs::job_id_of(&abs)
    {
        return id;
    }
    abs.display().to_string()
}

/// A run, briefly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunBrief {
    pub run: i64,
    pub at: DateTime<Utc>,
    pub trigger: Trigger,
    pub error: Option<String>,
}

impl RunBrief {
    fn of(r: &RunSummary) -> RunBrief {
        RunBrief {
            run: r.id.0,
            at: r.finished_at.unwrap_or(r.started_at),
            trigger: r.trigger,
            error: r.error.clone(),
        }
    }
}

/// One job's line of `fliplet-agent status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobHealth {
    /// The id its runs are recorded under (see [`job_id_for_path`]).
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    /// Why the file cannot be read (then only the history facts are shown).
    pub error: Option<String>,
    pub last_success: Option<RunBrief>,
    pub last_failure: Option<RunBrief>,
    /// The next scheduled run of any of its operations.
    pub next_run: Option<DateTime<Utc>>,
    /// `stale_after` as written back (`36h`); `None`: the default rule.
    pub stale_after: Option<String>,
    /// `None`: not watched (no frequency, no `stale_after`).
    pub freshness: Option<Freshness>,
    pub stale: bool,
}

/// The health of the job file `path` (recorded under `id`) at `now`.
pub async fn job_health(
    history: &History,
    id: &str,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<JobHealth, HistoryError> {
    let loaded = crate::config::load_job(path);
    let name = match &loaded {
        Ok(l) => l.job.name.clone(),
        Err(_) => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| id.to_owned()),
    };
    let last_success = history
        .last_real_run(id, Outcome::Success, None)
        .await?
        .as_ref()
        .map(RunBrief::of);
    let last_failure = history
        .last_real_run(id, Outcome::Failed, None)
        .await?
        .as_ref()
        .map(RunBrief::of);
    let mut health = JobHealth {
        id: id.to_owned(),
        name,
        path: path.to_path_buf(),
        error: None,
        last_success,
        last_failure,
        next_run: None,
        stale_after: None,
        freshness: None,
        stale: false,
    };
    match loaded {
        Err(e) => health.error = Some(e.to_string()),
        Ok(l) => {
            let job = l.job;
            health.next_run = job
                .operations
                .iter()
                .filter_map(|op| op.frequency())
                .filter_map(|f| schedule::next_runs(f, Local::now(), 1).ok())
                .filter_map(|v| v.into_iter().next())
                .map(|t| t.with_timezone(&Utc))
                .min();
            health.stale_after = job.stale_after.map(format_duration);
            health.freshness = freshness(history, id, &job, now).await?;
            health.stale = health.freshness.as_ref().is_some_and(|f| f.stale);
        }
    }
    Ok(health)
}

/// The jobs `fliplet-agent status` lists without arguments: every job file of the jobs
/// folder, then every other job file the history has runs of (recorded by
/// `fliplet-agent start <file>` under its absolute path) that still exists. `(id, path)`.
pub async fn known_jobs(
    history: &History,
    jobs_dir: &Path,
) -> Result<Vec<(String, PathBuf)>, HistoryError> {
    let mut out: Vec<(String, PathBuf)> = crate::app::jobs::list(jobs_dir)
        .into_iter()
        .map(|f| (f.id, f.path))
        .collect();
    for id in history.job_ids().await? {
        let path = PathBuf::from(&id);
        if path.is_absolute() && path.is_file() && !out.iter().any(|(i, _)| *i == id) {
            out.push((id, path));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
