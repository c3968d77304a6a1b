//! The tray agent's use-cases, with no user interface: the jobs of the jobs folder, their
//! schedules (pausable), runs recorded in the history with their log lines, secrets, and
//! the demo. The desktop app is a thin shell over an [`Agent`]: its commands call these
//! methods and it turns [`AgentEvent`]s into tray updates and notifications.

use crate::sync::control::RunControl;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;
use tracing::Instrument;

use crate::app::error::{AppError, ErrorCode};
use crate::app::history::{
    self, History, Outcome, RunCounts, RunDetail, RunId, RunSummary, Trigger,
};
use crate::app::jobs::{self, JobFile};
use crate::app::scheduler::{self, Schedule, TickRunner};
use crate::app::watchdog::{self, Freshness};
use crate::app::wizard::JobDraft;
use crate::config::Job;
use crate::log::{LogCapture, LogLevel, LogWatch};
use crate::secret::Secret;
use crate::secret_store::{self, SecretStore};
use crate::sync::run;

/// File in the data folder listing the stale episodes already notified (so a restart or a
/// handoff between the app's processes does not notify them again).
pub const STALE_NOTIFIED_FILE: &str = "stale-notified.json";

/// What changed; the desktop app updates its tray and window from these.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentEvent {
    RunStarted {
        job: String,
        trigger: Trigger,
    },
    RunFinished {
        run: RunSummary,
        /// On a success after failed runs: how many failed runs came right before it.
        recovered_after: Option<u32>,
    },
    JobsChanged,
    PausedChanged {
        paused: bool,
    },
    /// A job's data became stale (see [`crate::app::watchdog`]): sent once per stale episode.
    JobStale {
        job: String,
        job_name: String,
        /// "No successful run for 3 days — last success 28 Nov 10:02"
        message: String,
    },
}

/// A job with its live state, for the Jobs screen and the tray menu.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobStatus {
    #[serde(flatten)]
    pub file: JobFile,
    pub running: bool,
    pub last_run: Option<RunSummary>,
    /// How fresh its data is; `None` when the job is not watched (no frequency, no
    /// `stale_after`) or its file cannot be read.
    pub freshness: Option<Freshness>,
}

/// The agent's own state, for the Settings screen.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AgentInfo {
    pub paused: bool,
    pub jobs_dir: PathBuf,
    pub data_dir: PathBuf,
    /// "OS keychain (service ...)" or "sealed secrets file ...".
    pub secrets_backend: String,
    /// Set when no keychain was reachable and secrets go to the sealed file.
    pub secrets_fallback: Option<String>,
    pub demo_running: bool,
}

/// What the desktop app's Settings screen shows: the agent's state and the app's own.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SettingsInfo {
    #[serde(flatten)]
    pub agent: AgentInfo,
    /// Whether the app starts at login.
    pub autostart: bool,
    /// The app's version.
    pub version: String,
}

/// What saving a draft did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SavedJob {
    pub job: JobStatus,
    /// The run started by "Save and run now".
    pub run: Option<RunSummary>,
}

/// The result of one recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRun {
    pub run: RunSummary,
    /// Failed runs of the same job right before this one (0 when none).
    pub failures_before: u32,
}

/// A run to record: the `history` it goes to with the log lines `capture` collects (its
/// layer must be in the global subscriber), the job (`job_id` in the history, the resolved
/// `job`), what started it and the operation it runs (`None`: all of them).
#[derive(Clone, Copy)]
pub struct RunRecord<'a> {
    pub history: &'a History,
    pub capture: &'a LogCapture,
    pub job_id: &'a str,
    pub job: &'a Job,
    pub trigger: Trigger,
    pub only: Option<usize>,
}

/// Run a (resolved) job once and record it: trigger, times, outcome, counts, error and the
/// log lines emitted during the run. Secrets of the job are redacted from the stored text.
pub async fn run_recorded(
    record: RunRecord<'_>,
    control: RunControl,
) -> Result<RecordedRun, AppError> {
    let (recorded, _report) = run_recorded_report(record, control).await?;
    recorded
}

