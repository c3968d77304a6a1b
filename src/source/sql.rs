//! PostgreSQL, MySQL/MariaDB and SQLite sources through sqlx's own drivers.
//!
//! PostgreSQL and MySQL queries run through the simple/text protocol (`sqlx::raw_sql`), so
//! every value arrives in the database's own text form — exactly what node-pg and mysql2
//! (the original agent's drivers) parsed. Each column's converter is chosen once from its
//! type info; the per-row work is a `match` on that converter. See `docs/type-mapping.md`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use futures::future::BoxFuture;
use mysql_async::consts::ColumnType as MyType;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgTypeInfo, PgTypeKind};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Column as _, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};

use super::convert;
use super::{
    Bound, CANCEL_TIMEOUT, CONNECT_TIMEOUT, Cancelled, Column, HINT_AUTH, HINT_DATABASE, HINT_HOST,
    QueryTimeouts, SERVER_GRACE, SourceError, Stop, Table,
};
use crate::config::{DatabaseConfig, Driver};

/// Connect and run `SELECT 1`.
pub async fn test_connection(db: &DatabaseConfig) -> Result<(), SourceError> {
    match db.driver {
        Driver::Postgres => {
            let conn = connect_pg(db).await?;
            fetch_pg(db, conn, "SELECT 1", None, &QueryTimeouts::default()).await?;
        }
        Driver::Mysql => test_mysql(db).await?,
        Driver::Sqlite => {
            let conn = connect_sqlite(db).await?;
            fetch_sqlite(db, conn, "SELECT 1", None, &QueryTimeouts::default()).await?;
        }
        Driver::Mssql => super::mssql::test_connection(db).await?,
    }
    Ok(())
}

