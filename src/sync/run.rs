//! The use-cases shared by every shell (the `fliplet-agent` CLI and the desktop app): each
//! returns plain data that the shell prints or serialises.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{Instrument, error, info};

use crate::config::{API_URL_ENV, Job, JobFormat, Operation};
use crate::fliplet::{ApiError, Client, ClientOptions, RetryPolicy, User};
use crate::source;
use crate::sync::RunError;
use crate::sync::control::{self, RunControl};
use crate::sync::on_sync::{self, OnSyncReport};
use crate::sync::pull::{self, PullRun};
use crate::sync::push::{self, Counts, FileCounts, PushPreview, PushRun};

/// Environment variable naming an extra CA certificate file (PEM) to trust.
pub use crate::net::CA_FILE_ENV;

/// The API base URL a job talks to: its `api_url`, else `$FLIPLET_API_URL`, else `None`
/// (the token's region decides).
pub fn base_url_override(job: &Job) -> Option<String> {
    base_url_or_env(job.api_url.clone())
}

/// `explicit` (an `api_url`), else `$FLIPLET_API_URL`, else `None`.
pub fn base_url_or_env(explicit: Option<String>) -> Option<String> {
    explicit.or_else(|| {
        std::env::var(API_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
    })
}

/// A Fliplet client for a job.
pub fn client_for(job: &Job) -> Result<Client, ApiError> {
    Client::new(
        job.auth_token.clone(),
        ClientOptions {
            base_url: base_url_override(job),
            extra_ca_file: ca_file_for(job),
            ..Default::default()
        },
    )
}

/// The extra CA certificate a job trusts: its `ca_file`, else `$FLIPLET_CA_FILE`.
pub fn ca_file_for(job: &Job) -> Option<std::path::PathBuf> {
    ca_file_or_env(job.ca_file.clone())
}

/// Check the CA file a job trusts (its `ca_file`, else `$FLIPLET_CA_FILE`) without
/// connecting: a missing or non-PEM file is an error naming the setting and the file.
pub fn check_ca_file(job: &Job) -> Result<(), String> {
    match crate::net::ca_file_setting(job.ca_file.clone()) {
        Some((path, origin)) => {
            crate::net::check_ca_file(&path).map_err(|e| format!("{}: {e}", origin.label()))
        }
        None => Ok(()),
    }
}

/// `explicit` (a `ca_file`), else `$FLIPLET_CA_FILE`, else `None`.
pub fn ca_file_or_env(explicit: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    explicit.or_else(|| std::env::var_os(CA_FILE_ENV).map(Into::into))
}

/// What happened to one operation of a run.
#[derive(Debug, Clone, Serialize)]
pub struct OperationReport {
    /// Position of the operation in the job (0-based).
    pub index: usize,
    pub description: Option<String>,
    /// `push` or `pull`.
    pub kind: &'static str,
    pub data_source_id: u64,
    pub dry_run: bool,
    /// Counts of the plan (what was sent, or would be in a dry run). None when the
    /// operation failed before planning, and for pulls.
    pub counts: Option<Counts>,
    pub commits_sent: usize,
    /// Files of the rows written (`files:`): uploaded, reused, failed (None without files).
    pub files: Option<FileCounts>,
    /// What a pull fetched and wrote (None for pushes and failed pulls).
    pub pull: Option<PullRun>,
    /// The error that stopped the operation, already worded for the user.
    pub error: Option<String>,
    /// The `on_sync` command's outcome, if the operation has one (not run in a dry run).
    pub on_sync: Option<OnSyncReport>,
}

/// What happened in one run of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub job: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// An error that stopped the whole run (database unreachable, authentication failed).
    pub error: Option<String>,
    pub operations: Vec<OperationReport>,
    /// The run was stopped (Ctrl+C, SIGTERM, `run_timeout`) with work left undone.
    pub stopped: bool,
}

impl JobReport {
    /// True when the run and every operation succeeded.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
            && self
                .operations
                .iter()
                .all(|o| o.error.is_none() && o.on_sync.as_ref().is_none_or(|c| c.error.is_none()))
    }

    /// Sum of the operations' counts.
    pub fn totals(&self) -> Counts {
        self.operations.iter().filter_map(|o| o.counts).sum()
    }

    /// The error that stopped the job, else the first operation's error.
    pub fn first_error(&self) -> Option<String> {
        self.error
            .clone()
            .or_else(|| self.operations.iter().find_map(|o| o.error.clone()))
    }
}

