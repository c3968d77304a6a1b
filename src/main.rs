//! `fliplet-agent`: the command line over the core. Parse, call, print, pick the exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use fliplet_agent::app::agent;
use fliplet_agent::app::history::{self, History, Trigger};
use fliplet_agent::app::scheduler::TickRunner;
use fliplet_agent::app::{scheduler, watchdog};
use fliplet_agent::config::{self, Job, LoadedJob};
use fliplet_agent::fliplet::KeySource;
use fliplet_agent::log::LogCapture;
use fliplet_agent::schedule;
use fliplet_agent::sync::PushPreview;
use fliplet_agent::sync::control::{self, RunControl};
use fliplet_agent::sync::files::FileAction;
use fliplet_agent::sync::run::{self, JobPreview, JobReport};
use fliplet_agent::{log, paths};
use tracing::{Instrument, error, info, warn};

const AFTER_HELP: &str = "\
Examples:
  fliplet-agent validate sample.yml         check a job file without connecting anywhere
  fliplet-agent preview sample.yml          dry run: what would be inserted, updated, deleted
  fliplet-agent preview sample.yml --json   the same, as JSON
  fliplet-agent start sample.yml --test     one dry run of every operation, then exit
  fliplet-agent start sample.yml            run on the job's schedule until Ctrl+C
  fliplet-agent start sample.yml --allow-deletes 120
                                            run once now, allowing the 120 deletes the
                                            delete gate stopped (check them with preview)
  fliplet-agent demo                        a real sync against a built-in Fliplet emulator
  fliplet-agent convert sample.yml          print the job in the multi-operation format
  fliplet-agent protect sample.yml          move its plain-text secrets to the OS keychain
  fliplet-agent status                      each job's last success, last failure, next run

Exit codes:
  0  success
  1  a run or an operation failed (database, query, Fliplet API, commit, delete gate),
     or was stopped (Ctrl+C, SIGTERM, run_timeout) with work left undone
  2  the job file is invalid, or the command line is wrong
  3  status: a job's data is stale (no successful run for too long)

Environment:
  FLIPLET_API_URL    Fliplet API base URL (overrides the token's region; a job's api_url wins)
  FLIPLET_CA_FILE    extra CA certificate (PEM) to trust, for HTTPS-inspecting proxies
  FLIPLET_AGENT_LOG  log file path (default ~/fliplet-agent.log; `off` to disable)
  FLIPLET_LOG        log filter overriding log_verbosity (e.g. `debug`)

Runs of `start` are recorded in the run history the desktop app keeps (its data folder),
which `status` reads.";

#[derive(Parser)]
#[command(
    name = "fliplet-agent",
    version = fliplet_agent::VERSION,
    about = "Fliplet Data Integration Service: push database rows to Fliplet Data Sources on a schedule.",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the agent: run on init if `sync_on_init` is set, then on each operation's
    /// `frequency` until stopped. With --test: one dry run of every operation, then exit.
    Start {
        /// Path to the job file (the original fliplet-agent YAML format, or the
        /// multi-operation format).
        config: PathBuf,
        /// Dry run: fetch and compare, but write nothing to Fliplet.
        #[arg(long)]
        test: bool,
        /// Let this start's first run (`sync_on_init`, or one run now when the job has none)
        /// delete up to N entries past the delete gate: the number its message or a preview
        /// showed. Later scheduled runs are gated as usual.
        #[arg(long, value_name = "N")]
        allow_deletes: Option<usize>,
    },
    /// Check a job file: errors and warnings, without connecting to anything.
    Validate { config: PathBuf },
    /// Dry run printing the plan: counts, and the rows to insert, update and delete.
    Preview {
        config: PathBuf,
        /// Print the preview as JSON (for scripts and the desktop app).
        #[arg(long)]
        json: bool,
        /// Rows listed per kind (inserts, updates, deletes, skipped); 0 lists them all.
        #[arg(long, default_value_t = 50)]
        max_rows: usize,
    },
    /// Every job's last success, last failure and next run, from the run history the desktop
    /// app and `start` record. Exit code 3 when a job's data is stale (for monitoring).
    Status {
        /// Job files to report on. Default: every job of the desktop app's jobs folder, then
        /// every other job file whose runs `start` recorded.
        configs: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move the plain-text secrets of a job file (auth_token, database_password, SharePoint
    /// passwords, encryption key and salt) into the OS keychain, or the sealed secrets file
    /// when no keychain is reachable, and leave `keychain:` references in the file. The
    /// desktop app and `start` read them from there.
    Protect { config: PathBuf },
    /// Print a job file in the multi-operation format (`operations:`), e.g. to add
    /// operations to a single-operation file. Secrets are printed as written in the file.
    Convert { config: PathBuf },
    /// No account needed: sync a bundled SQLite staff table into a built-in Fliplet emulator,
    /// edit the source, and sync again, printing each preview and result.
    Demo {
        /// Folder for the demo's database and job file (default: a fresh temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep the emulator running afterwards (until Ctrl+C) to explore with other commands.
        #[arg(long)]
        serve: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Validate { config } => validate(&config),
            Command::Preview {
                config,
                json,
                max_rows,
            } => preview(&config, json, max_rows).await,
            Command::Start {
                config,
                test,
                allow_deletes,
            } => start(&config, test, allow_deletes).await,
            Command::Demo { dir, serve } => demo(dir, serve).await,
            Command::Status { configs, json } => status(&configs, json).await,
            Command::Protect { config } => protect(&config),
            Command::Convert { config } => match load(&config) {
                Ok(loaded) => {
                    print!("{}", config::emit::to_multi_yaml(&loaded.job));
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            },
        }
    })
}