/// Run `query` within `timeouts` and map its rows (see [`super::fetch_with_timeouts`]).
pub async fn fetch(
    db: &DatabaseConfig,
    query: &str,
    limit: Option<usize>,
    timeouts: &QueryTimeouts,
) -> Result<Table, SourceError> {
    match db.driver {
        Driver::Postgres => {
            let conn = connect_pg(db).await?;
            fetch_pg(db, conn, query, limit, timeouts).await
        }
        Driver::Mysql => {
            let conn = connect_mysql(db).await?;
            fetch_mysql(db, conn, query, limit, timeouts).await
        }
        Driver::Sqlite => {
            let conn = connect_sqlite(db).await?;
            fetch_sqlite(db, conn, query, limit, timeouts).await
        }
        Driver::Mssql => super::mssql::fetch(db, query, limit, timeouts).await,
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

/// `Cancelled` from the outcome of a bounded cancel attempt.
fn cancel_outcome(
    attempt: Result<Result<(), SourceError>, tokio::time::error::Elapsed>,
) -> Cancelled {
    match attempt {
        Ok(Ok(())) => Cancelled::OnServer,
        Ok(Err(e)) => Cancelled::NotCancelled(e.to_string()),
        Err(_) => Cancelled::NotCancelled(format!(
            "no answer within {} seconds",
            CANCEL_TIMEOUT.as_secs()
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Connections and errors

async fn with_timeout<C>(
    db: &DatabaseConfig,
    fut: impl Future<Output = Result<C, sqlx::Error>>,
) -> Result<C, SourceError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, fut).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_error(db, e)),
        Err(_) => Err(SourceError::connect(
            db,
            format!("no answer within {} seconds", CONNECT_TIMEOUT.as_secs()),
            Some(HINT_HOST),
        )),
    }
}

fn host(db: &DatabaseConfig) -> &str {
    db.host.as_deref().unwrap_or("localhost")
}

fn port(db: &DatabaseConfig) -> u16 {
    db.port.or(db.driver.default_port()).unwrap_or_default()
}

pub(crate) async fn connect_pg(db: &DatabaseConfig) -> Result<PgConnection, SourceError> {
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(host(db))
        .port(port(db))
        .application_name("fliplet-agent")
        // The text forms the converters parse (these are PostgreSQL's defaults).
        .options([("IntervalStyle", "postgres"), ("bytea_output", "hex")]);
    if let Some(user) = &db.username {
        opts = opts.username(user);
    }
    if let Some(pw) = &db.password {
        opts = opts.password(pw.expose());
    }
    if let Some(name) = &db.database {
        opts = opts.database(name);
    }
    with_timeout(db, opts.connect()).await
}

/// The SQLite file: `database_name`, or `database_host` as the original's users set it.
fn sqlite_path(db: &DatabaseConfig) -> Result<&str, SourceError> {
    db.database
        .as_deref()
        .or(db.host.as_deref())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| SourceError::Config {
            message: "SQLite needs database_name: the path of the database file".to_string(),
        })
}

async fn connect_sqlite(db: &DatabaseConfig) -> Result<SqliteConnection, SourceError> {
    let path = sqlite_path(db)?;
    if !Path::new(path).is_file() {
        return Err(SourceError::Connect {
            target: db.describe(),
            message: format!("no SQLite database file at {path}"),
            hint: Some("Check database_name: the path of the SQLite file.".to_string()),
        });
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    with_timeout(db, opts.connect()).await
}

/// A writable connection to an existing SQLite file (pull into a table).
pub(crate) async fn connect_sqlite_rw(
    db: &DatabaseConfig,
) -> Result<SqliteConnection, SourceError> {
    let path = sqlite_path(db)?;
    if !Path::new(path).is_file() {
        return Err(SourceError::Connect {
            target: db.describe(),
            message: format!("no SQLite database file at {path}"),
            hint: Some(
                "Check the `name` of the connection: the path of the SQLite file.".to_string(),
            ),
        });
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(10))
        .create_if_missing(false);
    with_timeout(db, opts.connect()).await
}

fn connect_error(db: &DatabaseConfig, e: sqlx::Error) -> SourceError {
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

fn query_error(db: &DatabaseConfig, e: sqlx::Error) -> SourceError {
    match &e {
        sqlx::Error::Database(d) => SourceError::query(db, d.message().to_string()),
        _ => SourceError::query(db, e.to_string()),
    }
}

fn capacity(limit: Option<usize>) -> usize {
    limit.unwrap_or(1024).min(1024)
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// How a PostgreSQL column's text is turned into JSON (chosen once per column).
#[derive(Debug, Clone, PartialEq)]
enum PgConv {
    /// Text as-is: text, varchar, char(n) (padded), name, int8, numeric (column scale kept),
    /// date, time, uuid, enums, domains, money, inet, ... (node-pg's default: the string).
    Text,
    Bool,
    /// int2, int4, oid.
    Int,
    /// float4, float8; also numeric *array elements* (node-pg's parseFloatArray).
    Float,
    Timestamp,
    TimestampTz,
    Json,
    Bytea,
    Interval,
    Array(Box<PgConv>),
}

fn pg_conv(ti: &PgTypeInfo) -> PgConv {
    if let PgTypeKind::Array(elem) = ti.kind() {
        let elem = match elem.oid().map(|o| o.0) {
            Some(1700) => PgConv::Float,
            _ => pg_conv(elem),
        };
        return PgConv::Array(Box::new(elem));
    }
    match ti.oid().map(|o| o.0) {
        Some(16) => PgConv::Bool,
        Some(21 | 23 | 26) => PgConv::Int,
        Some(700 | 701) => PgConv::Float,
        Some(1114) => PgConv::Timestamp,
        Some(1184) => PgConv::TimestampTz,
        Some(114 | 3802) => PgConv::Json,
        Some(17) => PgConv::Bytea,
        Some(1186) => PgConv::Interval,
        _ => PgConv::Text,
    }
}

fn pg_apply(conv: &PgConv, s: &str) -> Value {
    match conv {
        PgConv::Text => Value::String(s.to_string()),
        PgConv::Bool => Value::Bool(s == "t"),
        PgConv::Int => convert::parse_int(s),
        PgConv::Float => convert::parse_float(s),
        PgConv::Timestamp => convert::pg_timestamp_local(s),
        PgConv::TimestampTz => convert::pg_timestamptz(s),
        PgConv::Json => convert::parse_json(s),
        PgConv::Bytea => convert::pg_bytea(s),
        PgConv::Interval => convert::pg_interval(s),
        PgConv::Array(elem) => convert::pg_array(s, &|e| pg_apply(elem, e))
            .unwrap_or_else(|| Value::String(s.to_string())),
    }
}

fn pg_type_name(ti: &PgTypeInfo) -> String {
    let name = ti.name();
    if name.is_empty() {
        ti.oid().map(|o| format!("oid {}", o.0)).unwrap_or_default()
    } else {
        name.to_string()
    }
}

/// The server process running a query's session, to stop it from a second connection.
#[derive(Debug, Clone)]
struct PgBackend {
    /// `pg_backend_pid()`.
    pid: i32,
    /// Its `backend_start` (text), so that a reused pid is never stopped.
    started: Option<String>,
}

/// Prepare the query's session: `statement_timeout` (when `query_timeout` is set), the
/// check for a vanished client (PostgreSQL 14+, so that a killed agent's query ends too),
/// and the backend's pid. Returns the backend and whether the server enforces the limit.
async fn pg_prepare(
    db: &DatabaseConfig,
    conn: &mut PgConnection,
    timeouts: &QueryTimeouts,
) -> Result<(PgBackend, bool), SourceError> {
    let server_limit = timeouts.query > 0;
    let mut setup = String::new();
    if server_limit {
        setup.push_str(&format!(
            "SET statement_timeout = {}; ",
            timeouts.query * 1000
        ));
    }
    setup.push_str(
        "SELECT pg_backend_pid()::text, \
         (SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid())",
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, pg_setup(db, conn, &setup)).await {
        Ok(Ok(backend)) => Ok((backend, server_limit)),
        Ok(Err(e)) => Err(e),
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

/// Run `setup` (ending with the backend's pid and start) and the best-effort settings.
fn pg_setup<'a>(
    db: &'a DatabaseConfig,
    conn: &'a mut PgConnection,
    setup: &'a str,
) -> BoxFuture<'a, Result<PgBackend, SourceError>> {
    Box::pin(async move {
        // (`Executor`'s boxed futures: sqlx's `RawSql::fetch_all` is not `Send` here.)
        let rows = Executor::fetch_all(&mut *conn, sqlx::raw_sql(setup))
            .await
            .map_err(|e| query_error(db, e))?;
        let row = rows.first().ok_or_else(|| {
            SourceError::query(db, "the server did not return its process id".into())
        })?;
        let pid: Option<&str> = row.try_get_unchecked(0).map_err(|e| query_error(db, e))?;
        let started: Option<&str> = row.try_get_unchecked(1).map_err(|e| query_error(db, e))?;
        let pid = pid
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| SourceError::query(db, "the server returned no process id".into()))?;
        let backend = PgBackend {
            pid,
            started: started.map(str::to_string),
        };
        if conn.server_version_num().is_some_and(|v| v >= 140_000) {
            // Best effort: not every platform supports it (the setting then fails).
            let _ = Executor::execute(
                &mut *conn,
                sqlx::raw_sql("SET client_connection_check_interval = 5000"),
            )
            .await;
        }
        Ok(backend)
    })
}

/// Stop the backend of a timed-out query from a second connection: `pg_terminate_backend`
/// ends the query and its session (unlike `pg_cancel_backend`, it also works while the
/// backend is blocked writing to a client that stopped reading).
fn pg_stop<'a>(db: &'a DatabaseConfig, backend: &'a PgBackend) -> BoxFuture<'a, Cancelled> {
    Box::pin(pg_stop_inner(db, backend))
}

async fn pg_stop_inner(db: &DatabaseConfig, backend: &PgBackend) -> Cancelled {
    let attempt = async {
        let mut conn = connect_pg(db).await?;
        let result = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid = $1 AND ($2::text IS NULL OR backend_start::text = $2)",
        )
        .bind(backend.pid)
        .bind(backend.started.as_deref())
        .fetch_optional(&mut conn)
        .await;
        let _ = conn.close().await;
        // No row, or `false`: the backend is already gone.
        result.map(|_| ()).map_err(|e| query_error(db, e))
    };
    let outcome = cancel_outcome(tokio::time::timeout(CANCEL_TIMEOUT, attempt).await);
    match &outcome {
        Cancelled::OnServer => tracing::debug!(
            "Stopped the query's PostgreSQL backend (pid {}).",
            backend.pid
        ),
        _ => tracing::warn!(
            "Could not stop the query's PostgreSQL backend (pid {}).",
            backend.pid
        ),
    }
    outcome
}

/// A query error, or the server's own `statement_timeout`.
fn pg_stop_error(db: &DatabaseConfig, e: sqlx::Error) -> Stop {
    if let sqlx::Error::Database(d) = &e
        && d.code().as_deref() == Some("57014")
        && d.message().contains("statement timeout")
    {
        return Stop::ServerTimeout;
    }
    Stop::Failed(query_error(db, e))
}

fn fetch_pg<'a>(
    db: &'a DatabaseConfig,
    mut conn: PgConnection,
    query: &'a str,
    limit: Option<usize>,
    timeouts: &'a QueryTimeouts,
) -> BoxFuture<'a, Result<Table, SourceError>> {
    Box::pin(async move {
        let (backend, server_limit) = pg_prepare(db, &mut conn, timeouts).await?;
        let mut bound = Bound::start(timeouts, grace(server_limit));
        let mut table = Table::default();
        let mut rows = Vec::with_capacity(capacity(limit));
        let outcome = read_pg(
            db, &mut conn, query, limit, &mut bound, &mut table, &mut rows,
        )
        .await;
        match outcome {
            Ok(true) => {
                let _ = tokio::time::timeout(CANCEL_TIMEOUT, conn.close()).await;
            }
            // A limited read (preview): the rest of the result is not read.
            Ok(false) => drop(conn),
            Err(Stop::Failed(e)) => return Err(e),
            Err(Stop::ServerTimeout) => {
                let _ = tokio::time::timeout(CANCEL_TIMEOUT, conn.close()).await;
                return Err(bound.query_timeout(Cancelled::OnServer));
            }
            Err(Stop::Expired(which)) => {
                // Never reuse a connection in an unknown state: drop it (closes the socket).
                drop(conn);
                let cancelled = pg_stop(db, &backend).await;
                return Err(bound.error(which, cancelled));
            }
        }
        table.rows = rows;
        Ok(table)
    })
}

