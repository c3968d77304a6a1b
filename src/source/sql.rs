//! PostgreSQL, MySQL/MariaDB and SQLite sources through sqlx's own drivers.
//!
//! PostgreSQL and MySQL queries run through the simple/text protocol (`sqlx::raw_sql`), so
//! every value arrives in the database's own text form — exactly what node-pg and mysql2
//! (the original agent's drivers) parsed. Each column's converter is chosen once from its
//! type info; the per-row work is a `match` on that converter. See `docs/type-mapping.md`.

use std::path::Path;

use futures::TryStreamExt;
use futures::future::BoxFuture;
use mysql_async::consts::ColumnType as MyType;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgTypeInfo, PgTypeKind};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Column as _, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};

use super::convert;
use super::{CONNECT_TIMEOUT, Column, HINT_AUTH, HINT_DATABASE, HINT_HOST, SourceError, Table};
use crate::config::{DatabaseConfig, Driver};

/// Connect and run `SELECT 1`.
pub async fn test_connection(db: &DatabaseConfig) -> Result<(), SourceError> {
    match db.driver {
        Driver::Postgres => {
            let conn = connect_pg(db).await?;
            fetch_pg(db, conn, "SELECT 1", None).await?;
        }
        Driver::Mysql => test_mysql(db).await?,
        Driver::Sqlite => {
            let conn = connect_sqlite(db).await?;
            fetch_sqlite(db, conn, "SELECT 1", None).await?;
        }
        Driver::Mssql => super::mssql::test_connection(db).await?,
    }
    Ok(())
}

/// Run `query` and map its rows (see [`super::fetch`]).
pub async fn fetch(
    db: &DatabaseConfig,
    query: &str,
    limit: Option<usize>,
) -> Result<Table, SourceError> {
    match db.driver {
        Driver::Postgres => {
            let conn = connect_pg(db).await?;
            fetch_pg(db, conn, query, limit).await
        }
        Driver::Mysql => {
            let conn = connect_mysql(db).await?;
            fetch_mysql(db, conn, query, limit).await
        }
        Driver::Sqlite => {
            let conn = connect_sqlite(db).await?;
            fetch_sqlite(db, conn, query, limit).await
        }
        Driver::Mssql => super::mssql::fetch(db, query, limit).await,
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

fn fetch_pg<'a>(
    db: &'a DatabaseConfig,
    mut conn: PgConnection,
    query: &'a str,
    limit: Option<usize>,
) -> BoxFuture<'a, Result<Table, SourceError>> {
    Box::pin(async move {
        let mut table = Table::default();
        let mut convs: Vec<PgConv> = Vec::new();
        let mut rows = Vec::with_capacity(capacity(limit));
        let mut complete = true;
        {
            let mut stream = sqlx::raw_sql(query).fetch(&mut conn);
            while let Some(row) = stream.try_next().await.map_err(|e| query_error(db, e))? {
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
            if let Ok(desc) = conn.describe(query).await {
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
        if complete {
            let _ = conn.close().await;
        }
        table.rows = rows;
        Ok(table)
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

async fn fetch_mysql(
    db: &DatabaseConfig,
    mut conn: mysql_async::Conn,
    query: &str,
    limit: Option<usize>,
) -> Result<Table, SourceError> {
    use mysql_async::prelude::Queryable;
    let mut table = Table::default();
    let mut rows = Vec::with_capacity(capacity(limit));
    let mut complete = true;
    {
        let mut result = conn
            .query_iter(query)
            .await
            .map_err(|e| my_query_error(db, e))?;
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
                complete = false;
                break;
            }
            let Some(row) = result.next().await.map_err(|e| my_query_error(db, e))? else {
                break;
            };
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
        if complete {
            result
                .drop_result()
                .await
                .map_err(|e| my_query_error(db, e))?;
        }
    }
    if complete {
        let _ = conn.disconnect().await;
    }
    table.rows = rows;
    Ok(table)
}

// ---------------------------------------------------------------------------------------------
// SQLite

fn fetch_sqlite<'a>(
    db: &'a DatabaseConfig,
    mut conn: SqliteConnection,
    query: &'a str,
    limit: Option<usize>,
) -> BoxFuture<'a, Result<Table, SourceError>> {
    Box::pin(async move {
        let mut table = Table::default();
        let mut rows = Vec::with_capacity(capacity(limit));
        let mut ncols = None;
        {
            let mut stream = sqlx::raw_sql(query).fetch(&mut conn);
            while let Some(row) = stream.try_next().await.map_err(|e| query_error(db, e))? {
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
            && let Ok(desc) = conn.describe(query).await
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
        table.rows = rows;
        Ok(table)
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
