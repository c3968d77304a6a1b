//! PostgreSQL through sqlx.
//!
//! Queries run through the simple/text protocol (`sqlx::raw_sql`), so every value arrives in
//! PostgreSQL's own text form — exactly what node-pg (the original agent's driver) parsed.
//! Each column's converter is chosen once from its type info; the per-row work is a `match`
//! on that converter. See `docs/type-mapping.md`.

use futures::TryStreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgTypeInfo, PgTypeKind};
use sqlx::{Column as _, ConnectOptions, Connection, Executor, Row, TypeInfo};

use super::{
    Item, Reading, Rows, Session, Stop, cancel_within, connect_within, host, port, read_rows,
    setup_within, sqlx_columns, sqlx_connect_error, sqlx_describe, sqlx_query_error,
};
use crate::config::DatabaseConfig;
use crate::source::{CANCEL_TIMEOUT, Cancelled, Column, QueryTimeouts, SourceError, convert};

pub(crate) async fn connect(db: &DatabaseConfig) -> Result<PgConnection, SourceError> {
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
    connect_within(db, opts.connect(), sqlx_connect_error).await
}

/// A PostgreSQL connection being fetched on.
pub(super) struct PgSession {
    conn: PgConnection,
}

impl Session for PgSession {
    type QueryId = Backend;

    async fn connect(db: &DatabaseConfig) -> Result<Self, SourceError> {
        Ok(PgSession {
            conn: connect(db).await?,
        })
    }

    /// `statement_timeout` (when `query_timeout` is set), the check for a vanished client
    /// (PostgreSQL 14+, so that a killed agent's query ends too), and the backend's pid.
    async fn prepare(
        &mut self,
        db: &DatabaseConfig,
        timeouts: &QueryTimeouts,
    ) -> Result<(Backend, bool), SourceError> {
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
        let backend = setup_within(db, session_setup(db, &mut self.conn, &setup)).await?;
        Ok((backend, server_limit))
    }

    async fn read<'a>(
        &'a mut self,
        db: &'a DatabaseConfig,
        query: &'a str,
        reading: &'a mut Reading,
    ) -> Result<bool, Stop> {
        let complete = {
            let mut rows = PgRows {
                db,
                stream: sqlx::raw_sql(query).fetch(&mut self.conn),
                convs: Vec::new(),
            };
            read_rows(&mut rows, reading).await?
        };
        if reading.table.columns.is_empty() {
            sqlx_describe(reading, self.conn.describe(query), type_name).await?;
        }
        Ok(complete)
    }

    async fn close(self) {
        let _ = tokio::time::timeout(CANCEL_TIMEOUT, self.conn.close()).await;
    }

    async fn ended_by_server(self) -> Cancelled {
        self.close().await;
        Cancelled::OnServer
    }

    fn stop(self, db: &DatabaseConfig, backend: Backend) -> impl Future<Output = Cancelled> + Send {
        // Never reuse a connection in an unknown state: drop it (closes the socket).
        drop(self.conn);
        async move { stop(db, &backend).await }
    }
}

/// The rows of a PostgreSQL result.
struct PgRows<'c> {
    db: &'c DatabaseConfig,
    stream: BoxStream<'c, Result<PgRow, sqlx::Error>>,
    convs: Vec<Conv>,
}

impl Rows for PgRows<'_> {
    type Row = PgRow;

    async fn next(&mut self) -> Result<Option<Item<PgRow>>, Stop> {
        match self.stream.try_next().await {
            Ok(row) => Ok(row.map(Item::Row)),
            Err(e) => Err(stop_error(self.db, e)),
        }
    }

    fn columns(&mut self, first: &PgRow) -> Vec<Column> {
        self.convs = first
            .columns()
            .iter()
            .map(|c| conv(c.type_info()))
            .collect();
        sqlx_columns(first.columns(), type_name)
    }

    fn values(&self, row: PgRow) -> Result<Vec<Value>, SourceError> {
        if row.len() != self.convs.len() {
            return Err(SourceError::query(
                self.db,
                "the query returned several result sets with different columns".to_string(),
            ));
        }
        let mut out = Vec::with_capacity(self.convs.len());
        for (i, conv) in self.convs.iter().enumerate() {
            let text: Option<&str> = row
                .try_get_unchecked(i)
                .map_err(|e| sqlx_query_error(self.db, e))?;
            out.push(match text {
                Some(s) => apply(conv, s),
                None => Value::Null,
            });
        }
        Ok(out)
    }
}