/// Read the result of `query` within `bound`. `Ok(complete)`: false when `limit` stopped it.
fn read_pg<'a>(
    db: &'a DatabaseConfig,
    conn: &'a mut PgConnection,
    query: &'a str,
    limit: Option<usize>,
    bound: &'a mut Bound,
    table: &'a mut Table,
    rows: &'a mut Vec<Vec<Value>>,
) -> BoxFuture<'a, Result<bool, Stop>> {
    Box::pin(async move {
        let mut convs: Vec<PgConv> = Vec::new();
        let mut complete = true;
        {
            let mut stream = sqlx::raw_sql(query).fetch(&mut *conn);
            loop {
                let next = bound.wait(stream.try_next()).await.map_err(Stop::Expired)?;
                let Some(row) = next.map_err(|e| pg_stop_error(db, e))? else {
                    break;
                };
                bound.row();
                if table.columns.is_empty() && convs.is_empty() {
                    for c in row.columns() {
                        table.columns.push(Column {
                            name: c.name().to_string(),
                            type_name: pg_type_name(c.type_info()),
                        });
                        convs.push(pg_conv(c.type_info()));
                    }
                }
                if limit.is_some_and(|l| rows.len() >= l) {
                    complete = false;
                    break;
                }
                rows.push(pg_row(db, &row, &convs)?);
            }
        }
        if table.columns.is_empty() {
            // No row: ask the server for the statement's columns (single statements only).
            if let Ok(desc) = bound
                .wait(conn.describe(query))
                .await
                .map_err(Stop::Expired)?
            {
                table.columns = desc
                    .columns()
                    .iter()
                    .map(|c| Column {
                        name: c.name().to_string(),
                        type_name: pg_type_name(c.type_info()),
                    })
                    .collect();
            }
        }
        Ok(complete)
    })
}