/// [`run_recorded`], also returning the run's report (`fliplet-agent start` prints it and
/// records its runs with this, in the same history as the app). The outer error: the run
/// could not be recorded, so it was not started; the inner one: it ran (see the report) but
/// recording its end failed.
pub async fn run_recorded_report(
    record: RunRecord<'_>,
    control: RunControl,
) -> Result<(Result<RecordedRun, AppError>, run::JobReport), AppError> {
    let dry_run = record.trigger == Trigger::DryRun;
    let only_list = record.only.map(|i| [i]);
    let work = async {
        let report = run::run_job_with(
            record.job,
            dry_run,
            only_list.as_ref().map(|a| &a[..]),
            control,
        )
        .await;
        let ended = Ended {
            totals: report.totals(),
            error: report.first_error(),
            ok: report.succeeded(),
        };
        (ended, report)
    };
    recorded(record, work).await
}

/// How a recorded piece of work ended.
struct Ended {
    totals: crate::sync::push::Counts,
    error: Option<String>,
    ok: bool,
}

/// Do `work` (a run or a preview) recorded as `record` says, with the log lines it emits.
/// The outer error: nothing was started; the inner one: recording the end failed.
async fn recorded<T>(
    record: RunRecord<'_>,
    work: impl std::future::Future<Output = (Ended, T)>,
) -> Result<(Result<RecordedRun, AppError>, T), AppError> {
    let recording = begin(&record).await?;
    let (ended, out) = work.instrument(recording.span.clone()).await;
    Ok((end(&record, recording, ended).await, out))
}

/// A run being recorded: its record, and the span whose log lines it collects.
struct Recording {
    id: RunId,
    span: tracing::Span,
    watch: LogWatch,
}

async fn begin(record: &RunRecord<'_>) -> Result<Recording, AppError> {
    let id = record
        .history
        .start_run(
            record.job_id,
            &record.job.name,
            record.trigger,
            record.only.map(|i| i as u32),
        )
        .await?;
    let span = tracing::info_span!("run", run = id.0);
    let watch = record.capture.watch(&span);
    Ok(Recording { id, span, watch })
}

/// Record the end of a run: its log lines and error (secrets of the job redacted), outcome
/// and counts.
async fn end(
    record: &RunRecord<'_>,
    recording: Recording,
    ended: Ended,
) -> Result<RecordedRun, AppError> {
    let RunRecord { history, job, .. } = *record;
    let Recording { id, watch, .. } = recording;
    let secrets = secret_store::job_secrets(job);
    let refs: Vec<&Secret> = secrets.iter().collect();
    let mut lines = watch.finish();
    for l in &mut lines {
        l.message = history::redact(&l.message, &refs);
    }
    history.append_logs(id, &lines).await?;
    let t = ended.totals;
    let counts = RunCounts {
        inserted: t.inserted as u64,
        updated: t.updated as u64,
        deleted: t.deleted as u64,
        unchanged: t.unchanged as u64,
        skipped: t.skipped as u64,
    };
    let error = ended.error.map(|e| history::redact(&e, &refs));
    let outcome = if ended.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    };
    history
        .finish_run(id, outcome, counts, error.as_deref())
        .await?;
    finished(history, id).await
}

async fn finished(history: &History, id: RunId) -> Result<RecordedRun, AppError> {
    let run = history
        .run(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("run {id} vanished")))?
        .summary;
    let failures_before = if run.outcome == Outcome::Success {
        history.consecutive_failures_before(id).await?
    } else {
        0
    };
    Ok(RecordedRun {
        run,
        failures_before,
    })
}

/// What a scheduled tick of job `id` does: unless paused, run the operation whose schedule
/// fired, recorded as `scheduled`. (A plain function, so the future's `Send` bound is checked
/// on concrete types.)
fn tick_runner(agent: std::sync::Weak<Agent>, id: String, path: PathBuf) -> TickRunner {
    Arc::new(move |_job: Arc<Job>, index: usize| {
        tick(agent.clone(), id.clone(), path.clone(), index)
    })
}