/// A connected, authenticated session for a job's run.
struct Session {
    client: Client,
    /// Database connections that failed the start-of-run check, by name, with the error:
    /// the operations using one fail with it and do not run.
    unreachable: Vec<(String, String)>,
}

impl Session {
    /// Why `op` cannot run: its connection failed the start-of-run check.
    fn unreachable(&self, op: &Operation) -> Option<&str> {
        let name = &op.connection()?.name;
        self.unreachable
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.as_str())
    }
}

/// Check the database connections and the token, in the original's order and words. Each
/// connection that the operations to run (`only`; `None`: all) use is checked once; a failed
/// one fails the operations using it, and the run stops before authenticating when no
/// operation is left to run (always the case for a single-operation file, like the original).
async fn open_session(job: &Job, only: Option<&[usize]>) -> Result<Session, String> {
    let client = client_for(job).map_err(|e| {
        error!("{e}");
        e.to_string()
    })?;
    let to_run: Vec<&Operation> = job
        .operations
        .iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|o| o.contains(i)))
        .map(|(_, op)| op)
        .collect();
    let mut checked: Vec<&str> = Vec::new();
    let mut unreachable = Vec::new();
    for c in to_run.iter().filter_map(|op| op.connection()) {
        if checked.contains(&c.name.as_str()) {
            continue;
        }
        checked.push(&c.name);
        match job.format {
            JobFormat::Single => info!("Initialising connection with source database..."),
            JobFormat::Multi => info!(
                "Initialising connection `{}` ({})...",
                c.name,
                c.config.describe()
            ),
        }
        match source::test_connection(&c.config).await {
            Ok(()) => info!("Connection has been established successfully."),
            Err(e) => {
                error!("{e}");
                unreachable.push((c.name.clone(), e.to_string()));
            }
        }
    }
    let session = Session {
        client,
        unreachable,
    };
    if let Some(first) = session.unreachable.first()
        && to_run.iter().all(|op| session.unreachable(op).is_some())
    {
        return Err(first.1.clone());
    }
    let client = &session.client;
    if base_url_override(job).is_some() {
        tracing::debug!("API URL has been set to {}", client.base_url());
    } else {
        tracing::debug!("Regional URL has been set to {}", client.base_url());
    }
    info!("Authenticating with Fliplet API...");
    match client.user().await {
        Ok(user) => {
            info!(
                "Authentication has been verified successfully. You're logged in as {}.",
                user_label(&user)
            );
            Ok(session)
        }
        Err(e) => {
            // Like the original, touch each target data source once so the failed request
            // shows in Fliplet's logs; nothing is written.
            let once = client_once(job);
            for op in &job.operations {
                if let Some(c) = &once {
                    let _ = c.entries(op.datasource_id()).await;
                }
            }
            // Only a refusal of the token is an authentication failure; a network or server
            // failure says what failed.
            let err = match &e {
                ApiError::Unauthorized { .. } => RunError::Auth(auth_hint(&e)),
                _ => RunError::Unreachable {
                    base: client.base_url().to_string(),
                    message: auth_hint(&e),
                },
            };
            error!("{err}");
            Err(err.to_string())
        }
    }
}

