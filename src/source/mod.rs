//! Sources of rows. SQL sources (`sql/`, one file a driver) read through each database's own
//! driver types and map every column to the JSON value the original agent sent (see README
//! "SQL type mapping").

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
pub mod records;
pub mod sql;

use std::time::Duration;

use crate::config::DatabaseConfig;
pub use crate::config::QueryTimeouts;

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
    sql::test_connection(db).await
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
    sql::fetch(db, query, limit, timeouts).await
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
}
