//! MySQL and MariaDB through mysql_async: its column metadata carries the character set,
//! which is what tells binary data from text (sqlx only exposes the BINARY flag, which
//! MariaDB also sets on `_bin` collations such as its JSON columns).
//!
//! Queries run through the text protocol, so every value arrives in the database's own text
//! form — exactly what mysql2 (the original agent's driver) parsed. Each column's converter
//! is chosen once from its type and character set. See `docs/type-mapping.md`.

use mysql_async::consts::ColumnType as MyType;
use mysql_async::prelude::Queryable;
use mysql_async::{QueryResult, TextProtocol};
use serde_json::Value;

use super::{
    Item, Reading, Rows, Session, Stop, cancel_within, connect_within, host, port, read_rows,
    setup_within,
};
use crate::config::DatabaseConfig;
use crate::source::{
    CANCEL_TIMEOUT, Cancelled, Column, HINT_AUTH, HINT_DATABASE, HINT_HOST, QueryTimeouts,
    SourceError, convert,
};

pub(crate) async fn connect(db: &DatabaseConfig) -> Result<mysql_async::Conn, SourceError> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host(db))
        .tcp_port(port(db))
        .user(db.username.clone())
        .pass(db.password.as_ref().map(|p| p.expose().to_string()))
        .db_name(db.database.clone())
        .prefer_socket(false)
        // As the original (Sequelize timezone +00:00): TIMESTAMP columns in UTC.
        .init(vec!["SET time_zone = '+00:00'"]);
    connect_within(db, mysql_async::Conn::new(opts), connect_error).await
}

/// A MySQL or MariaDB connection being fetched on.
pub(super) struct MySession {
    conn: mysql_async::Conn,
}

impl Session for MySession {
    /// The connection id.
    type QueryId = u32;

    async fn connect(db: &DatabaseConfig) -> Result<Self, SourceError> {
        Ok(MySession {
            conn: connect(db).await?,
        })
    }

    async fn test(db: &DatabaseConfig) -> Result<(), SourceError> {
        let mut conn = connect(db).await?;
        conn.query_drop("SELECT 1")
            .await
            .map_err(|e| query_error(db, e))?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// The server-side limit (MariaDB `max_statement_time` in seconds, MySQL
    /// `max_execution_time` in milliseconds) when `query_timeout` is set, and the connection
    /// id.
    async fn prepare(
        &mut self,
        db: &DatabaseConfig,
        timeouts: &QueryTimeouts,
    ) -> Result<(u32, bool), SourceError> {
        let conn = &mut self.conn;
        let work = async {
            let (id, version): (u32, String) = conn
                .query_first("SELECT CONNECTION_ID(), VERSION()")
                .await
                .map_err(|e| query_error(db, e))?
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
        setup_within(db, work).await
    }

    async fn read<'a>(
        &'a mut self,
        db: &'a DatabaseConfig,
        query: &'a str,
        reading: &'a mut Reading,
    ) -> Result<bool, Stop> {
        let result = reading
            .bound
            .wait_for(self.conn.query_iter(query), |e| stop_error(db, e))
            .await?;
        let mut convs = Vec::new();
        for c in result.columns_ref() {
            let (ty, cs) = (c.column_type(), c.character_set());
            convs.push(conv(ty, cs));
            reading.table.columns.push(Column {
                name: c.name_str().into_owned(),
                type_name: type_name(ty, cs),
            });
        }
        let mut rows = MyRows { db, result, convs };
        let complete = read_rows(&mut rows, reading).await?;
        if complete {
            reading
                .bound
                .wait_for(rows.result.drop_result(), |e| stop_error(db, e))
                .await?;
        }
        Ok(complete)
    }

    async fn close(self) {
        let _ = tokio::time::timeout(CANCEL_TIMEOUT, self.conn.disconnect()).await;
    }

    async fn ended_by_server(self) -> Cancelled {
        close_now(self.conn);
        Cancelled::OnServer
    }

    async fn stop(self, db: &DatabaseConfig, id: u32) -> Cancelled {
        close_now(self.conn);
        stop(db, id).await
    }
}

/// The rows of a MySQL result (its columns come with the result, before the rows).
struct MyRows<'a> {
    db: &'a DatabaseConfig,
    result: QueryResult<'a, 'static, TextProtocol>,
    convs: Vec<Conv>,
}

impl Rows for MyRows<'_> {
    type Row = mysql_async::Row;

    async fn next(&mut self) -> Result<Option<Item<mysql_async::Row>>, Stop> {
        match self.result.next().await {
            Ok(row) => Ok(row.map(Item::Row)),
            Err(e) => Err(stop_error(self.db, e)),
        }
    }

    fn values(&self, row: mysql_async::Row) -> Result<Vec<Value>, SourceError> {
        let mut out = Vec::with_capacity(self.convs.len());
        for (i, conv) in self.convs.iter().enumerate() {
            out.push(match row.as_ref(i) {
                Some(mysql_async::Value::Bytes(b)) => apply(*conv, b),
                Some(mysql_async::Value::NULL) | None => Value::Null,
                // The text protocol only sends bytes; keep anything else readable.
                Some(other) => Value::String(other.as_sql(true)),
            });
        }
        Ok(out)
    }
}