fn tick(
    agent: std::sync::Weak<Agent>,
    id: String,
    path: PathBuf,
    index: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let Some(agent) = agent.upgrade() else { return };
        if agent.is_paused() || agent.is_releasing() {
            return;
        }
        let _ = agent
            .run_path(
                &id,
                &path,
                Trigger::Scheduled,
                Some(index),
                RunControl::new(),
            )
            .await;
    })
}

/// The tray agent.
pub struct Agent {
    jobs_dir: PathBuf,
    data_dir: PathBuf,
    history: History,
    capture: LogCapture,
    store: SecretStore,
    paused: AtomicBool,
    /// Set by [`Agent::release`]: no new run starts.
    releasing: AtomicBool,
    running: Mutex<HashSet<String>>,
    schedules: tokio::sync::Mutex<Vec<Schedule>>,
    demo: tokio::sync::Mutex<Option<crate::app::demo::Emulator>>,
    events: broadcast::Sender<AgentEvent>,
    /// Stale episodes notified (`<job>@<since>`), kept in [`STALE_NOTIFIED_FILE`].
    stale_notified: Mutex<HashSet<String>>,
}

impl Agent {
    /// Open the history in `data_dir` (marking runs left `running` by a previous process as
    /// failed). Schedules start with [`Agent::reload_schedules`].
    pub async fn open(
        jobs_dir: &Path,
        data_dir: &Path,
        store: SecretStore,
        capture: LogCapture,
    ) -> Result<Arc<Agent>, AppError> {
        std::fs::create_dir_all(jobs_dir).map_err(|e| {
            AppError::new(
                ErrorCode::Other,
                format!("Cannot create {}: {e}", jobs_dir.display()),
            )
        })?;
        let history = History::open(&data_dir.join(history::FILE_NAME)).await?;
        history
            .abandon_running("The app stopped during this run.")
            .await?;
        let (events, _) = broadcast::channel(64);
        let stale_notified = std::fs::read(data_dir.join(STALE_NOTIFIED_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Arc::new(Agent {
            jobs_dir: jobs_dir.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            history,
            capture,
            store,
            paused: AtomicBool::new(false),
            releasing: AtomicBool::new(false),
            running: Mutex::new(HashSet::new()),
            schedules: tokio::sync::Mutex::new(Vec::new()),
            demo: tokio::sync::Mutex::new(None),
            events,
            stale_notified: Mutex::new(stale_notified),
        }))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.events.subscribe()
    }

    fn emit(&self, e: AgentEvent) {
        let _ = self.events.send(e);
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn jobs_dir(&self) -> &Path {
        &self.jobs_dir
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Pause or resume the schedules (manual runs still work).
    pub fn set_paused(&self, paused: bool) {
        if self.paused.swap(paused, Ordering::SeqCst) != paused {
            tracing::info!("Schedules {}.", if paused { "paused" } else { "resumed" });
            self.emit(AgentEvent::PausedChanged { paused });
        }
    }

    pub async fn info(&self) -> AgentInfo {
        AgentInfo {
            paused: self.is_paused(),
            jobs_dir: self.jobs_dir.clone(),
            data_dir: self.data_dir.clone(),
            secrets_backend: self.store.describe(),
            secrets_fallback: self.store.fallback_reason(),
            demo_running: self.demo.lock().await.is_some(),
        }
    }

    /// Every job of the jobs folder with its state and last run.
    pub async fn jobs(&self) -> Result<Vec<JobStatus>, AppError> {
        let files = jobs::list(&self.jobs_dir);
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = Vec::with_capacity(files.len());
        let now = chrono::Utc::now();
        for file in files {
            let last_run = self.history.last_run(&file.id).await?;
            let freshness = match file.error {
                Some(_) => None,
                None => match crate::config::load_job(&file.path) {
                    Ok(l) => watchdog::freshness(&self.history, &file.id, &l.job, now).await?,
                    Err(_) => None,
                },
            };
            out.push(JobStatus {
                running: running.contains(&file.id),
                file,
                last_run,
                freshness,
            });
        }
        Ok(out)
    }

    /// The watchdog's check: notify ([`AgentEvent::JobStale`]) each job whose data became
    /// stale, once per stale episode (an episode ends with a successful run); a job that is
    /// running is left until its run ends. Returns the jobs notified now.
    pub async fn check_stale(&self) -> Result<Vec<String>, AppError> {
        let jobs = self.jobs().await?;
        let mut notify = Vec::new();
        let (changed, recovered) = {
            let mut notified = self
                .stale_notified
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let before = notified.clone();
            let mut keep = HashSet::new();
            for j in &jobs {
                let Some(f) = j.freshness.as_ref().filter(|f| f.stale) else {
                    continue;
                };
                let key = format!("{}@{}", j.file.id, f.since.to_rfc3339());
                if before.contains(&key) {
                    keep.insert(key);
                } else if !j.running {
                    keep.insert(key);
                    notify.push((j.file.id.clone(), j.file.name.clone(), f.message.clone()));
                }
            }
            let recovered = before.iter().any(|k| !keep.contains(k));
            let changed = keep != before;
            *notified = keep;
            (changed.then(|| notified.clone()), recovered)
        };
        if let Some(keys) = changed {
            let mut keys: Vec<String> = keys.into_iter().collect();
            keys.sort();
            let path = self.data_dir.join(STALE_NOTIFIED_FILE);
            if let Err(e) = std::fs::write(&path, serde_json::to_vec(&keys).unwrap_or_default()) {
                tracing::warn!("Cannot write {}: {e}", path.display());
            }
        }
        for (job, job_name, message) in &notify {
            let message = message.clone().unwrap_or_default();
            tracing::warn!("{job_name}: the data is stale. {message}.");
            self.emit(AgentEvent::JobStale {
                job: job.clone(),
                job_name: job_name.clone(),
                message,
            });
        }
        if recovered {
            self.emit(AgentEvent::JobsChanged);
        }
        Ok(notify.into_iter().map(|(id, _, _)| id).collect())
    }

    /// Run [`Agent::check_stale`] now and then every [`watchdog::check_period`] (one
    /// minute; `FLIPLET_STALE_CHECK_SECS` changes it), until the agent is released or gone.
    /// Call within a Tokio runtime.
    pub fn spawn_watchdog(self: &Arc<Self>) {
        let agent = Arc::downgrade(self);
        let period = watchdog::check_period();
        tokio::spawn(async move {
            loop {
                let Some(a) = agent.upgrade() else { return };
                if a.is_releasing() {
                    return;
                }
                if let Err(e) = a.check_stale().await {
                    tracing::warn!("Cannot check for stale jobs: {}", e.message);
                }
                drop(a);
                tokio::time::sleep(period).await;
            }
        });
    }

    /// Run job `id` now (all its operations), recorded with `trigger`.
    pub async fn run_job(&self, id: &str, trigger: Trigger) -> Result<RecordedRun, AppError> {
        let path = jobs::find(&self.jobs_dir, id)?;
        self.run_path(id, &path, trigger, None, RunControl::new())
            .await
    }

    /// Run job `id` now, permitting up to `deletes` deletes past the delete gate once (the
    /// number its preview showed: "Allow once").
    pub async fn run_job_allowing_deletes(
        &self,
        id: &str,
        deletes: usize,
    ) -> Result<RecordedRun, AppError> {
        let path = jobs::find(&self.jobs_dir, id)?;
        self.run_path(
            id,
            &path,
            Trigger::Manual,
            None,
            RunControl::new().allowing_deletes(deletes),
        )
        .await
    }

    async fn run_path(
        &self,
        id: &str,
        path: &Path,
        trigger: Trigger,
        only: Option<usize>,
        control: RunControl,
    ) -> Result<RecordedRun, AppError> {
        if self.is_releasing() {
            return Err(AppError::new(
                ErrorCode::Other,
                format!(
                    "The job `{id}` was not run: the agent is handing over to another process of the app."
                ),
            ));
        }
        if !self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned())
        {
            return Err(AppError::new(
                ErrorCode::Other,
                format!("The job `{id}` is already running; wait for it to finish."),
            ));
        }
        self.emit(AgentEvent::RunStarted {
            job: id.to_owned(),
            trigger,
        });
        let result = match jobs::load_resolved(path, &self.store) {
            Ok(loaded) => {
                let record = RunRecord {
                    history: &self.history,
                    capture: &self.capture,
                    job_id: id,
                    job: &loaded.job,
                    trigger,
                    only,
                };
                run_recorded(record, control).await
            }
            // A job that cannot be loaded is a failed run too, so the history and the
            // notification say why a schedule did nothing.
            Err(e) => self.record_failure(id, path, trigger, &e.message).await,
        };
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        match &result {
            Ok(r) => self.emit(AgentEvent::RunFinished {
                run: r.run.clone(),
                recovered_after: (r.failures_before > 0).then_some(r.failures_before),
            }),
            Err(_) => self.emit(AgentEvent::JobsChanged),
        }
        result
    }

    async fn record_failure(
        &self,
        id: &str,
        path: &Path,
        trigger: Trigger,
        message: &str,
    ) -> Result<RecordedRun, AppError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| id.to_owned());
        let run = self.history.start_run(id, &name, trigger, None).await?;
        self.history
            .append_log(run, LogLevel::Error, message)
            .await?;
        self.history
            .finish_run(run, Outcome::Failed, RunCounts::default(), Some(message))
            .await?;
        finished(&self.history, run).await
    }