fn client_once(job: &Job) -> Option<Client> {
    Client::new(
        job.auth_token.clone(),
        ClientOptions {
            base_url: base_url_override(job),
            extra_ca_file: ca_file_for(job),
            retry: Some(RetryPolicy {
                attempts: 1,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .ok()
}

fn user_label(u: &User) -> String {
    match (&u.full_name, &u.email) {
        (Some(n), Some(e)) if !n.is_empty() => format!("{n} ({e})"),
        (_, Some(e)) => e.clone(),
        (Some(n), None) => n.clone(),
        (None, None) => format!("user #{}", u.id),
    }
}

/// The API error with a hint on what to check.
fn auth_hint(e: &ApiError) -> String {
    match e {
        ApiError::Unauthorized { message } => {
            format!("{message} {}", crate::hint::Hint::TokenRefused)
        }
        ApiError::Transient { .. } | ApiError::Decode { .. } => {
            format!("{e}. {}", crate::hint::Hint::Network)
        }
        other => other.to_string(),
    }
}

/// Run a job's operations once, in series (`only`: a subset of operation indices).
///
/// The run is bounded by the job's `run_timeout` and stops at its next safe point when the
/// process is asked to stop (see [`crate::sync::control`]).
pub async fn run_job(job: &Job, dry_run: bool, only: Option<&[usize]>) -> JobReport {
    run_job_with(job, dry_run, only, RunControl::new()).await
}

/// [`run_job`] with a caller's control of the run (e.g. a one-time permission past the
/// delete gate). The job's `run_timeout` is added to it.
pub async fn run_job_with(
    job: &Job,
    dry_run: bool,
    only: Option<&[usize]>,
    control: RunControl,
) -> JobReport {
    let span = crate::log::job_span(&job.name);
    let control = control.with_time_bound(run_bound(job));
    let in_flight = control::InFlight::enter();
    // Boxed: a run's future is large, and debug builds poll it on a 2 MB stack.
    let report = Box::pin(run_job_inner(job, dry_run, only, &control).instrument(span)).await;
    if report.stopped {
        in_flight.cut();
    }
    control.finish();
    report
}

/// A job's `run_timeout` as a bound (`0`: none).
fn run_bound(job: &Job) -> Option<std::time::Duration> {
    (job.run_timeout > 0).then(|| std::time::Duration::from_secs(job.run_timeout))
}

async fn run_job_inner(
    job: &Job,
    dry_run: bool,
    only: Option<&[usize]>,
    control: &RunControl,
) -> JobReport {
    let started_at = Utc::now();
    let mut report = JobReport {
        job: job.name.clone(),
        dry_run,
        started_at,
        finished_at: started_at,
        error: None,
        operations: Vec::new(),
        stopped: false,
    };
    let session = match control.read(open_session(job, only)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            report.error = Some(e);
            report.finished_at = Utc::now();
            return report;
        }
        Err(reason) => {
            let err = RunError::stopped(reason);
            error!("{err}");
            report.error = Some(err.to_string());
            report.stopped = true;
            report.finished_at = Utc::now();
            return report;
        }
    };
    for (index, op) in job.operations.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&index)) {
            continue;
        }
        let op_started = Utc::now();
        if let Some(reason) = control.stopped() {
            let err = RunError::stopped(reason);
            error!("{err}");
            report.error.get_or_insert(err.to_string());
            report.stopped = true;
            break;
        }
        let outcome = run_operation(&session, job, op, dry_run, control).await;
        if let Outcome::Push(r) = &outcome
            && let Err(RunError::Stopped { .. }) = r.as_ref()
        {
            report.stopped = true;
        }
        let mut op_report = operation_report(index, op, dry_run, &outcome);
        if let Some(cmd) = op.on_sync() {
            if dry_run {
                info!(
                    "Dry run: the on_sync command would run now: {}",
                    cmd.display()
                );
            } else {
                let summary = serde_json::json!({
                    "job": job.name,
                    "started_at": op_started,
                    "finished_at": Utc::now(),
                    "succeeded": op_report.error.is_none(),
                    "operation": op_report,
                });
                let dir = job
                    .path
                    .as_deref()
                    .and_then(|p| std::path::absolute(p).ok())
                    .and_then(|p| p.parent().map(std::path::Path::to_path_buf));
                op_report.on_sync = Some(on_sync::run(cmd, &summary, dir.as_deref()).await);
            }
        }
        report.operations.push(op_report);
    }
    if report.operations.len() > 1 {
        info!("Finished to run all operations.");
    }
    report.finished_at = Utc::now();
    report
}

/// The result of one operation of either kind.
enum Outcome {
    Push(Box<Result<PushRun, RunError>>),
    Pull(Result<PullRun, pull::PullError>),
    /// Not run: its database connection failed the start-of-run check (the error).
    NotRun(String),
}

impl Outcome {
    fn error(&self) -> Option<String> {
        match self {
            Outcome::Push(r) => r.as_ref().as_ref().err().map(|e| e.to_string()),
            Outcome::Pull(r) => r.as_ref().err().map(|e| e.to_string()),
            Outcome::NotRun(e) => Some(e.clone()),
        }
    }
}

