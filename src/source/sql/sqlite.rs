//! SQLite through sqlx. SQLite is dynamically typed: each value maps from its own storage
//! class (INTEGER → number, REAL → number, TEXT → string, BLOB → Buffer, NULL → null). See
//! `docs/type-mapping.md`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Executor, Row, TypeInfo, ValueRef};

use super::{
    Item, Reading, Rows, Session, Stop, connect_within, read_rows, sqlx_columns,
    sqlx_connect_error, sqlx_describe, sqlx_query_error,
};
use crate::config::DatabaseConfig;
use crate::source::{Cancelled, Column, QueryTimeouts, SourceError, convert};

/// The SQLite file: `database_name`, or `database_host` as the original's users set it.
fn path(db: &DatabaseConfig) -> Result<&str, SourceError> {
    db.database
        .as_deref()
        .or(db.host.as_deref())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| SourceError::Config {
            message: "SQLite needs database_name: the path of the database file".to_string(),
        })
}

/// The path of an existing SQLite file, or the error naming what to check (`hint`).
fn existing_file<'a>(db: &'a DatabaseConfig, hint: &str) -> Result<&'a str, SourceError> {
    let path = path(db)?;
    if !Path::new(path).is_file() {
        return Err(SourceError::Connect {
            target: db.describe(),
            message: format!("no SQLite database file at {path}"),
            hint: Some(hint.to_string()),
        });
    }
    Ok(path)
}

async fn connect(db: &DatabaseConfig) -> Result<SqliteConnection, SourceError> {
    let path = existing_file(db, "Check database_name: the path of the SQLite file.")?;
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    connect_within(db, opts.connect(), sqlx_connect_error).await
}

/// A writable connection to an existing SQLite file (pull into a table).
pub(crate) async fn connect_rw(db: &DatabaseConfig) -> Result<SqliteConnection, SourceError> {
    let path = existing_file(
        db,
        "Check the `name` of the connection: the path of the SQLite file.",
    )?;
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(10))
        .create_if_missing(false);
    connect_within(db, opts.connect(), sqlx_connect_error).await
}

/// An SQLite connection being fetched on. The query runs on sqlx's worker thread: a progress
/// handler interrupts it at `query_timeout` (`tripped`), or when the client-side bound sets
/// `stop`.
pub(super) struct SqliteSession {
    conn: SqliteConnection,
    stop: Arc<AtomicBool>,
    tripped: Arc<AtomicBool>,
}

impl Session for SqliteSession {
    type QueryId = ();

    async fn connect(db: &DatabaseConfig) -> Result<Self, SourceError> {
        Ok(SqliteSession {
            conn: connect(db).await?,
            stop: Arc::new(AtomicBool::new(false)),
            tripped: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn prepare(
        &mut self,
        db: &DatabaseConfig,
        timeouts: &QueryTimeouts,
    ) -> Result<((), bool), SourceError> {
        let server_limit = timeouts.query > 0;
        let deadline =
            server_limit.then(|| std::time::Instant::now() + Duration::from_secs(timeouts.query));
        let (stop, tripped) = (self.stop.clone(), self.tripped.clone());
        let mut handle = self
            .conn
            .lock_handle()
            .await
            .map_err(|e| sqlx_query_error(db, e))?;
        handle.set_progress_handler(1000, move || {
            let go = !stop.load(Ordering::Relaxed)
                && deadline.is_none_or(|d| std::time::Instant::now() < d);
            if !go {
                tripped.store(true, Ordering::Relaxed);
            }
            go
        });
        Ok(((), server_limit))
    }

    async fn read<'a>(
        &'a mut self,
        db: &'a DatabaseConfig,
        query: &'a str,
        reading: &'a mut Reading,
    ) -> Result<bool, Stop> {
        let read = async {
            let complete = {
                let mut rows = SqliteRows {
                    db,
                    stream: sqlx::raw_sql(query).fetch(&mut self.conn),
                    columns: 0,
                };
                read_rows(&mut rows, reading).await?
            };
            if reading.table.columns.is_empty() {
                sqlx_describe(reading, self.conn.describe(query), type_name).await?;
            }
            Ok(complete)
        };
        match read.await {
            // The query failed because the progress handler interrupted it at
            // `query_timeout`: this process's own limit, as a server's would be.
            Err(Stop::Failed(_)) if self.tripped.load(Ordering::Relaxed) => {
                Err(Stop::ServerTimeout)
            }
            other => other,
        }
    }

    async fn close(self) {}

    async fn ended_by_server(self) -> Cancelled {
        Cancelled::Interrupted
    }

    async fn stop(self, _db: &DatabaseConfig, _: ()) -> Cancelled {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.conn);
        Cancelled::Interrupted
    }
}

fn type_name(ti: &sqlx::sqlite::SqliteTypeInfo) -> String {
    ti.name().to_string()
}

/// The rows of an SQLite result.
struct SqliteRows<'c> {
    db: &'c DatabaseConfig,
    stream: BoxStream<'c, Result<SqliteRow, sqlx::Error>>,
    columns: usize,
}

impl Rows for SqliteRows<'_> {
    type Row = SqliteRow;

    async fn next(&mut self) -> Result<Option<Item<SqliteRow>>, Stop> {
        match self.stream.try_next().await {
            Ok(row) => Ok(row.map(Item::Row)),
            Err(e) => Err(Stop::Failed(sqlx_query_error(self.db, e))),
        }
    }

    fn columns(&mut self, first: &SqliteRow) -> Vec<Column> {
        self.columns = first.columns().len();
        sqlx_columns(first.columns(), type_name)
    }

    /// Each value from its own storage class.
    fn values(&self, row: SqliteRow) -> Result<Vec<Value>, SourceError> {
        let db = self.db;
        let n = self.columns;
        let mut out = Vec::with_capacity(n);
        for i in 0..n.min(row.len()) {
            let raw = row.try_get_raw(i).map_err(|e| sqlx_query_error(db, e))?;
            if raw.is_null() {
                out.push(Value::Null);
                continue;
            }
            // The storage class of this value; the names are sqlx's fixed `&'static str`s.
            let class = raw.type_info().name().as_bytes().first().copied();
            let err = |e| sqlx_query_error(db, e);
            out.push(match class {
                Some(b'I') => Value::from(row.try_get_unchecked::<i64, _>(i).map_err(err)?),
                Some(b'R') => convert::float(row.try_get_unchecked::<f64, _>(i).map_err(err)?),
                Some(b'B') => convert::buffer(row.try_get_unchecked::<&[u8], _>(i).map_err(err)?),
                _ => Value::String(row.try_get_unchecked::<String, _>(i).map_err(err)?),
            });
        }
        Ok(out)
    }
}
