//! Sources of rows. SQL sources read through each database's own driver types and map every
//! column to the JSON value the original agent sent (see README "SQL type mapping").

use serde::Serialize;
use serde_json::Value;

/// A column of a result set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Name as returned by the query (spaces and unicode kept).
    pub name: String,
    /// The database's own type name (e.g. `TIMESTAMPTZ`, `DECIMAL`, `nvarchar`), for display.
    pub type_name: String,
}

/// Rows fetched from a source, column-oriented to keep memory low on large tables:
/// `rows[i][j]` is the value of `columns[j]` in row `i`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// Index of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column names in order.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

pub mod convert;
pub mod file;
pub mod http;
pub mod mssql;
pub mod records;
pub mod sql;

use std::time::Duration;

use tokio::time::Instant;

pub use crate::config::QueryTimeouts;
use crate::config::{DatabaseConfig, Driver};

/// How long establishing a connection may take before it fails with a clear message.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long cancelling a timed-out query on the server may take, its own connection included.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// How much longer than `query_timeout` the agent waits when the server enforces the limit
/// itself, so that the server's own cancellation (the cleanest end) normally comes first.
pub const SERVER_GRACE: Duration = Duration::from_secs(1);

/// Errors of a SQL source. No variant ever contains the database password.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The connection could not be established.
    #[error("{}", connect_message(target, message, hint.as_deref()))]
    Connect {
        /// `DatabaseConfig::describe()`, e.g. "PostgreSQL at host:5432/db".
        target: String,
        /// The driver's own message.
        message: String,
        /// What to check, for the common failures.
        hint: Option<String>,
    },
    /// The query failed on the server (syntax error, unknown table, ...).
    #[error("Cannot execute database query: {message}")]
    Query { message: String },
    /// The configuration cannot work (e.g. SQLite without a file path).
    #[error("{message}")]
    Config { message: String },
    /// An HTTP source failed: unreachable, an error status, not JSON, no array of records.
    #[error("{message}")]
    Http { message: String },
    /// A JSON or CSV file source cannot be read or parsed (CSV errors name the line).
    #[error("{message}")]
    File { message: String },
    /// The query ran longer than `query_timeout`: the fetch failed and the query was
    /// stopped (see `cancelled`).
    #[error(
        "The query did not finish within {seconds} s (query_timeout){}. Make the query faster or raise query_timeout in the job file.",
        cancelled.clause()
    )]
    QueryTimeout { seconds: u64, cancelled: Cancelled },
    /// Rows had started to arrive, then none came for `stall_timeout` seconds (a server or
    /// network that stopped sending mid-result).
    #[error(
        "The database stopped sending rows: none arrived for {seconds} s after row {rows} (stall_timeout){}. Check the database server and the network to it, or raise stall_timeout in the job file.",
        cancelled.clause()
    )]
    Stalled {
        seconds: u64,
        rows: usize,
        cancelled: Cancelled,
    },
}

/// What became of a query stopped by `query_timeout` or `stall_timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// The server stopped it: its own limit (`statement_timeout`, `max_statement_time`) or
    /// the agent's `pg_terminate_backend` / `KILL CONNECTION` from a second connection.
    OnServer,
    /// SQLite: interrupted inside this process.
    Interrupted,
    /// SQL Server: the agent closed the connection; the server ends the request when it sees
    /// the connection closed (the agent cannot cancel it from a second connection).
    ConnectionClosed,
    /// The agent closed the connection but could not cancel the query on the server: the
    /// reason (never a secret). The query may still run there until the server ends it.
    NotCancelled(String),
}

impl Cancelled {
    fn clause(&self) -> String {
        match self {
            Cancelled::OnServer => "; it was cancelled on the database server".into(),
            Cancelled::Interrupted => "; it was interrupted".into(),
            Cancelled::ConnectionClosed => {
                "; the connection was closed, which makes SQL Server stop it".into()
            }
            Cancelled::NotCancelled(why) => format!(
                "; the connection was closed but cancelling the query on the database server failed ({why}), so it may still be running there"
            ),
        }
    }
}

/// Why a bounded wait ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// `query_timeout`: the whole fetch took too long.
    Query,
    /// `stall_timeout`: no row for too long after the first one.
    Stall,
}

/// How a bounded read of a result ended, when it did not end well.
#[derive(Debug)]
pub(crate) enum Stop {
    /// An error to report as it is (the query's connection is simply dropped).
    Failed(SourceError),
    /// A client-side bound expired: the query must be stopped on the server.
    Expired(Expired),
    /// The server ended the query itself on its `query_timeout` limit.
    ServerTimeout,
}

impl From<SourceError> for Stop {
    fn from(e: SourceError) -> Self {
        Stop::Failed(e)
    }
}