async fn run_operation(
    session: &Session,
    job: &Job,
    op: &Operation,
    dry_run: bool,
    control: &RunControl,
) -> Outcome {
    if let Some(d) = op.description() {
        info!("{d}");
    }
    if let Some(e) = session.unreachable(op) {
        // Logged by the connection check.
        return Outcome::NotRun(e.to_owned());
    }
    let outcome = match op {
        Operation::Push(p) => Outcome::Push(Box::new(
            Box::pin(push::run_push(
                &session.client,
                p,
                dry_run,
                &job.name,
                control,
            ))
            .await,
        )),
        Operation::Pull(p) => Outcome::Pull(pull::run_pull(&session.client, p, dry_run).await),
    };
    if let Some(e) = outcome.error() {
        error!("{e}");
    }
    outcome
}

fn operation_report(
    index: usize,
    op: &Operation,
    dry_run: bool,
    outcome: &Outcome,
) -> OperationReport {
    let (counts, commits_sent, files, pull) = match outcome {
        Outcome::Push(r) => (
            r.as_ref().as_ref().ok().map(PushRun::counts),
            r.as_ref().as_ref().map(|r| r.commits_sent).unwrap_or(0),
            r.as_ref()
                .as_ref()
                .ok()
                .filter(|r| !r.files.is_empty())
                .map(|r| FileCounts::of(&r.files)),
            None,
        ),
        Outcome::Pull(r) => (None, 0, None, r.as_ref().ok().cloned()),
        Outcome::NotRun(_) => (None, 0, None, None),
    };
    OperationReport {
        index,
        description: op.description().map(String::from),
        kind: op.kind(),
        data_source_id: op.datasource_id(),
        dry_run,
        counts,
        commits_sent,
        files,
        pull,
        error: outcome.error(),
        on_sync: None,
    }
}

/// The dry-run preview of a job: what each operation would insert, update and delete.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobPreview {
    pub job: String,
    pub error: Option<String>,
    pub operations: Vec<OperationPreview>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OperationPreview {
    pub index: usize,
    pub description: Option<String>,
    /// `push` or `pull`.
    #[cfg_attr(test, ts(type = r#""push" | "pull""#))]
    pub kind: &'static str,
    pub data_source_id: u64,
    pub error: Option<String>,
    /// A push's plan.
    pub plan: Option<PushPreview>,
    /// What a pull would fetch and write (nothing is written in a preview).
    pub pull: Option<PullRun>,
}

impl JobPreview {
    /// The counts of every operation's plan, added up.
    pub fn totals(&self) -> Counts {
        self.operations
            .iter()
            .filter_map(|o| o.plan.as_ref().map(|p| p.counts))
            .sum()
    }

    /// The error that stopped the preview, else the first operation's error.
    pub fn first_error(&self) -> Option<String> {
        self.error
            .clone()
            .or_else(|| self.operations.iter().find_map(|o| o.error.clone()))
    }

    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.operations.iter().all(|o| o.error.is_none())
    }
}

/// Preview a job: a dry run that writes nothing, returning the plan row by row (at most
/// `max_rows` rows per list and operation; counts are complete).
pub async fn preview_job(job: &Job, max_rows: Option<usize>) -> JobPreview {
    let span = crate::log::job_span(&job.name);
    let control = RunControl::new().with_time_bound(run_bound(job));
    async {
        let mut preview = JobPreview {
            job: job.name.clone(),
            error: None,
            operations: Vec::new(),
        };
        let session = match open_session(job, None).await {
            Ok(s) => s,
            Err(e) => {
                preview.error = Some(e);
                return preview;
            }
        };
        for (index, op) in job.operations.iter().enumerate() {
            let outcome = run_operation(&session, job, op, true, &control).await;
            let (plan, pull) = match (&outcome, op) {
                (Outcome::Push(r), Operation::Push(p)) => match r.as_ref() {
                    Ok(r) => (Some(r.preview(p.merge == Some(true), max_rows)), None),
                    Err(_) => (None, None),
                },
                (Outcome::Pull(Ok(r)), _) => (None, Some(r.clone())),
                _ => (None, None),
            };
            preview.operations.push(OperationPreview {
                index,
                description: op.description().map(String::from),
                kind: op.kind(),
                data_source_id: op.datasource_id(),
                error: outcome.error(),
                plan,
                pull,
            });
        }
        preview
    }
    .instrument(span)
    .await
}
