//! SQL sources, one file a driver: PostgreSQL (`postgres.rs`) and SQLite (`sqlite.rs`)
//! through sqlx, MySQL/MariaDB (`mysql.rs`) through mysql_async, SQL Server (`mssql.rs`)
//! through tiberius. Each maps every column to the JSON value the original agent sent (see
//! `docs/type-mapping.md`).
//!
//! This module is the one place that picks a driver ([`fetch`], [`test_connection`]), and it
//! holds what every driver shares: the steps of a fetch ([`fetch_on`]) and the one read loop
//! ([`read_rows`]), bounded by `query_timeout` and `stall_timeout` ([`Bound`]). A driver only
//! says how it connects and prepares its session, how its result yields rows and converts
//! them ([`Rows`]), and how it stops a query the agent gave up on ([`Session`]).

pub mod mssql;
pub mod mysql;
pub mod postgres;
pub mod sqlite;

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{
    CANCEL_TIMEOUT, CONNECT_TIMEOUT, Cancelled, Column, HINT_AUTH, HINT_DATABASE, HINT_HOST,
    QueryTimeouts, SERVER_GRACE, SourceError, Table,
};
use crate::config::{DatabaseConfig, Driver};

// ---------------------------------------------------------------------------------------------
// The one dispatch

/// Connect and run `SELECT 1`.
pub async fn test_connection(db: &DatabaseConfig) -> Result<(), SourceError> {
    on_driver(db, Request::Test).await.map(drop)
}

/// Run `query` within `timeouts` and map its rows (see [`super::fetch_with_timeouts`]).
pub async fn fetch(
    db: &DatabaseConfig,
    query: &str,
    limit: Option<usize>,
    timeouts: &QueryTimeouts,
) -> Result<Table, SourceError> {
    on_driver(
        db,
        Request::Fetch {
            query,
            limit,
            timeouts,
        },
    )
    .await
}

/// What to do on a database.
enum Request<'a> {
    /// Run `query` within `timeouts`, keeping at most `limit` rows.
    Fetch {
        query: &'a str,
        limit: Option<usize>,
        timeouts: &'a QueryTimeouts,
    },
    /// Connect and run `SELECT 1` (the rows are not kept).
    Test,
}

/// Serve `request` with the driver of `db`: the only `match` on the driver.
async fn on_driver(db: &DatabaseConfig, request: Request<'_>) -> Result<Table, SourceError> {
    match db.driver {
        Driver::Postgres => serve::<postgres::PgSession>(db, request).await,
        Driver::Mysql => serve::<mysql::MySession>(db, request).await,
        Driver::Sqlite => serve::<sqlite::SqliteSession>(db, request).await,
        Driver::Mssql => serve::<mssql::MssqlSession>(db, request).await,
    }
}

async fn serve<S: Session>(
    db: &DatabaseConfig,
    request: Request<'_>,
) -> Result<Table, SourceError> {
    match request {
        Request::Fetch {
            query,
            limit,
            timeouts,
        } => fetch_on::<S>(db, query, limit, timeouts).await,
        Request::Test => S::test(db).await.map(|()| Table::default()),
    }
}

// ---------------------------------------------------------------------------------------------
// What a driver provides

/// A driver's connection, as [`fetch_on`] drives it.
trait Session: Sized + Send {
    /// What stopping the query on the server needs (a backend, a connection id), found by
    /// [`Session::prepare`].
    type QueryId: Send;

    /// Connect, within [`CONNECT_TIMEOUT`] (see [`connect_within`]).
    fn connect(db: &DatabaseConfig) -> impl Future<Output = Result<Self, SourceError>> + Send;

    /// Connect and run `SELECT 1`: by default, a fetch of it.
    fn test(db: &DatabaseConfig) -> impl Future<Output = Result<(), SourceError>> + Send {
        async move {
            fetch_on::<Self>(db, "SELECT 1", None, &QueryTimeouts::default())
                .await
                .map(drop)
        }
    }

    /// Prepare the session for `timeouts`: the server-side limit where there is one, and
    /// what stopping the query needs. The flag: the server enforces `query_timeout` itself.
    fn prepare(
        &mut self,
        db: &DatabaseConfig,
        timeouts: &QueryTimeouts,
    ) -> impl Future<Output = Result<(Self::QueryId, bool), SourceError>> + Send;

    /// Read the result of `query` into `reading` (with [`read_rows`]). `Ok(complete)`: false
    /// when the row limit (or a second result set) stopped it.
    fn read<'a>(
        &'a mut self,
        db: &'a DatabaseConfig,
        query: &'a str,
        reading: &'a mut Reading,
    ) -> impl Future<Output = Result<bool, Stop>> + Send + 'a;

    /// Close the connection after a complete read.
    fn close(self) -> impl Future<Output = ()> + Send;

    /// Close the connection of a query the server ended on its own `query_timeout` limit;
    /// what became of the query.
    fn ended_by_server(self) -> impl Future<Output = Cancelled> + Send;

    /// Close the connection of a query whose bound expired (never reuse a connection in an
    /// unknown state) and stop the query on the server where the driver can.
    fn stop(
        self,
        db: &DatabaseConfig,
        query: Self::QueryId,
    ) -> impl Future<Output = Cancelled> + Send;
}