fn pg_row(db: &DatabaseConfig, row: &PgRow, convs: &[PgConv]) -> Result<Vec<Value>, SourceError> {
    if row.len() != convs.len() {
        return Err(SourceError::query(
            db,
            "the query returned several result sets with different columns".to_string(),
        ));
    }
    let mut out = Vec::with_capacity(convs.len());
    for (i, conv) in convs.iter().enumerate() {
        let text: Option<&str> = row.try_get_unchecked(i).map_err(|e| query_error(db, e))?;
        out.push(match text {
            Some(s) => pg_apply(conv, s),
            None => Value::Null,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB (mysql_async: its column metadata carries the character set, which is what
// tells binary data from text — sqlx only exposes the BINARY flag, which MariaDB also sets on
// `_bin` collations such as its JSON columns)

/// The binary pseudo character set (`charsetNr === 63` is mysql2's Buffer rule).
const BINARY_CHARSET: u16 = 63;

/// How a MySQL column's text-protocol value is turned into JSON (chosen once per column).
#[derive(Debug, Clone, Copy, PartialEq)]
enum MyConv {
    /// decimal, char/varchar/text (incl. MariaDB's JSON = longtext), json, enum, set, date,
    /// time: the text as-is.
    Text,
    /// tinyint (incl. tinyint(1)), smallint, mediumint, int, year.
    Int,
    /// bigint (signed/unsigned): number when safe, else string.
    BigInt,
    Float,
    /// datetime, timestamp: read as UTC.
    DateTime,
    /// tinyblob..longblob: Buffer, an empty value → null (as measured on the original).
    Blob,
    /// binary, varbinary, bit, geometry: Buffer (empty → `[]`).
    Binary,
}

fn my_conv(ty: MyType, charset: u16) -> MyConv {
    use MyType::*;
    match ty {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_YEAR => MyConv::Int,
        MYSQL_TYPE_LONGLONG => MyConv::BigInt,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => MyConv::Float,
        MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2 => MyConv::DateTime,
        MYSQL_TYPE_BIT | MYSQL_TYPE_GEOMETRY => MyConv::Binary,
        // MySQL's native JSON is reported with the binary charset: the original sent its text.
        MYSQL_TYPE_JSON => MyConv::Text,
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB
            if charset == BINARY_CHARSET =>
        {
            MyConv::Blob
        }
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING
            if charset == BINARY_CHARSET =>
        {
            MyConv::Binary
        }
        _ => MyConv::Text,
    }
}

fn my_type_name(ty: MyType, charset: u16) -> String {
    let name = format!("{ty:?}");
    let name = name
        .strip_prefix("MYSQL_TYPE_")
        .unwrap_or(&name)
        .to_string();
    if charset == BINARY_CHARSET && my_conv(ty, charset) != MyConv::Text {
        match name.as_str() {
            "VAR_STRING" | "VARCHAR" => "VARBINARY".to_string(),
            "STRING" => "BINARY".to_string(),
            _ => name,
        }
    } else {
        match name.as_str() {
            "VAR_STRING" => "VARCHAR".to_string(),
            "STRING" => "CHAR".to_string(),
            _ => name,
        }
    }
}

fn my_text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn my_apply(conv: MyConv, b: &[u8]) -> Value {
    match conv {
        MyConv::Text => Value::String(my_text(b).into_owned()),
        MyConv::Int => convert::parse_int(&my_text(b)),
        MyConv::BigInt => convert::parse_safe_int(&my_text(b)),
        MyConv::Float => convert::parse_float(&my_text(b)),
        MyConv::DateTime => convert::mysql_datetime(&my_text(b)),
        MyConv::Blob if b.is_empty() => Value::Null,
        MyConv::Blob | MyConv::Binary => convert::buffer(b),
    }
}

pub(crate) async fn connect_mysql(db: &DatabaseConfig) -> Result<mysql_async::Conn, SourceError> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host(db))
        .tcp_port(port(db))
        .user(db.username.clone())
        .pass(db.password.as_ref().map(|p| p.expose().to_string()))
        .db_name(db.database.clone())
        .prefer_socket(false)
        // As the original (Sequelize timezone +00:00): TIMESTAMP columns in UTC.
        .init(vec!["SET time_zone = '+00:00'"]);
    match tokio::time::timeout(CONNECT_TIMEOUT, mysql_async::Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(my_connect_error(db, e)),
        Err(_) => Err(SourceError::connect(
            db,
            format!("no answer within {} seconds", CONNECT_TIMEOUT.as_secs()),
            Some(HINT_HOST),
        )),
    }
}

fn my_connect_error(db: &DatabaseConfig, e: mysql_async::Error) -> SourceError {
    match e {
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            SourceError::connect(db, io.to_string(), Some(HINT_HOST))
        }
        mysql_async::Error::Server(se) => {
            let hint = match se.code {
                1044 | 1045 | 1698 | 1251 => Some(HINT_AUTH),
                1049 => Some(HINT_DATABASE),
                _ => None,
            };
            SourceError::connect(db, se.message, hint)
        }
        other => SourceError::connect(db, other.to_string(), None),
    }
}

fn my_query_error(db: &DatabaseConfig, e: mysql_async::Error) -> SourceError {
    match e {
        mysql_async::Error::Server(se) => SourceError::query(db, se.message),
        other => SourceError::query(db, other.to_string()),
    }
}

async fn test_mysql(db: &DatabaseConfig) -> Result<(), SourceError> {
    use mysql_async::prelude::Queryable;
    let mut conn = connect_mysql(db).await?;
    conn.query_drop("SELECT 1")
        .await
        .map_err(|e| my_query_error(db, e))?;
    let _ = conn.disconnect().await;
    Ok(())
}

/// Prepare the query's session: the server-side limit (MariaDB `max_statement_time` in
/// seconds, MySQL `max_execution_time` in milliseconds) when `query_timeout` is set, and the
/// connection id. Returns the id and whether the server enforces the limit.
async fn my_prepare(
    db: &DatabaseConfig,
    conn: &mut mysql_async::Conn,
    timeouts: &QueryTimeouts,
) -> Result<(u32, bool), SourceError> {
    use mysql_async::prelude::Queryable;
    let work = async {
        let (id, version): (u32, String) = conn
            .query_first("SELECT CONNECTION_ID(), VERSION()")
            .await
            .map_err(|e| my_query_error(db, e))?
            .ok_or_else(|| {
                SourceError::query(db, "the server did not return its connection id".into())
            })?;
        let mut server_limit = false;
        if timeouts.query > 0 {
            let set = if version.to_lowercase().contains("mariadb") {
                format!("SET SESSION max_statement_time = {}", timeouts.query)
            } else {
                format!("SET SESSION max_execution_time = {}", timeouts.query * 1000)
            };
            // Best effort: a server without the setting still has the client-side bound.
            match conn.query_drop(&set).await {
                Ok(()) => server_limit = true,
                Err(e) => tracing::debug!("No server-side query limit ({set}): {e}"),
            }
        }
        Ok::<_, SourceError>((id, server_limit))
    };
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

/// Stop a timed-out query from a second connection: `KILL CONNECTION` ends the query and
/// its session (unlike `KILL QUERY`, it also shuts the session's socket down, which ends a
/// write blocked on a client that stopped reading).
async fn my_stop(db: &DatabaseConfig, id: u32) -> Cancelled {
    use mysql_async::prelude::Queryable;
    let attempt = async {
        let mut conn = connect_mysql(db).await?;
        let result = conn.query_drop(format!("KILL CONNECTION {id}")).await;
        let _ = conn.disconnect().await;
        match result {
            Ok(()) => Ok(()),
            // ER_NO_SUCH_THREAD: already gone.
            Err(mysql_async::Error::Server(se)) if se.code == 1094 => Ok(()),
            Err(e) => Err(my_query_error(db, e)),
        }
    };
    let outcome = cancel_outcome(tokio::time::timeout(CANCEL_TIMEOUT, attempt).await);
    match &outcome {
        Cancelled::OnServer => tracing::debug!("Stopped the query's connection {id}."),
        _ => tracing::warn!("Could not stop the query's connection {id}."),
    }
    outcome
}

/// Close a connection at once, whatever its state. (Dropping a `mysql_async::Conn` inside
/// the tokio runtime spawns a task that first reads the rest of any pending result, which
/// never ends on a stalled connection, before it quits; dropped on a thread outside the
/// runtime, the connection just closes its socket.)
fn close_mysql_now(conn: mysql_async::Conn) {
    let _ = std::thread::spawn(move || drop(conn)).join();
}

/// A query error, or the server's own limit (MariaDB 1969, MySQL 3024).
fn my_stop_error(db: &DatabaseConfig, e: mysql_async::Error) -> Stop {
    match &e {
        mysql_async::Error::Server(se) if matches!(se.code, 1969 | 3024) => Stop::ServerTimeout,
        _ => Stop::Failed(my_query_error(db, e)),
    }
}

async fn fetch_mysql(
    db: &DatabaseConfig,
    mut conn: mysql_async::Conn,
    query: &str,
    limit: Option<usize>,
    timeouts: &QueryTimeouts,
) -> Result<Table, SourceError> {
    let (id, server_limit) = my_prepare(db, &mut conn, timeouts).await?;
    let mut bound = Bound::start(timeouts, grace(server_limit));
    let mut table = Table::default();
    let mut rows = Vec::with_capacity(capacity(limit));
    let outcome = read_mysql(
        db, &mut conn, query, limit, &mut bound, &mut table, &mut rows,
    )
    .await;
    match outcome {
        Ok(true) => {
            let _ = tokio::time::timeout(CANCEL_TIMEOUT, conn.disconnect()).await;
        }
        // A limited read (preview): the rest of the result is dropped with the connection.
        Ok(false) => drop(conn),
        Err(Stop::Failed(e)) => return Err(e),
        Err(Stop::ServerTimeout) => {
            close_mysql_now(conn);
            return Err(bound.query_timeout(Cancelled::OnServer));
        }
        Err(Stop::Expired(which)) => {
            close_mysql_now(conn);
            let cancelled = my_stop(db, id).await;
            return Err(bound.error(which, cancelled));
        }
    }
    table.rows = rows;
    Ok(table)
}

/// Read the result of `query` within `bound`. `Ok(complete)`: false when `limit` stopped it.
async fn read_mysql(
    db: &DatabaseConfig,
    conn: &mut mysql_async::Conn,
    query: &str,
    limit: Option<usize>,
    bound: &mut Bound,
    table: &mut Table,
    rows: &mut Vec<Vec<Value>>,
) -> Result<bool, Stop> {
    use mysql_async::prelude::Queryable;
    let mut result = bound
        .wait(conn.query_iter(query))
        .await
        .map_err(Stop::Expired)?
        .map_err(|e| my_stop_error(db, e))?;
    let mut convs = Vec::new();
    for c in result.columns_ref() {
        let (ty, cs) = (c.column_type(), c.character_set());
        convs.push(my_conv(ty, cs));
        table.columns.push(Column {
            name: c.name_str().into_owned(),
            type_name: my_type_name(ty, cs),
        });
    }
    loop {
        if limit.is_some_and(|l| rows.len() >= l) {
            return Ok(false);
        }
        let next = bound.wait(result.next()).await.map_err(Stop::Expired)?;
        let Some(row) = next.map_err(|e| my_stop_error(db, e))? else {
            break;
        };
        bound.row();
        let mut out = Vec::with_capacity(convs.len());
        for (i, conv) in convs.iter().enumerate() {
            out.push(match row.as_ref(i) {
                Some(mysql_async::Value::Bytes(b)) => my_apply(*conv, b),
                Some(mysql_async::Value::NULL) | None => Value::Null,
                // The text protocol only sends bytes; keep anything else readable.
                Some(other) => Value::String(other.as_sql(true)),
            });
        }
        rows.push(out);
    }
    bound
        .wait(result.drop_result())
        .await
        .map_err(Stop::Expired)?
        .map_err(|e| my_stop_error(db, e))?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// SQLite

fn fetch_sqlite<'a>(
    db: &'a DatabaseConfig,
    mut conn: SqliteConnection,
    query: &'a str,
    limit: Option<usize>,
    timeouts: &'a QueryTimeouts,
) -> BoxFuture<'a, Result<Table, SourceError>> {
    Box::pin(async move {
        // The query runs on sqlx's worker thread: a progress handler interrupts it at
        // `query_timeout`, or when the client-side bound sets `stop`.
        let stop = Arc::new(AtomicBool::new(false));
        let tripped = Arc::new(AtomicBool::new(false));
        let server_limit = timeouts.query > 0;
        {
            let deadline = server_limit
                .then(|| std::time::Instant::now() + Duration::from_secs(timeouts.query));
            let (stop, tripped) = (stop.clone(), tripped.clone());
            let mut handle = conn.lock_handle().await.map_err(|e| query_error(db, e))?;
            handle.set_progress_handler(1000, move || {
                let go = !stop.load(Ordering::Relaxed)
                    && deadline.is_none_or(|d| std::time::Instant::now() < d);
                if !go {
                    tripped.store(true, Ordering::Relaxed);
                }
                go
            });
        }
        let mut bound = Bound::start(timeouts, grace(server_limit));
        let mut table = Table::default();
        let mut rows = Vec::with_capacity(capacity(limit));
        let outcome = read_sqlite(
            db, &mut conn, query, limit, &mut bound, &mut table, &mut rows,
        )
        .await;
        match outcome {
            Ok(()) => {}
            Err(Stop::Expired(which)) => {
                stop.store(true, Ordering::Relaxed);
                drop(conn);
                return Err(bound.error(which, super::Cancelled::Interrupted));
            }
            Err(_) if tripped.load(Ordering::Relaxed) => {
                return Err(bound.query_timeout(super::Cancelled::Interrupted));
            }
            Err(Stop::Failed(e)) => return Err(e),
            Err(Stop::ServerTimeout) => {
                return Err(bound.query_timeout(super::Cancelled::Interrupted));
            }
        }
        table.rows = rows;
        Ok(table)
    })
}

/// Read the result of `query` within `bound`.
fn read_sqlite<'a>(
    db: &'a DatabaseConfig,
    conn: &'a mut SqliteConnection,
    query: &'a str,
    limit: Option<usize>,
    bound: &'a mut Bound,
    table: &'a mut Table,
    rows: &'a mut Vec<Vec<Value>>,
) -> BoxFuture<'a, Result<(), Stop>> {
    Box::pin(async move {
        let mut ncols = None;
        {
            let mut stream = sqlx::raw_sql(query).fetch(&mut *conn);
            loop {
                let next = bound.wait(stream.try_next()).await.map_err(Stop::Expired)?;
                let Some(row) = next.map_err(|e| Stop::Failed(query_error(db, e)))? else {
                    break;
                };
                bound.row();
                if ncols.is_none() {
                    table.columns = row
                        .columns()
                        .iter()
                        .map(|c| Column {
                            name: c.name().to_string(),
                            type_name: c.type_info().name().to_string(),
                        })
                        .collect();
                    ncols = Some(table.columns.len());
                }
                if limit.is_some_and(|l| rows.len() >= l) {
                    break;
                }
                rows.push(sqlite_row(db, &row, table.columns.len())?);
            }
        }
        if ncols.is_none()
            && let Ok(desc) = bound
                .wait(conn.describe(query))
                .await
                .map_err(Stop::Expired)?
        {
            table.columns = desc
                .columns()
                .iter()
                .map(|c| Column {
                    name: c.name().to_string(),
                    type_name: c.type_info().name().to_string(),
                })
                .collect();
        }
        Ok(())
    })
}