/// The client-side bounds of one fetch: a deadline on the whole fetch (`query_timeout`,
/// plus [`SERVER_GRACE`] when the server enforces it too) and, once rows arrive, a bound on
/// the wait for each next row (`stall_timeout`).
#[derive(Debug)]
pub(crate) struct Bound {
    timeouts: QueryTimeouts,
    deadline: Option<Instant>,
    rows: usize,
}

impl Bound {
    /// Start the clock (call it right before sending the query). `grace`: extra time when
    /// the server enforces `query_timeout` itself.
    pub(crate) fn start(timeouts: &QueryTimeouts, grace: Duration) -> Bound {
        Bound {
            timeouts: *timeouts,
            deadline: (timeouts.query > 0)
                .then(|| Instant::now() + Duration::from_secs(timeouts.query) + grace),
            rows: 0,
        }
    }

    /// Wait for `fut` (the query's first answer, or the next row) within the bounds.
    pub(crate) async fn wait<T>(&self, fut: impl Future<Output = T>) -> Result<T, Expired> {
        let stall = (self.rows > 0 && self.timeouts.stall > 0)
            .then(|| Instant::now() + Duration::from_secs(self.timeouts.stall));
        let (until, which) = match (self.deadline, stall) {
            (Some(d), Some(s)) if s < d => (s, Expired::Stall),
            (Some(d), _) => (d, Expired::Query),
            (None, Some(s)) => (s, Expired::Stall),
            (None, None) => return Ok(fut.await),
        };
        tokio::time::timeout_at(until, fut).await.map_err(|_| which)
    }

    /// A row arrived.
    pub(crate) fn row(&mut self) {
        self.rows += 1;
    }

    /// The error of an expired wait.
    pub(crate) fn error(&self, expired: Expired, cancelled: Cancelled) -> SourceError {
        match expired {
            Expired::Query => self.query_timeout(cancelled),
            Expired::Stall => SourceError::Stalled {
                seconds: self.timeouts.stall,
                rows: self.rows,
                cancelled,
            },
        }
    }

    /// The error of a query stopped by `query_timeout` (the server's limit or ours).
    pub(crate) fn query_timeout(&self, cancelled: Cancelled) -> SourceError {
        SourceError::QueryTimeout {
            seconds: self.timeouts.query,
            cancelled,
        }
    }
}

fn connect_message(target: &str, message: &str, hint: Option<&str>) -> String {
    let mut out = format!("Unable to connect to the database ({target}): {message}");
    if let Some(hint) = hint {
        if !out.ends_with('.') {
            out.push('.');
        }
        out.push(' ');
        out.push_str(hint);
    }
    out
}

/// Hint for a refused / unreachable server.
pub(crate) const HINT_HOST: &str =
    "Check database_host/database_port and that the server is running.";
/// Hint for a rejected login.
pub(crate) const HINT_AUTH: &str = "Check database_username/database_password.";
/// Hint for a database that does not exist.
pub(crate) const HINT_DATABASE: &str = "Check database_name.";

impl SourceError {
    /// A connection error for `db`, with the password (if any) scrubbed from the message.
    pub(crate) fn connect(db: &DatabaseConfig, message: String, hint: Option<&str>) -> Self {
        SourceError::Connect {
            target: db.describe(),
            message: scrub(db, message),
            hint: hint.map(str::to_string),
        }
    }

    /// A query error, with the password (if any) scrubbed from the message.
    pub(crate) fn query(db: &DatabaseConfig, message: String) -> Self {
        SourceError::Query {
            message: scrub(db, message),
        }
    }
}

/// Remove the password from a driver message, should a driver ever echo it.
pub(crate) fn scrub(db: &DatabaseConfig, message: String) -> String {
    match &db.password {
        Some(pw) if pw.expose().len() >= 3 && message.contains(pw.expose()) => {
            message.replace(pw.expose(), "<redacted>")
        }
        _ => message,
    }
}

/// Connect to the database and run `SELECT 1`.
pub async fn test_connection(db: &DatabaseConfig) -> Result<(), SourceError> {
    match db.driver {
        Driver::Mssql => mssql::test_connection(db).await,
        Driver::Postgres | Driver::Mysql | Driver::Sqlite => sql::test_connection(db).await,
    }
}

/// Run `query` and return its rows mapped to the JSON the original agent sent
/// (see `docs/type-mapping.md`). `limit`: stop after that many rows (wizard preview);
/// `None`: all rows. A result without rows keeps its columns where the driver can describe
/// the query. The default `query_timeout` and `stall_timeout` apply
/// ([`QueryTimeouts::default`]).
pub async fn fetch(
    db: &DatabaseConfig,
    query: &str,
    limit: Option<usize>,
) -> Result<Table, SourceError> {
    fetch_with_timeouts(db, query, limit, &QueryTimeouts::default()).await
}