/// An item of a driver's result.
enum Item<R> {
    /// The columns, when the driver sends them before the rows (SQL Server).
    Columns(Vec<Column>),
    Row(R),
    /// A second result set begins: only the first one is read (SQL Server).
    NextResult,
}

/// A driver's result, as [`read_rows`] reads it.
trait Rows: Send {
    type Row: Send;

    /// The next item; `None` at the end of the result. ([`read_rows`] bounds the wait.)
    fn next(&mut self) -> impl Future<Output = Result<Option<Item<Self::Row>>, Stop>> + Send;

    /// The columns, from the first row, for drivers whose rows describe themselves (the
    /// others send them before the rows: [`Item::Columns`], or set before the read).
    fn columns(&mut self, _first: &Self::Row) -> Vec<Column> {
        Vec::new()
    }

    /// A row as the JSON values of its columns.
    fn values(&self, row: Self::Row) -> Result<Vec<Value>, SourceError>;
}

// ---------------------------------------------------------------------------------------------
// The bounded read, shared by every driver

/// Run `query` with driver `S` within `timeouts` and map its rows: connect, prepare the
/// session, start the clock, read; then close the connection, or stop the query and say
/// what became of it.
async fn fetch_on<S: Session>(
    db: &DatabaseConfig,
    query: &str,
    limit: Option<usize>,
    timeouts: &QueryTimeouts,
) -> Result<Table, SourceError> {
    let mut session = S::connect(db).await?;
    let (id, server_limit) = session.prepare(db, timeouts).await?;
    let mut reading = Reading::new(Bound::start(timeouts, grace(server_limit)), limit);
    match session.read(db, query, &mut reading).await {
        Ok(true) => session.close().await,
        // A limited read (preview): the rest of the result is dropped with the connection.
        Ok(false) => drop(session),
        Err(Stop::Failed(e)) => return Err(e),
        Err(Stop::ServerTimeout) => {
            let cancelled = session.ended_by_server().await;
            return Err(reading.bound.query_timeout(cancelled));
        }
        Err(Stop::Expired(which)) => {
            let cancelled = session.stop(db, id).await;
            return Err(reading.bound.error(which, cancelled));
        }
    }
    Ok(reading.table)
}

/// A result being read: its bounds, its row limit, and the columns and rows so far.
struct Reading {
    bound: Bound,
    limit: Option<usize>,
    table: Table,
}

impl Reading {
    fn new(bound: Bound, limit: Option<usize>) -> Reading {
        Reading {
            bound,
            limit,
            table: Table {
                columns: Vec::new(),
                rows: Vec::with_capacity(limit.unwrap_or(1024).min(1024)),
            },
        }
    }

    /// `limit` rows are kept: no more are.
    fn full(&self) -> bool {
        self.limit.is_some_and(|l| self.table.rows.len() >= l)
    }
}

/// Read `rows` into `reading` within its bound. `Ok(complete)`: false when the row limit or
/// a second result set stopped it.
async fn read_rows<R: Rows>(rows: &mut R, reading: &mut Reading) -> Result<bool, Stop> {
    loop {
        // Once the columns are known, never wait for a row that would not be kept.
        if !reading.table.columns.is_empty() && reading.full() {
            return Ok(false);
        }
        let next = reading
            .bound
            .wait(rows.next())
            .await
            .map_err(Stop::Expired)??;
        match next {
            None => return Ok(true),
            Some(Item::Columns(columns)) => reading.table.columns = columns,
            Some(Item::NextResult) => return Ok(false),
            Some(Item::Row(row)) => {
                reading.bound.row();
                if reading.table.columns.is_empty() {
                    reading.table.columns = rows.columns(&row);
                }
                if reading.full() {
                    return Ok(false);
                }
                let values = rows.values(row)?;
                reading.table.rows.push(values);
            }
        }
    }
}

/// Why a bounded wait ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    /// `query_timeout`: the whole fetch took too long.
    Query,
    /// `stall_timeout`: no row for too long after the first one.
    Stall,
}

/// How a bounded read of a result ended, when it did not end well.
#[derive(Debug)]
enum Stop {
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
struct Bound {
    timeouts: QueryTimeouts,
    deadline: Option<Instant>,
    rows: usize,
}

impl Bound {
    /// Start the clock (call it right before sending the query). `grace`: extra time when
    /// the server enforces `query_timeout` itself.
    fn start(timeouts: &QueryTimeouts, grace: Duration) -> Bound {
        Bound {
            timeouts: *timeouts,
            deadline: (timeouts.query > 0)
                .then(|| Instant::now() + Duration::from_secs(timeouts.query) + grace),
            rows: 0,
        }
    }