/// SQLite is dynamically typed: each value maps from its own storage class
/// (INTEGER → number, REAL → number, TEXT → string, BLOB → Buffer, NULL → null).
fn sqlite_row(db: &DatabaseConfig, row: &SqliteRow, n: usize) -> Result<Vec<Value>, SourceError> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n.min(row.len()) {
        let raw = row.try_get_raw(i).map_err(|e| query_error(db, e))?;
        if raw.is_null() {
            out.push(Value::Null);
            continue;
        }
        // The storage class of this value; the names are sqlx's fixed `&'static str`s.
        let class = raw.type_info().name().as_bytes().first().copied();
        let err = |e| query_error(db, e);
        out.push(match class {
            Some(b'I') => Value::from(row.try_get_unchecked::<i64, _>(i).map_err(err)?),
            Some(b'R') => convert::float(row.try_get_unchecked::<f64, _>(i).map_err(err)?),
            Some(b'B') => convert::buffer(row.try_get_unchecked::<&[u8], _>(i).map_err(err)?),
            _ => Value::String(row.try_get_unchecked::<String, _>(i).map_err(err)?),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_converters_from_column_types() {
        assert_eq!(my_conv(MyType::MYSQL_TYPE_TINY, 63), MyConv::Int);
        assert_eq!(my_conv(MyType::MYSQL_TYPE_LONGLONG, 63), MyConv::BigInt);
        assert_eq!(my_conv(MyType::MYSQL_TYPE_BLOB, 63), MyConv::Blob);
        assert_eq!(my_conv(MyType::MYSQL_TYPE_BLOB, 46), MyConv::Text);
        assert_eq!(my_conv(MyType::MYSQL_TYPE_VAR_STRING, 63), MyConv::Binary);
        assert_eq!(my_conv(MyType::MYSQL_TYPE_JSON, 63), MyConv::Text);
        assert_eq!(my_conv(MyType::MYSQL_TYPE_NEWDECIMAL, 63), MyConv::Text);
        assert_eq!(my_type_name(MyType::MYSQL_TYPE_VAR_STRING, 63), "VARBINARY");
        assert_eq!(my_type_name(MyType::MYSQL_TYPE_VAR_STRING, 45), "VARCHAR");
        assert_eq!(my_apply(MyConv::Blob, b""), Value::Null);
        assert_eq!(
            my_apply(MyConv::Binary, b""),
            serde_json::json!({"type":"Buffer","data":[]})
        );
    }

    #[test]
    fn pg_converters_from_type_info() {
        assert_eq!(
            pg_apply(
                &PgConv::Array(Box::new(PgConv::Text)),
                "{9007199254740993,-5}"
            ),
            serde_json::json!(["9007199254740993", "-5"])
        );
    }
}