/// How a PostgreSQL column's text is turned into JSON (chosen once per column).
#[derive(Debug, Clone, PartialEq)]
enum Conv {
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
    Array(Box<Conv>),
}

fn conv(ti: &PgTypeInfo) -> Conv {
    if let PgTypeKind::Array(elem) = ti.kind() {
        let elem = match elem.oid().map(|o| o.0) {
            Some(1700) => Conv::Float,
            _ => conv(elem),
        };
        return Conv::Array(Box::new(elem));
    }
    match ti.oid().map(|o| o.0) {
        Some(16) => Conv::Bool,
        Some(21 | 23 | 26) => Conv::Int,
        Some(700 | 701) => Conv::Float,
        Some(1114) => Conv::Timestamp,
        Some(1184) => Conv::TimestampTz,
        Some(114 | 3802) => Conv::Json,
        Some(17) => Conv::Bytea,
        Some(1186) => Conv::Interval,
        _ => Conv::Text,
    }
}

fn apply(conv: &Conv, s: &str) -> Value {
    match conv {
        Conv::Text => Value::String(s.to_string()),
        Conv::Bool => Value::Bool(s == "t"),
        Conv::Int => convert::parse_int(s),
        Conv::Float => convert::parse_float(s),
        Conv::Timestamp => convert::pg_timestamp_local(s),
        Conv::TimestampTz => convert::pg_timestamptz(s),
        Conv::Json => convert::parse_json(s),
        Conv::Bytea => convert::pg_bytea(s),
        Conv::Interval => convert::pg_interval(s),
        Conv::Array(elem) => convert::pg_array(s, &|e| apply(elem, e))
            .unwrap_or_else(|| Value::String(s.to_string())),
    }
}

fn type_name(ti: &PgTypeInfo) -> String {
    let name = ti.name();
    if name.is_empty() {
        ti.oid().map(|o| format!("oid {}", o.0)).unwrap_or_default()
    } else {
        name.to_string()
    }
}

/// The server process running a query's session, to stop it from a second connection.
#[derive(Debug, Clone)]
pub(super) struct Backend {
    /// `pg_backend_pid()`.
    pid: i32,
    /// Its `backend_start` (text), so that a reused pid is never stopped.
    started: Option<String>,
}

/// Run `setup` (ending with the backend's pid and start) and the best-effort settings.
fn session_setup<'a>(
    db: &'a DatabaseConfig,
    conn: &'a mut PgConnection,
    setup: &'a str,
) -> BoxFuture<'a, Result<Backend, SourceError>> {
    Box::pin(async move {
        // (`Executor`'s boxed futures: sqlx's `RawSql::fetch_all` is not `Send` here.)
        let rows = Executor::fetch_all(&mut *conn, sqlx::raw_sql(setup))
            .await
            .map_err(|e| sqlx_query_error(db, e))?;
        let row = rows.first().ok_or_else(|| {
            SourceError::query(db, "the server did not return its process id".into())
        })?;
        let pid: Option<&str> = row
            .try_get_unchecked(0)
            .map_err(|e| sqlx_query_error(db, e))?;
        let started: Option<&str> = row
            .try_get_unchecked(1)
            .map_err(|e| sqlx_query_error(db, e))?;
        let pid = pid
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| SourceError::query(db, "the server returned no process id".into()))?;
        let backend = Backend {
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
fn stop<'a>(db: &'a DatabaseConfig, backend: &'a Backend) -> BoxFuture<'a, Cancelled> {
    Box::pin(stop_inner(db, backend))
}

async fn stop_inner(db: &DatabaseConfig, backend: &Backend) -> Cancelled {
    let attempt = async {
        let mut conn = connect(db).await?;
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
        result.map(|_| ()).map_err(|e| sqlx_query_error(db, e))
    };
    let outcome = cancel_within(attempt).await;
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
fn stop_error(db: &DatabaseConfig, e: sqlx::Error) -> Stop {
    if let sqlx::Error::Database(d) = &e
        && d.code().as_deref() == Some("57014")
        && d.message().contains("statement timeout")
    {
        return Stop::ServerTimeout;
    }
    Stop::Failed(sqlx_query_error(db, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_converters_from_type_info() {
        assert_eq!(
            apply(&Conv::Array(Box::new(Conv::Text)), "{9007199254740993,-5}"),
            serde_json::json!(["9007199254740993", "-5"])
        );
    }
}
