//! Logging: the console (standard error) and `fliplet-agent.log` in the user's home folder
//! (appended, never truncated; created with mode 0600), each line prefixed with the job
//! file's name.
//!
//! Core code logs with `tracing` macros inside a `job` span (see [`job_span`]); the prefix
//! comes from that span. Secrets are never passed to a log macro.
//!
//! # Capturing a run's log lines
//!
//! [`LogCapture`] is a `tracing_subscriber` layer that collects the events emitted inside a
//! watched span (the core logs inside `tracing::info_span!("job", job = %name)`); the run
//! history stores them (`app::history`):
//!
//! ```ignore
//! let capture = LogCapture::new();
//! tracing_subscriber::registry().with(capture.layer()).with(fmt_layer).init();
//! let span = tracing::info_span!("job", job = %name);
//! let watch = capture.watch(&span);
//! run(job).instrument(span).await;
//! history.append_logs(run_id, &watch.finish()).await?;
//! ```

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

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
/// ([`LogCapture::layer`]), with which the app and `start` record each run's log lines.
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

// ---------------------------------------------------------------------------------------
// Capturing a run's log lines
// ---------------------------------------------------------------------------------------

/// Level of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// A text that names no [`LogLevel`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a log level")]
pub struct UnknownLevel(pub String);

impl FromStr for LogLevel {
    type Err = UnknownLevel;
    fn from_str(s: &str) -> Result<Self, UnknownLevel> {
        [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
        .ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<tracing::Level> for LogLevel {
    fn from(l: tracing::Level) -> Self {
        match l {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        }
    }
}

/// One log line of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub level: LogLevel,
    pub message: String,
}

impl LogLine {
    pub fn new(level: LogLevel, message: impl Into<String>) -> Self {
        LogLine {
            at: Utc::now(),
            level,
            message: message.into(),
        }
    }
}

/// Upper bound of lines kept per watched span; later lines are counted, not kept.
pub const MAX_CAPTURED_LINES: usize = 10_000;

#[derive(Default)]
struct Captured {
    lines: Vec<LogLine>,
    dropped: usize,
}

type Watched = Arc<Mutex<HashMap<tracing::span::Id, Captured>>>;

/// Collects the log lines emitted inside watched spans. Add [`LogCapture::layer`] to the
/// subscriber once; then [`LogCapture::watch`] a run's span and [`LogWatch::finish`] after
/// the run.
#[derive(Clone, Default)]
pub struct LogCapture {
    watched: Watched,
}

impl LogCapture {
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer to add to a `tracing_subscriber::registry()` (needs span lookup).
    pub fn layer(&self) -> CaptureLayer {
        CaptureLayer {
            watched: self.watched.clone(),
        }
    }

    /// Start collecting the events inside `span` (and its child spans). A disabled span
    /// (no id) collects nothing.
    pub fn watch(&self, span: &tracing::Span) -> LogWatch {
        if let Some(id) = span.id() {
            self.watched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, Captured::default());
        }
        LogWatch {
            span: span.clone(),
            watched: self.watched.clone(),
        }
    }
}

/// A watched span; keeps the span alive (so its id is not reused) until finished.
pub struct LogWatch {
    span: tracing::Span,
    watched: Watched,
}

impl LogWatch {
    /// The lines collected so far, without stopping.
    pub fn lines(&self) -> Vec<LogLine> {
        let Some(id) = self.span.id() else {
            return Vec::new();
        };
        let map = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&id).map(|c| c.lines.clone()).unwrap_or_default()
    }

    /// Stop collecting and return the lines (plus a final warning line if some were dropped
    /// beyond [`MAX_CAPTURED_LINES`]).
    pub fn finish(self) -> Vec<LogLine> {
        let Some(id) = self.span.id() else {
            return Vec::new();
        };
        let captured = self
            .watched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
            .unwrap_or_default();
        let mut lines = captured.lines;
        if captured.dropped > 0 {
            lines.push(LogLine::new(
                LogLevel::Warn,
                format!(
                    "{} more log lines were not kept in the history",
                    captured.dropped
                ),
            ));
        }
        lines
    }
}

impl Drop for LogWatch {
    fn drop(&mut self) {
        if let Some(id) = self.span.id() {
            self.watched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }
}

/// The `tracing_subscriber` layer of a [`LogCapture`].
pub struct CaptureLayer {
    watched: Watched,
}

impl<S> tracing_subscriber::Layer<S> for CaptureLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let mut map = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        if map.is_empty() {
            return;
        }
        let mut line: Option<LogLine> = None;
        for span in scope {
            if let Some(captured) = map.get_mut(&span.id()) {
                if captured.lines.len() >= MAX_CAPTURED_LINES {
                    captured.dropped += 1;
                    continue;
                }
                let line = line.get_or_insert_with(|| {
                    let mut v = MessageVisitor::default();
                    event.record(&mut v);
                    LogLine::new((*event.metadata().level()).into(), v.finish())
                });
                captured.lines.push(line.clone());
            }
        }
    }
}

/// `message` first, then the other fields as `name=value`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl tracing::field::Visit for MessageVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_collects_only_events_inside_the_watched_span() {
        let capture = LogCapture::new();
        let subscriber = tracing_subscriber::registry().with(capture.layer());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("job", job = "a.yml");
            let other = tracing::info_span!("job", job = "b.yml");
            let watch = capture.watch(&span);
            tracing::info!("outside");
            span.in_scope(|| {
                tracing::info!(rows = 3, "fetched");
                tracing::info_span!("op", index = 0).in_scope(|| tracing::warn!("nested"));
            });
            other.in_scope(|| tracing::error!("other job"));
            let lines = watch.finish();
            let got: Vec<_> = lines
                .iter()
                .map(|l| (l.level, l.message.as_str()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (LogLevel::Info, "fetched rows=3"),
                    (LogLevel::Warn, "nested")
                ]
            );
            span.in_scope(|| tracing::info!("after finish"));
            assert!(capture.watched.lock().unwrap().is_empty());
        });
    }

    #[test]
    fn capture_caps_lines() {
        let capture = LogCapture::new();
        let subscriber = tracing_subscriber::registry().with(capture.layer());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("job");
            let watch = capture.watch(&span);
            span.in_scope(|| {
                for i in 0..MAX_CAPTURED_LINES + 5 {
                    tracing::debug!("line {i}");
                }
            });
            let lines = watch.finish();
            assert_eq!(lines.len(), MAX_CAPTURED_LINES + 1);
            assert!(lines.last().unwrap().message.starts_with("5 more"));
        });
    }

    #[test]
    fn levels_read_back_from_their_names() {
        for level in [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ] {
            assert_eq!(level.as_str().parse(), Ok(level));
            assert_eq!(level.to_string(), level.as_str());
        }
        assert_eq!("loud".parse::<LogLevel>(), Err(UnknownLevel("loud".into())));
    }
}