    /// Wait for `fut` (the query's first answer, or the next row) within the bounds.
    async fn wait<T>(&self, fut: impl Future<Output = T>) -> Result<T, Expired> {
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

    /// [`Bound::wait`] for a fallible `fut`, its error worded by `error`.
    async fn wait_for<T, E>(
        &self,
        fut: impl Future<Output = Result<T, E>>,
        error: impl FnOnce(E) -> Stop,
    ) -> Result<T, Stop> {
        self.wait(fut).await.map_err(Stop::Expired)?.map_err(error)
    }

    /// A row arrived.
    fn row(&mut self) {
        self.rows += 1;
    }

    /// The error of an expired wait.
    fn error(&self, expired: Expired, cancelled: Cancelled) -> SourceError {
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
    fn query_timeout(&self, cancelled: Cancelled) -> SourceError {
        SourceError::QueryTimeout {
            seconds: self.timeouts.query,
            cancelled,
        }
    }
}

/// The grace of the client-side deadline when the server enforces `query_timeout` itself.
fn grace(server_limit: bool) -> Duration {
    if server_limit {
        SERVER_GRACE
    } else {
        Duration::ZERO
    }
}

// ---------------------------------------------------------------------------------------------
// Connections, sessions, cancels

/// `connect` within [`CONNECT_TIMEOUT`]; its error worded by `error`.
async fn connect_within<C, E>(
    db: &DatabaseConfig,
    connect: impl Future<Output = Result<C, E>>,
    error: impl FnOnce(&DatabaseConfig, E) -> SourceError,
) -> Result<C, SourceError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(error(db, e)),
        Err(_) => Err(SourceError::connect(
            db,
            format!("no answer within {} seconds", CONNECT_TIMEOUT.as_secs()),
            Some(HINT_HOST),
        )),
    }
}

/// The session setup `work` within [`CONNECT_TIMEOUT`].
async fn setup_within<T>(
    db: &DatabaseConfig,
    work: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, work).await {
        Ok(result) => result,
        Err(_) => Err(SourceError::connect(
            db,
            format!(
                "no answer to the session setup within {} seconds",
                CONNECT_TIMEOUT.as_secs()
            ),
            Some(HINT_HOST),
        )),
    }
}

/// Stop a query from a second connection (`attempt`), within [`CANCEL_TIMEOUT`].
async fn cancel_within(attempt: impl Future<Output = Result<(), SourceError>>) -> Cancelled {
    match tokio::time::timeout(CANCEL_TIMEOUT, attempt).await {
        Ok(Ok(())) => Cancelled::OnServer,
        Ok(Err(e)) => Cancelled::NotCancelled(e.to_string()),
        Err(_) => Cancelled::NotCancelled(format!(
            "no answer within {} seconds",
            CANCEL_TIMEOUT.as_secs()
        )),
    }
}

fn host(db: &DatabaseConfig) -> &str {
    db.host.as_deref().unwrap_or("localhost")
}

fn port(db: &DatabaseConfig) -> u16 {
    db.port.or(db.driver.default_port()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// sqlx (PostgreSQL and SQLite)

/// Columns as sqlx describes them (a row's, or a statement's), with the driver's type names.
fn sqlx_columns<C: sqlx::Column>(
    columns: &[C],
    type_name: impl Fn(&<C::Database as sqlx::Database>::TypeInfo) -> String,
) -> Vec<Column> {
    columns
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            type_name: type_name(c.type_info()),
        })
        .collect()
}

/// A result without rows: its columns as the server describes the statement (single
/// statements only; a statement it cannot describe keeps none).
async fn sqlx_describe<DB: sqlx::Database>(
    reading: &mut Reading,
    describe: impl Future<Output = Result<sqlx::Describe<DB>, sqlx::Error>>,
    type_name: impl Fn(&DB::TypeInfo) -> String,
) -> Result<(), Stop> {
    if let Ok(desc) = reading.bound.wait(describe).await.map_err(Stop::Expired)? {
        reading.table.columns = sqlx_columns(desc.columns(), type_name);
    }
    Ok(())
}

fn sqlx_connect_error(db: &DatabaseConfig, e: sqlx::Error) -> SourceError {
    match &e {
        sqlx::Error::Io(io) => SourceError::connect(db, io.to_string(), Some(HINT_HOST)),
        sqlx::Error::Database(d) => {
            let message = d.message().to_string();
            let code = d.code().map(|c| c.to_string()).unwrap_or_default();
            let lower = message.to_lowercase();
            let hint = if matches!(code.as_str(), "28P01" | "28000")
                || lower.contains("access denied")
                || lower.contains("authentication failed")
            {
                Some(HINT_AUTH)
            } else if code == "3D000"
                || lower.contains("unknown database")
                || (lower.contains("database") && lower.contains("does not exist"))
            {
                Some(HINT_DATABASE)
            } else {
                None
            };
            SourceError::connect(db, message, hint)
        }
        sqlx::Error::Tls(t) => SourceError::connect(db, format!("TLS error: {t}"), None),
        _ => SourceError::connect(db, e.to_string(), None),
    }
}

fn sqlx_query_error(db: &DatabaseConfig, e: sqlx::Error) -> SourceError {
    match &e {
        sqlx::Error::Database(d) => SourceError::query(db, d.message().to_string()),
        _ => SourceError::query(db, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
