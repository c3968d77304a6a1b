//! Logging: the console (standard error) and `fliplet-agent.log` in the user's home folder
//! (appended, never truncated; created with mode 0600), each line prefixed with the job
//! file's name.
//!
//! Core code logs with `tracing` macros inside a `job` span (see [`job_span`]); the prefix
//! comes from that span. Secrets are never passed to a log macro.

use std::fmt;
use std::path::PathBuf;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Verbosity;

/// Environment variable naming the log file (default `~/fliplet-agent.log`); `off` disables
/// the file.
pub const LOG_FILE_ENV: &str = "FLIPLET_AGENT_LOG";

/// The span every log line of a job's work runs in; its `job` field is the line prefix.
pub fn job_span(job_name: &str) -> tracing::Span {
    tracing::info_span!("job", job = %job_name)
}

/// The log file path: `$FLIPLET_AGENT_LOG`, or `fliplet-agent.log` in the home folder.
pub fn log_file_path() -> Option<PathBuf> {
    match std::env::var(LOG_FILE_ENV) {
        Ok(v) if v == "off" => None,
        Ok(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => dirs::home_dir().map(|h| h.join("fliplet-agent.log")),
    }
}

fn level_filter(v: Verbosity) -> &'static str {
    match v {
        Verbosity::Debug => "debug",
        Verbosity::Info => "info",
        Verbosity::Critical => "error",
    }
}

/// Keeps the log file writer alive; drop it last (it flushes).
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// Install the global logger. `FLIPLET_LOG` (an `EnvFilter` directive) overrides the
/// verbosity. Returns a guard to keep until exit. Safe to call once per process.
pub fn init(verbosity: Verbosity) -> LogGuard {
    init_with(verbosity, None::<tracing_subscriber::layer::Identity>)
}

/// [`init`], plus an extra layer filtered like the console: the run history's capture layer
/// (`LogCapture::layer`), with which the app and `start` record each run's log lines.
pub fn init_with<L>(verbosity: Verbosity, capture: Option<L>) -> LogGuard
where
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    let directive = std::env::var("FLIPLET_LOG").unwrap_or_else(|_| {
        format!(
            "{},hyper=warn,reqwest=warn,sqlx=warn,tiberius=warn",
            level_filter(verbosity)
        )
    });
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(LineFormat)
        .with_filter(EnvFilter::new(&directive));
    let mut guard = None;
    let file_layer = log_file_path().and_then(|path| {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        // Created readable by its owner only (the log names hosts, files and data sources);
        // an existing file keeps its mode.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .map_err(|e| eprintln!("warning: cannot open the log file {}: {e}", path.display()))
            .ok()?;
        // Each start begins with the version, so a log handed to support says what ran.
        use std::io::Write as _;
        let _ = writeln!(
            file,
            "{} fliplet-agent {} started (pid {})",
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
            crate::VERSION,
            std::process::id()
        );
        let (writer, g) = tracing_appender::non_blocking(file);
        guard = Some(g);
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .event_format(LineFormat)
                .with_filter(EnvFilter::new(&directive)),
        )
    });
    let capture_layer = capture.map(|c| c.with_filter(EnvFilter::new(&directive)));
    let _ = tracing_subscriber::registry()
        .with(capture_layer)
        .with(console)
        .with(file_layer)
        .try_init();
    LogGuard(guard)
}

/// `2026-11-28 11:16:27 [sample.yml] INFO  message`
pub struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(
            writer,
            "{} ",
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
        )?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if span.name() != "job" {
                    continue;
                }
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    let name = fields.fields.strip_prefix("job=").unwrap_or(&fields.fields);
                    write!(writer, "[{name}] ")?;
                }
            }
        }
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARN ",
            Level::INFO => "INFO ",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        write!(writer, "{level} ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