    /// Run every job now, one after the other. Returns the runs (a job already running is
    /// left out).
    pub async fn run_all(&self, trigger: Trigger) -> Vec<RecordedRun> {
        let mut out = Vec::new();
        for file in jobs::list(&self.jobs_dir) {
            if file.error.is_some() && !file.path.exists() {
                continue;
            }
            if let Ok(r) = self
                .run_path(&file.id, &file.path, trigger, None, RunControl::new())
                .await
            {
                out.push(r);
            }
        }
        out
    }

    /// Run once, at start-up, the jobs with `sync_on_init: true`.
    pub async fn run_startup_jobs(&self) {
        for file in jobs::list(&self.jobs_dir) {
            if file.sync_on_init {
                let _ = self
                    .run_path(
                        &file.id,
                        &file.path,
                        Trigger::Startup,
                        None,
                        RunControl::new(),
                    )
                    .await;
            }
        }
    }

    /// (Re)build the schedules from the job files. Jobs that cannot be loaded or scheduled
    /// are skipped (their error shows on the Jobs screen).
    pub async fn reload_schedules(self: &Arc<Self>) {
        let mut schedules = self.schedules.lock().await;
        for s in schedules.drain(..) {
            s.shutdown().await;
        }
        if self.is_releasing() {
            return;
        }
        for file in jobs::list(&self.jobs_dir) {
            if file.frequency.is_none() {
                continue;
            }
            // Schedule the unresolved job: each tick reloads the file and resolves its
            // secrets, so edits and rotated secrets apply without a restart.
            let Ok(loaded) = crate::config::load_job(&file.path) else {
                continue;
            };
            let runner = tick_runner(Arc::downgrade(self), file.id.clone(), file.path.clone());
            match scheduler::start_with(Arc::new(loaded.job), runner).await {
                Ok(s) => schedules.push(s),
                Err(e) => tracing::warn!("Cannot schedule {}: {e}", file.name),
            }
        }
        drop(schedules);
        self.emit(AgentEvent::JobsChanged);
    }