/// [`fetch`] within `timeouts`: a query running longer than `query_timeout`, or a result
/// whose next row does not come within `stall_timeout`, fails with
/// [`SourceError::QueryTimeout`] / [`SourceError::Stalled`] after the query was stopped on
/// the server where the driver allows it (see `docs/safety.md`).
pub async fn fetch_with_timeouts(
    db: &DatabaseConfig,
    query: &str,
    limit: Option<usize>,
    timeouts: &QueryTimeouts,
) -> Result<Table, SourceError> {
    match db.driver {
        Driver::Mssql => mssql::fetch(db, query, limit, timeouts).await,
        Driver::Postgres | Driver::Mysql | Driver::Sqlite => {
            sql::fetch(db, query, limit, timeouts).await
        }
    }
}

/// Fetch the rows of a push source.
pub async fn fetch_source(source: &crate::config::PushSource) -> Result<Table, SourceError> {
    use crate::config::PushSource;
    match source {
        PushSource::Sql {
            connection,
            query,
            timeouts,
        } => fetch_with_timeouts(&connection.config, query, None, timeouts).await,
        PushSource::Http(h) => http::fetch(h).await,
        PushSource::Json(j) => file::fetch_json(j),
        PushSource::Csv(c) => file::fetch_csv(c),
        PushSource::Rows(rows) => records::table_from_records(
            rows.iter()
                .cloned()
                .map(serde_json::Value::Object)
                .collect(),
            "the inline `rows`",
        )
        .map_err(|message| SourceError::Config { message }),
    }
}

/// Compile-time check: the futures are `Send` (the scheduler spawns them on tokio).
#[allow(dead_code)]
fn assert_futures_are_send(db: &DatabaseConfig) {
    fn is_send<T: Send>(_: &T) {}
    is_send(&fetch(db, "", None));
    is_send(&fetch_with_timeouts(db, "", None, &QueryTimeouts::NONE));
    is_send(&test_connection(db));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_messages_name_the_key_and_the_fix() {
        let e = SourceError::QueryTimeout {
            seconds: 300,
            cancelled: Cancelled::OnServer,
        };
        assert_eq!(
            e.to_string(),
            "The query did not finish within 300 s (query_timeout); it was cancelled on the database server. Make the query faster or raise query_timeout in the job file."
        );
        let e = SourceError::Stalled {
            seconds: 60,
            rows: 5213,
            cancelled: Cancelled::NotCancelled("no answer within 10 seconds".into()),
        };
        assert_eq!(
            e.to_string(),
            "The database stopped sending rows: none arrived for 60 s after row 5213 (stall_timeout); the connection was closed but cancelling the query on the database server failed (no answer within 10 seconds), so it may still be running there. Check the database server and the network to it, or raise stall_timeout in the job file."
        );
        let e = SourceError::QueryTimeout {
            seconds: 5,
            cancelled: Cancelled::ConnectionClosed,
        };
        assert!(e.to_string().contains(
            "(query_timeout); the connection was closed, which makes SQL Server stop it."
        ));
    }

    #[tokio::test]
    async fn the_whole_fetch_is_bounded_and_the_stall_bound_starts_with_the_first_row() {
        let never = std::future::pending::<()>;
        // query_timeout alone.
        let b = Bound::start(&QueryTimeouts { query: 1, stall: 0 }, Duration::ZERO);
        assert_eq!(b.wait(never()).await, Err(Expired::Query));
        // stall_timeout only counts once a row has arrived: a slow first row is fine.
        let mut b = Bound::start(&QueryTimeouts { query: 0, stall: 1 }, Duration::ZERO);
        let slow = tokio::time::sleep(Duration::from_millis(1300));
        assert_eq!(b.wait(slow).await, Ok(()));
        b.row();
        assert_eq!(b.wait(never()).await, Err(Expired::Stall));
        assert!(matches!(
            b.error(Expired::Stall, Cancelled::OnServer),
            SourceError::Stalled {
                seconds: 1,
                rows: 1,
                ..
            }
        ));
        // The whole-fetch deadline wins when it comes first.
        let mut b = Bound::start(
            &QueryTimeouts {
                query: 1,
                stall: 60,
            },
            Duration::ZERO,
        );
        b.row();
        assert_eq!(b.wait(never()).await, Err(Expired::Query));
        // No limits: nothing expires.
        let b = Bound::start(&QueryTimeouts::NONE, Duration::ZERO);
        assert_eq!(b.wait(async { 7 }).await, Ok(7));
    }
}