/// Load a job file, printing its warnings; exit code 2 on errors.
/// Load a job file to run it: `keychain:<name>` secrets are replaced by the values the
/// desktop app stored (OS keychain, or the sealed file in the app's data folder).
fn load_resolved(path: &Path) -> Result<LoadedJob, ExitCode> {
    let mut loaded = load(path)?;
    if let Err(e) = fliplet_agent::app::jobs::resolve_for_cli(&mut loaded.job) {
        eprintln!("error: {}: {e}", path.display());
        return Err(ExitCode::from(2));
    }
    Ok(loaded)
}

fn load(path: &Path) -> Result<LoadedJob, ExitCode> {
    match config::load_job(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            Ok(loaded)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn validate(path: &Path) -> ExitCode {
    match load(path) {
        Ok(loaded) => {
            if let Err(e) = run::check_ca_file(&loaded.job) {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
            let n = loaded.job.operations.len();
            println!(
                "{}: valid ({} operation{}, {} warning{})",
                path.display(),
                n,
                if n == 1 { "" } else { "s" },
                loaded.warnings.len(),
                if loaded.warnings.len() == 1 { "" } else { "s" }
            );
            // When each scheduled operation runs next, in the machine's local time.
            for (i, op) in loaded.job.operations.iter().enumerate() {
                let Some(expr) = op.frequency() else { continue };
                let times = schedule::next_runs(expr, chrono::Local::now(), 5)
                    .unwrap_or_default()
                    .iter()
                    .map(|t| t.format("%a %Y-%m-%d %H:%M").to_string())
                    .collect::<Vec<_>>();
                let times = if times.is_empty() {
                    "never".to_string()
                } else {
                    times.join(", ")
                };
                println!(
                    "Operation {} (frequency '{expr}') runs next: {times}",
                    i + 1
                );
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn preview(path: &Path, json: bool, max_rows: usize) -> ExitCode {
    let loaded = match load_resolved(path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let _guard = log::init(if json {
        config::Verbosity::Critical
    } else {
        config::Verbosity::Info
    });
    let max = (max_rows > 0).then_some(max_rows);
    let preview = run::preview_job(&loaded.job, max).await;
    if json {
        match serde_json::to_string_pretty(&preview) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        }
    } else {
        print_preview(&preview);
    }
    if preview.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_preview(p: &JobPreview) {
    if let Some(e) = &p.error {
        println!("Preview of {} failed: {e}", p.job);
        return;
    }
    for op in &p.operations {
        let title = op.description.as_deref().unwrap_or(op.kind);
        let arrow = if op.kind == "pull" { "<-" } else { "->" };
        println!(
            "\n== Operation {} ({title}) {arrow} data source {} ==",
            op.index + 1,
            op.data_source_id
        );
        if let Some(e) = &op.error {
            println!("FAILED: {e}");
            continue;
        }
        if let Some(plan) = &op.plan {
            print_plan(plan);
        }
        if let Some(pull) = &op.pull {
            print_pull(pull);
        }
    }
    println!("\nDry run: nothing has been written to Fliplet, to tables or to files.");
}

fn print_pull(p: &fliplet_agent::sync::pull::PullRun) {
    println!("{} entries would be pulled into {}", p.fetched, p.target);
    if let Some(t) = &p.table {
        println!(
            "{} rows to insert, {} to update, {} skipped (no key value)",
            t.inserted, t.updated, t.skipped
        );
    }
    if let Some(c) = &p.write_back_column {
        println!("`{c}` would be written back to {} entries", p.fetched);
    }
    for e in &p.sample {
        println!(
            "  < entry {}: {}",
            e.id,
            serde_json::Value::Object(e.data.clone())
        );
    }
}

fn print_plan(p: &PushPreview) {
    let c = &p.counts;
    println!(
        "{} to insert, {} to update, {} to DELETE, {} unchanged, {} skipped",
        c.inserted, c.updated, c.deleted, c.unchanged, c.skipped
    );
    for w in &p.warnings {
        println!("warning: {w}");
    }
    if !p.deletes.is_empty() {
        println!("\n!! Entries that would be DELETED from Fliplet:");
        for d in &p.deletes {
            let why = if d.reason == "flagged" {
                "marked deleted in the source"
            } else {
                "no longer returned by the query (mode: replace)"
            };
            println!("  - entry {} ({why}): {}", d.entry_id, d.data);
        }
    }
    if !p.inserts.is_empty() {
        println!("\nRows to insert:");
        for r in &p.inserts {
            println!("  + row {}: {}", r.row, r.data);
        }
    }
    if !p.updates.is_empty() {
        println!("\nRows to update:");
        for u in &p.updates {
            println!("  ~ row {} -> entry {}:", u.row, u.entry_id);
            for ch in &u.changes {
                if ch.removed {
                    println!(
                        "      {}: {} -> (removed, merge is off)",
                        ch.column, ch.before
                    );
                } else {
                    println!("      {}: {} -> {}", ch.column, ch.before, ch.after);
                }
            }
        }
    }
    if !p.skipped.is_empty() {
        println!("\nRows skipped:");
        for s in &p.skipped {
            println!("  ! row {}: {} {}", s.row, s.reason, s.data);
        }
    }
    if !p.files.is_empty() {
        let f = &p.file_counts;
        println!(
            "\nFiles: {} to upload, {} already on Fliplet (reused), {} cannot be fetched (column left out of the row):",
            f.would_upload + f.uploaded,
            f.reused,
            f.failed
        );
        for file in &p.files {
            let what = match file.file.action {
                FileAction::Uploaded => "uploaded".to_string(),
                FileAction::WouldUpload => "would upload".to_string(),
                FileAction::Reused => match file.file.media_file_id {
                    Some(id) => format!("reuse media file {id}"),
                    None => "reuse (uploaded earlier in this run)".to_string(),
                },
                FileAction::Failed => format!(
                    "CANNOT FETCH: {}",
                    file.file.reason.as_deref().unwrap_or("unknown reason")
                ),
            };
            let name = file.file.name.as_deref().unwrap_or("");
            println!(
                "  row {} {}: {} {name} <- {}",
                file.row, file.file.column, what, file.file.source
            );
        }
    }
    if let Some(e) = &p.encryption {
        let key = match &e.key_source {
            KeySource::Configured => "the key set in the job".to_string(),
            KeySource::Keystore { data_source_id } => {
                format!("the organization keystore (data source {data_source_id})")
            }
            KeySource::KeystoreCreated { data_source_id, .. } => {
                format!(
                    "a new key stored in the organization keystore (data source {data_source_id})"
                )
            }
            KeySource::WouldCreateKeystore => {
                "the organization keystore, which a real run would create with a new key"
                    .to_string()
            }
            KeySource::WouldStoreKey { data_source_id } => format!(
                "the organization keystore (data source {data_source_id}), where a real run would store a new key"
            ),
        };
        println!(
            "\nEncryption: {} values of fields [{}] would be encrypted with {key}.",
            e.values,
            e.fields.join(", ")
        );
        if !e.missing_fields.is_empty() {
            println!(
                "warning: fields to encrypt not returned by the query: {}",
                e.missing_fields.join(", ")
            );
        }
    }
    if p.truncated {
        println!("\n(lists cut; use --max-rows 0 to list every row)");
    }
}

fn print_report(r: &JobReport) {
    for op in &r.operations {
        if let Some(p) = &op.pull {
            match &p.table {
                Some(t) => info!(
                    "Pull {}: {} entries, {} rows inserted and {} updated in {}{}.",
                    op.index + 1,
                    p.fetched,
                    t.inserted,
                    t.updated,
                    p.target,
                    if r.dry_run {
                        " (dry run: nothing written)"
                    } else {
                        ""
                    }
                ),
                None => info!(
                    "Pull {}: {} entries to {}{}.",
                    op.index + 1,
                    p.fetched,
                    p.target,
                    if r.dry_run {
                        " (dry run: nothing written)"
                    } else {
                        ""
                    }
                ),
            }
        }
    }
    let t = r.totals();
    let verb = if r.dry_run { "would be" } else { "" };
    info!(
        "Summary: {} inserted, {} updated, {} deleted{}, {} unchanged, {} skipped.",
        t.inserted,
        t.updated,
        t.deleted,
        if verb.is_empty() {
            String::new()
        } else {
            format!(" ({verb} sent)")
        },
        t.unchanged,
        t.skipped
    );
}

/// Ctrl+C or SIGTERM (a service stop): every run stops at its next safe point.
fn stop_on_signal() {
    tokio::spawn(async {
        #[cfg(unix)]
        let reason = {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => tokio::select! {
                    _ = tokio::signal::ctrl_c() => "Ctrl+C",
                    _ = term.recv() => "SIGTERM",
                },
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    "Ctrl+C"
                }
            }
        };
        #[cfg(not(unix))]
        let reason = {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl+C"
        };
        info!("Stopping: {reason} received. A run in flight stops before its next commit.");
        control::stop_process(&format!("the agent was asked to stop ({reason})"));
    });
}

/// Where `start` records its runs: the run history of the desktop app (its data folder), so
/// the app's History and `fliplet-agent status` see them. Log lines and errors are stored
/// with the job's secrets redacted, as the app stores its own runs.
struct Recorder {
    history: History,
    capture: LogCapture,
    /// The job's id in the history (see `watchdog::job_id_for_path`).
    id: String,
}

impl Recorder {
    /// `None` (with a warning) when the history cannot be opened: the job still runs.
    async fn open(path: &Path, capture: LogCapture) -> Option<Arc<Recorder>> {
        let file = paths::data_dir().join(history::FILE_NAME);
        match History::open(&file).await {
            Ok(history) => Some(Arc::new(Recorder {
                history,
                capture,
                id: watchdog::job_id_for_path(path, &paths::jobs_dir()),
            })),
            Err(e) => {
                warn!("Runs are not recorded in the run history: {e}");
                None
            }
        }
    }
}

/// Run the job (or operation `only`) once, recorded with `trigger` when there is a recorder.
async fn run_job(
    recorder: Option<&Recorder>,
    job: &Job,
    trigger: Trigger,
    only: Option<usize>,
    control: RunControl,
) -> JobReport {
    let dry_run = trigger == Trigger::DryRun;
    if let Some(r) = recorder {
        let record = agent::RunRecord {
            history: &r.history,
            capture: &r.capture,
            job_id: &r.id,
            job,
            trigger,
            only,
        };
        match agent::run_recorded_report(record, control.clone()).await {
            Ok((recorded, report)) => {
                if let Err(e) = recorded {
                    warn!("This run could not be recorded in the run history: {e}");
                }
                return report;
            }
            Err(e) => warn!("This run is not recorded in the run history: {e}"),
        }
    }
    let only_list = only.map(|i| [i]);
    run::run_job_with(job, dry_run, only_list.as_ref().map(|a| &a[..]), control).await
}

async fn start(path: &Path, test: bool, allow_deletes: Option<usize>) -> ExitCode {
    let loaded = match load_resolved(path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let job = Arc::new(loaded.job);
    let capture = LogCapture::new();
    let _guard = log::init_with(job.log_verbosity, Some(capture.layer()));
    let span = log::job_span(&job.name);
    if let Err(e) = run::check_ca_file(&job) {
        span.in_scope(|| error!("{e}"));
        return ExitCode::from(2);
    }
    let recorder = Recorder::open(path, capture).instrument(span.clone()).await;
    span.in_scope(|| {
        info!("Agent started successfully. Press Ctrl+C to quit.");
        info!(
            "User Agent for outgoing HTTP requests has been set to {}",
            fliplet_agent::fliplet::USER_AGENT
        );
        if test {
            info!("Dry run enabled. No data will actually be sent to Fliplet server.");
        }
    });
    stop_on_signal();
    if test {
        let report = run_job(
            recorder.as_deref(),
            &job,
            Trigger::DryRun,
            None,
            RunControl::new(),
        )
        .await;
        span.in_scope(|| {
            print_report(&report);
            info!("Dry run finished. Aborting process.");
        });
        return exit_code(&report);
    }
    let mut last_ok = true;
    if job.sync_on_init || allow_deletes.is_some() {
        let mut control = RunControl::new();
        if let Some(n) = allow_deletes {
            span.in_scope(|| {
                info!(
                    "This run may delete up to {n} entries past the delete gate (--allow-deletes)."
                )
            });
            control = control.allowing_deletes(n);
        }
        let report = run_job(recorder.as_deref(), &job, Trigger::Startup, None, control).await;
        span.in_scope(|| print_report(&report));
        last_ok = report.succeeded();
    }
    if control::process_stopping() {
        return if last_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let with_frequency = job
        .operations
        .iter()
        .filter(|o| o.frequency().is_some())
        .count();
    if with_frequency == 0 {
        span.in_scope(|| info!("No operation has a frequency: nothing to schedule. Exiting."));
        return if last_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    span.in_scope(|| {
        info!("Scheduling {with_frequency} operation(s) to run with their set frequency...")
    });
    let runner: TickRunner = Arc::new(move |job: Arc<Job>, index: usize| {
        let recorder = recorder.clone();
        Box::pin(async move {
            let report = run_job(
                recorder.as_deref(),
                &job,
                Trigger::Scheduled,
                Some(index),
                RunControl::new(),
            )
            .await;
            log::job_span(&job.name).in_scope(|| {
                if report.succeeded() {
                    info!("Scheduled run finished.");
                } else {
                    error!("Scheduled run failed.");
                }
            });
        })
    });
    let schedule = match scheduler::start_with(job.clone(), runner).await {
        Ok(s) => s,
        Err(e) => {
            span.in_scope(|| error!("{e}"));
            return ExitCode::from(2);
        }
    };
    span.in_scope(|| info!("Scheduling complete. Keep this process alive and you're good to go!"));
    control::process_stopped().await;
    schedule.shutdown().await;
    // Runs in flight end at their next safe point (never mid-commit).
    let cut = control::wait_idle().await;
    if cut > 0 {
        span.in_scope(|| error!("Stopped with work left undone: the next run sends the rest."));
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn status(configs: &[PathBuf], json: bool) -> ExitCode {
    let jobs_dir = paths::jobs_dir();
    let file = paths::data_dir().join(history::FILE_NAME);
    let history = match History::open(&file).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let jobs = if configs.is_empty() {
        match watchdog::known_jobs(&history, &jobs_dir).await {
            Ok(j) => j,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        let mut out = Vec::new();
        for path in configs {
            if let Err(code) = load(path) {
                return code;
            }
            out.push((watchdog::job_id_for_path(path, &jobs_dir), path.clone()));
        }
        out
    };
    let now = chrono::Utc::now();
    let mut report = Vec::with_capacity(jobs.len());
    for (id, path) in &jobs {
        match watchdog::job_health(&history, id, path, now).await {
            Ok(h) => report.push(h),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    history.close().await;
    let stale = report.iter().filter(|j| j.stale).count();
    if json {
        let out = serde_json::json!({
            "history": file,
            "jobs_dir": jobs_dir,
            "stale": stale,
            "jobs": report,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print_status(&report, &jobs_dir);
    }
    if stale > 0 {
        ExitCode::from(watchdog::STALE_EXIT_CODE)
    } else {
        ExitCode::SUCCESS
    }
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "never".into())
}

/// A readable table: one line per job, then what is wrong with it, indented.
fn print_status(jobs: &[watchdog::JobHealth], jobs_dir: &Path) {
    if jobs.is_empty() {
        println!(
            "No jobs: the jobs folder {} has none, and the run history holds no other job file.",
            jobs_dir.display()
        );
        return;
    }
    let rows: Vec<[String; 5]> = jobs
        .iter()
        .map(|j| {
            let state = if j.error.is_some() {
                "INVALID"
            } else if j.stale {
                "STALE"
            } else if j.freshness.is_none() {
                "ok (not watched)"
            } else {
                "ok"
            };
            [
                if Path::new(&j.id).is_absolute() {
                    j.id.clone()
                } else {
                    j.name.clone()
                },
                when(j.last_success.as_ref().map(|r| r.at)),
                when(j.last_failure.as_ref().map(|r| r.at)),
                j.next_run
                    .map_or_else(|| "not scheduled".into(), |t| when(Some(t))),
                state.to_string(),
            ]
        })
        .collect();
    let head = ["JOB", "LAST SUCCESS", "LAST FAILURE", "NEXT RUN", "STATE"];
    let width: Vec<usize> = (0..5)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([head[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c == 4 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = width[c]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(head);
    for (j, r) in jobs.iter().zip(&rows) {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
        if let Some(e) = &j.error {
            println!("    {}", e.lines().next().unwrap_or_default());
        }
        if let Some(m) = j.freshness.as_ref().and_then(|f| f.message.as_deref()) {
            println!("    {m}");
        }
        let failed_last = match (&j.last_failure, &j.last_success) {
            (Some(f), Some(s)) => f.at > s.at,
            (Some(_), None) => true,
            _ => false,
        };
        if failed_last && let Some(e) = j.last_failure.as_ref().and_then(|f| f.error.as_deref()) {
            let first: String = e
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(160)
                .collect();
            println!("    last error: {first}");
        }
    }
}

/// `fliplet-agent protect job.yml`.
fn protect(path: &Path) -> ExitCode {
    if let Err(code) = load(path) {
        return code;
    }
    let jobs_dir = paths::jobs_dir();
    let id = fliplet_agent::app::jobs::secret_id_for_path(path, &jobs_dir);
    let store = fliplet_agent::secret_store::SecretStore::open(&paths::data_dir());
    let report = match fliplet_agent::secret_store::import_job_file(path, &store, &id) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    for m in &report.moved {
        println!(
            "{}: line {}: {} moved to {} as {}",
            path.display(),
            m.line,
            m.key,
            store.describe(),
            m.name
        );
    }
    for key in &report.already_references {
        println!("{}: {key} is already a reference", path.display());
    }
    // What the file still holds in plain text (e.g. a connection's password of the
    // multi-operation format, which this command does not rewrite).
    let left = match config::load_job(path) {
        Ok(loaded) => fliplet_agent::secret_store::plain_secret_keys(&loaded.job),
        Err(e) => {
            eprintln!("error: after the rewrite: {e}");
            return ExitCode::from(1);
        }
    };
    if !left.is_empty() {
        eprintln!(
            "warning: {} still holds these secrets in plain text: {}. Open the job in the desktop app (Edit) to move them to the keychain, or write each as keychain:<name> after storing it there.",
            path.display(),
            left.join(", ")
        );
        return ExitCode::from(1);
    }
    if report.moved.is_empty() {
        println!("{}: no plain-text secret to move", path.display());
    }
    ExitCode::SUCCESS
}

fn exit_code(r: &JobReport) -> ExitCode {
    if r.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn demo(dir: Option<PathBuf>, serve: bool) -> ExitCode {
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            tmp = std::env::temp_dir().join(format!("fliplet-agent-demo-{}", std::process::id()));
            tmp.clone()
        }
    };
    let _guard = log::init(config::Verbosity::Info);
    let demo = match fliplet_agent::app::demo::prepare(&dir).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "Fliplet emulator (no account needed): {}",
        demo.emulator.url()
    );
    println!("Source database: {}", demo.database.display());
    println!("Job file:        {}", demo.job_path.display());
    println!("\n### Step 1: preview of the first sync");
    print_preview(&run::preview_job(&demo.job, Some(20)).await);
    println!("\n### Step 2: the first sync");
    let r = run::run_job(&demo.job, false, None).await;
    print_totals(&r);
    println!("\n### Step 3: someone edits the HR system (one change, one deletion, one new hire)");
    if let Err(e) = fliplet_agent::app::demo::execute_sqlite(
        &demo.database,
        fliplet_agent::app::demo::DEMO_EDITS_SQL,
    )
    .await
    {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    print_preview(&run::preview_job(&demo.job, Some(20)).await);
    println!("\n### Step 4: the second sync");
    let r2 = run::run_job(&demo.job, false, None).await;
    print_totals(&r2);
    let n = demo.emulator.entries(demo.data_source_id).len();
    println!("\nThe data source now holds {n} entries.");
    if serve {
        println!(
            "\nThe emulator keeps running at {} (token {}). Try:\n  fliplet-agent preview {}\nPress Ctrl+C to stop.",
            demo.emulator.url(),
            fliplet_agent::app::demo::DEMO_TOKEN,
            demo.job_path.display()
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    if r.succeeded() && r2.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_totals(r: &JobReport) {
    if let Some(e) = &r.error {
        println!("FAILED: {e}");
        return;
    }
    let t = r.totals();
    println!(
        "Done: {} inserted, {} updated, {} deleted, {} unchanged, {} skipped.",
        t.inserted, t.updated, t.deleted, t.unchanged, t.skipped
    );
}