/// The binary pseudo character set (`charsetNr === 63` is mysql2's Buffer rule).
const BINARY_CHARSET: u16 = 63;

/// How a MySQL column's text-protocol value is turned into JSON (chosen once per column).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Conv {
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

fn conv(ty: MyType, charset: u16) -> Conv {
    use MyType::*;
    match ty {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_YEAR => Conv::Int,
        MYSQL_TYPE_LONGLONG => Conv::BigInt,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Conv::Float,
        MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2 => Conv::DateTime,
        MYSQL_TYPE_BIT | MYSQL_TYPE_GEOMETRY => Conv::Binary,
        // MySQL's native JSON is reported with the binary charset: the original sent its text.
        MYSQL_TYPE_JSON => Conv::Text,
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB
            if charset == BINARY_CHARSET =>
        {
            Conv::Blob
        }
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING
            if charset == BINARY_CHARSET =>
        {
            Conv::Binary
        }
        _ => Conv::Text,
    }
}

fn type_name(ty: MyType, charset: u16) -> String {
    let name = format!("{ty:?}");
    let name = name
        .strip_prefix("MYSQL_TYPE_")
        .unwrap_or(&name)
        .to_string();
    if charset == BINARY_CHARSET && conv(ty, charset) != Conv::Text {
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

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn apply(conv: Conv, b: &[u8]) -> Value {
    match conv {
        Conv::Text => Value::String(text(b).into_owned()),
        Conv::Int => convert::parse_int(&text(b)),
        Conv::BigInt => convert::parse_safe_int(&text(b)),
        Conv::Float => convert::parse_float(&text(b)),
        Conv::DateTime => convert::mysql_datetime(&text(b)),
        Conv::Blob if b.is_empty() => Value::Null,
        Conv::Blob | Conv::Binary => convert::buffer(b),
    }
}

fn connect_error(db: &DatabaseConfig, e: mysql_async::Error) -> SourceError {
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

fn query_error(db: &DatabaseConfig, e: mysql_async::Error) -> SourceError {
    match e {
        mysql_async::Error::Server(se) => SourceError::query(db, se.message),
        other => SourceError::query(db, other.to_string()),
    }
}

/// Stop a timed-out query from a second connection: `KILL CONNECTION` ends the query and
/// its session (unlike `KILL QUERY`, it also shuts the session's socket down, which ends a
/// write blocked on a client that stopped reading).
async fn stop(db: &DatabaseConfig, id: u32) -> Cancelled {
    let attempt = async {
        let mut conn = connect(db).await?;
        let result = conn.query_drop(format!("KILL CONNECTION {id}")).await;
        let _ = conn.disconnect().await;
        match result {
            Ok(()) => Ok(()),
            // ER_NO_SUCH_THREAD: already gone.
            Err(mysql_async::Error::Server(se)) if se.code == 1094 => Ok(()),
            Err(e) => Err(query_error(db, e)),
        }
    };
    let outcome = cancel_within(attempt).await;
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
fn close_now(conn: mysql_async::Conn) {
    let _ = std::thread::spawn(move || drop(conn)).join();
}

/// A query error, or the server's own limit (MariaDB 1969, MySQL 3024).
fn stop_error(db: &DatabaseConfig, e: mysql_async::Error) -> Stop {
    match &e {
        mysql_async::Error::Server(se) if matches!(se.code, 1969 | 3024) => Stop::ServerTimeout,
        _ => Stop::Failed(query_error(db, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_converters_from_column_types() {
        assert_eq!(conv(MyType::MYSQL_TYPE_TINY, 63), Conv::Int);
        assert_eq!(conv(MyType::MYSQL_TYPE_LONGLONG, 63), Conv::BigInt);
        assert_eq!(conv(MyType::MYSQL_TYPE_BLOB, 63), Conv::Blob);
        assert_eq!(conv(MyType::MYSQL_TYPE_BLOB, 46), Conv::Text);
        assert_eq!(conv(MyType::MYSQL_TYPE_VAR_STRING, 63), Conv::Binary);
        assert_eq!(conv(MyType::MYSQL_TYPE_JSON, 63), Conv::Text);
        assert_eq!(conv(MyType::MYSQL_TYPE_NEWDECIMAL, 63), Conv::Text);
        assert_eq!(type_name(MyType::MYSQL_TYPE_VAR_STRING, 63), "VARBINARY");
        assert_eq!(type_name(MyType::MYSQL_TYPE_VAR_STRING, 45), "VARCHAR");
        assert_eq!(apply(Conv::Blob, b""), Value::Null);
        assert_eq!(
            apply(Conv::Binary, b""),
            serde_json::json!({"type":"Buffer","data":[]})
        );
    }
}