    /// Whether [`Agent::release`] was called (the agent is handing over or gone).
    pub fn is_releasing(&self) -> bool {
        self.releasing.load(Ordering::SeqCst)
    }

    /// The jobs running now.
    pub fn running_jobs(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Hand the agent over to another process of the app (see [`crate::app::instance`]): no new
    /// run starts (scheduled ticks are skipped, Run now is refused), the schedules stop, the
    /// runs in flight finish and are recorded, then [`Agent::shutdown`]. After it returns the
    /// history is closed and the caller can release the agent lock.
    pub async fn release(&self) {
        self.releasing.store(true, Ordering::SeqCst);
        for s in self.schedules.lock().await.drain(..) {
            s.shutdown().await;
        }
        let mut logged = false;
        loop {
            let running = self.running_jobs();
            if running.is_empty() {
                break;
            }
            if !logged {
                tracing::info!(
                    "Handing over after the runs in flight finish: {}.",
                    running.join(", ")
                );
                logged = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.shutdown().await;
        let state = crate::app::instance::HandoffState {
            paused: self.is_paused(),
        };
        if let Err(e) = crate::app::instance::save_state(&self.data_dir, &state) {
            tracing::warn!("Cannot write the handoff state: {e}");
        }
    }

    /// After taking the agent over from another process of the app ([`Agent::release`]),
    /// restore its state (paused schedules stay paused). Call before the schedules start.
    pub fn take_over(&self, handed_over: bool) {
        let state = crate::app::instance::take_state(&self.data_dir);
        if handed_over && let Some(state) = state {
            self.set_paused(state.paused);
        }
    }

    /// Stop the schedules and the demo emulator.
    pub async fn shutdown(&self) {
        for s in self.schedules.lock().await.drain(..) {
            s.shutdown().await;
        }
        if let Some(emu) = self.demo.lock().await.take() {
            let _ = emu.shutdown().await;
        }
        self.history.close().await;
    }

    /// The runs of job `id` (or of every job), newest first.
    pub async fn runs(&self, id: Option<&str>, limit: u32) -> Result<Vec<RunSummary>, AppError> {
        Ok(match id {
            Some(id) => self.history.runs(id, limit).await?,
            None => self.history.recent_runs(limit).await?,
        })
    }

    /// One run with its log lines.
    pub async fn run_detail(&self, id: i64) -> Result<RunDetail, AppError> {
        self.history
            .run(RunId(id))
            .await?
            .ok_or_else(|| AppError::not_found(format!("There is no run {id}.")))
    }

    /// Store a secret of job `id` in the keychain (or sealed file) and make the job file
    /// refer to it. Returns the reference written in the file.
    pub async fn set_secret(&self, id: &str, key: &str, value: &str) -> Result<String, AppError> {
        let reference =
            jobs::set_secret(&self.jobs_dir, &self.store, id, key, &Secret::new(value))?;
        self.emit(AgentEvent::JobsChanged);
        Ok(reference)
    }

    /// Where secrets are kept (the setup wizard stores the ones it is given here).
    pub fn secrets(&self) -> &SecretStore {
        &self.store
    }

    /// The dry run of job `id` with the rows and cells that would change, recorded in the
    /// history as a dry run.
    pub async fn preview_job(&self, id: &str) -> Result<run::JobPreview, AppError> {
        let path = jobs::find(&self.jobs_dir, id)?;
        let loaded = jobs::load_resolved(&path, &self.store)?;
        let job = &loaded.job;
        let work = async {
            let preview = run::preview_job(job, Some(crate::app::wizard::PREVIEW_ROWS)).await;
            let ended = Ended {
                totals: preview.totals(),
                error: preview.first_error(),
                ok: preview.succeeded(),
            };
            (ended, preview)
        };
        let record = RunRecord {
            history: &self.history,
            capture: &self.capture,
            job_id: id,
            job,
            trigger: Trigger::DryRun,
            only: None,
        };
        let (run, preview) = recorded(record, work).await?;
        let run = run?;
        self.emit(AgentEvent::RunFinished {
            run: run.run,
            recovered_after: None,
        });
        Ok(preview)
    }

    /// The setup wizard's draft of job `id`. Plain secrets written in the file move to the
    /// keychain (the file itself changes when the draft is saved).
    pub async fn load_draft(&self, id: &str) -> Result<JobDraft, AppError> {
        let path = jobs::find(&self.jobs_dir, id)?;
        let mut job = crate::config::load_job(&path)?.job;
        secret_store::move_plain_secrets(&mut job, &self.store, id)?;
        JobDraft::from_job(&job, Some(id))
    }

    /// A fliplet-agent job file (either format) opened as a new draft: its plain secrets move
    /// to the keychain; the file is not changed. The draft is named after the file.
    pub async fn import_draft(&self, path: &Path) -> Result<JobDraft, AppError> {
        let mut job = crate::config::load_job(path)?.job;
        let mut draft = JobDraft::from_job(&job, None)?;
        let name = draft.name.clone();
        secret_store::move_plain_secrets(&mut job, &self.store, &name)?;
        draft = JobDraft::from_job(&job, None)?;
        if jobs::find(&self.jobs_dir, &name).is_ok() {
            draft.name = format!("{name}-imported");
        }
        Ok(draft)
    }

    /// Save a draft as a job file of the jobs folder (multi-operation format, secrets as
    /// keychain references), reload the schedules, and with `run_now` run it. Editing a job
    /// under a new name renames its file.
    pub async fn save_draft(
        self: &Arc<Self>,
        draft: &JobDraft,
        run_now: bool,
    ) -> Result<SavedJob, AppError> {
        let name = draft.name.trim();
        if let Some(problem) = crate::app::wizard::name_problem(name) {
            return Err(AppError::invalid("name", problem));
        }
        let path = self.jobs_dir.join(format!("{name}.yml"));
        let renamed_from = draft.id.as_deref().filter(|old| *old != name);
        if (draft.id.is_none() || renamed_from.is_some())
            && jobs::find(&self.jobs_dir, name).is_ok()
        {
            return Err(AppError::invalid(
                "name",
                format!("A job named `{name}` already exists; choose another name."),
            ));
        }
        let mut text = crate::app::wizard::job_file_text(draft)?;
        // An edited demo job stays the demo job (its emulator is started with the app).
        if let Some(old) = &draft.id
            && jobs::find(&self.jobs_dir, old).is_ok_and(|p| jobs::is_demo(&p))
        {
            text = format!("{}\n{text}", jobs::DEMO_MARKER);
        }
        // Read it back as `fliplet-agent start` will, before anything is replaced.
        crate::config::parse_job(&text, &path)?;
        secret_store::write_private(&path, text.as_bytes())?;
        if let Some(old) = renamed_from
            && let Ok(old_path) = jobs::find(&self.jobs_dir, old)
        {
            let _ = std::fs::remove_file(old_path);
        }
        tracing::info!("Saved the job {name}.yml.");
        self.reload_schedules().await;
        let run = if run_now {
            Some(self.run_job(name, Trigger::Manual).await?.run)
        } else {
            None
        };
        let job = self
            .jobs()
            .await?
            .into_iter()
            .find(|j| j.file.id == name)
            .ok_or_else(|| AppError::not_found(format!("the job {name} was not saved")))?;
        Ok(SavedJob { job, run })
    }

    /// Whether the jobs folder has no job yet (the app then offers the demo).
    pub fn has_no_jobs(&self) -> bool {
        jobs::list(&self.jobs_dir).is_empty()
    }

    /// Create the demo job (if absent) and start its emulator.
    pub async fn create_demo(self: &Arc<Self>) -> Result<JobFile, AppError> {
        let mut demo = self.demo.lock().await;
        let (emu, path) = crate::app::demo::app_demo(&self.jobs_dir, &self.data_dir, &self.store)
            .await
            .map_err(|e| AppError::new(ErrorCode::Other, e.to_string()))?;
        if let Some(old) = demo.replace(emu) {
            let _ = old.shutdown().await;
        }
        drop(demo);
        self.reload_schedules().await;
        jobs::list(&self.jobs_dir)
            .into_iter()
            .find(|j| j.path == path)
            .ok_or_else(|| AppError::not_found("the demo job was not written"))
    }

    /// At start-up: when the demo job exists, start its emulator again.
    pub async fn resume_demo(self: &Arc<Self>) -> Result<(), AppError> {
        let has_demo = jobs::list(&self.jobs_dir).iter().any(|j| j.demo);
        if has_demo {
            self.create_demo().await?;
        }
        Ok(())
    }
}
