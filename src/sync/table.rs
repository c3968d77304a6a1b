//! Writing pulled entries into a database table: upsert by a key column, in one
//! transaction, on PostgreSQL, MySQL/MariaDB and SQLite.
//!
//! The table's columns are checked first: a mapped column that the table lacks is an error
//! naming the table and the column, before anything is written. Existing keys are read once
//! (`SELECT key FROM table`); each row is then an `UPDATE ... WHERE key = ?` when its key
//! exists and an `INSERT` otherwise. This needs no unique index on the key and behaves the
//! same on every database. Values are bound as text and converted by the database (on
//! PostgreSQL with `CAST($n AS <column type>)`), so numbers, dates, booleans and JSON land in
//! typed columns.

use std::collections::HashSet;

use mysql_async::prelude::Queryable;
use serde_json::Value;
use sqlx::{Connection, Row};

use crate::config::{DatabaseConfig, Driver};
use crate::source::{SourceError, sql};

/// Apply the planned INSERT/UPDATE steps over an sqlx connection in one transaction: each row
/// binds its values in column order, and an UPDATE binds the key once more for its WHERE.
/// (A macro because PostgreSQL and SQLite connections are different sqlx types.)
macro_rules! write_steps {
    ($conn:expr, $steps:expr, $rows:expr, $key_idx:expr, $insert:expr, $update:expr, $err:expr) => {{
        let mut tx = $conn.begin().await.map_err($err)?;
        for (i, is_update) in $steps {
            let row = &$rows[i];
            let mut q = sqlx::query(if is_update { &$update } else { &$insert });
            for v in row {
                q = q.bind(v.clone());
            }
            if is_update {
                q = q.bind(row[$key_idx].clone());
            }
            q.execute(&mut *tx).await.map_err($err)?;
        }
        tx.commit().await.map_err($err)?;
    }};
}

/// Errors writing to a table. Never contains the database password.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{0}")]
    Connect(#[from] SourceError),
    #[error(
        "The table {table} does not exist in {target}. Create it first, or check `target.table`. Nothing was written."
    )]
    NoTable { table: String, target: String },
    #[error(
        "The table {table} has no column {column:?} (mapped from the data source column {from:?} in `target.columns`). Add the column or fix the mapping. Nothing was written."
    )]
    MissingColumn {
        table: String,
        column: String,
        from: String,
    },
    #[error(
        "Cannot write to the table {table}: {message}. The transaction was rolled back: nothing was written."
    )]
    Write { table: String, message: String },
}

/// What an upsert did (or would do, in a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TableCounts {
    pub inserted: usize,
    pub updated: usize,
    /// Rows without a key value (not written).
    pub skipped: usize,
}

fn quote(driver: Driver, ident: &str) -> String {
    let parts: Vec<&str> = if driver == Driver::Sqlite {
        vec![ident]
    } else {
        ident.split('.').collect()
    };
    parts
        .iter()
        .map(|p| match driver {
            Driver::Mysql => format!("`{}`", p.replace('`', "``")),
            _ => format!("\"{}\"", p.replace('"', "\"\"")),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A JSON value as the text bound for `driver` (None is NULL).
pub fn cell(value: &Value, driver: Driver) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(match (driver, b) {
            (Driver::Postgres, true) => "true".into(),
            (Driver::Postgres, false) => "false".into(),
            (_, true) => "1".into(),
            (_, false) => "0".into(),
        }),
        other => Some(other.to_string()),
    }
}

fn write_err(table: &str, db: &DatabaseConfig, e: impl std::fmt::Display) -> TableError {
    TableError::Write {
        table: table.to_string(),
        message: crate::source::scrub(db, e.to_string()),
    }
}

/// Upsert `rows` (values in the order of `columns`, all table column names) into `table`
/// by `key` (one of `columns`). `mapped_from[i]` names the data-source column of
/// `columns[i]`, for messages. With `dry_run`, only reads: the counts say what would happen.
pub async fn upsert(
    db: &DatabaseConfig,
    table: &str,
    key: &str,
    columns: &[String],
    mapped_from: &[String],
    rows: &[Vec<Option<String>>],
    dry_run: bool,
) -> Result<TableCounts, TableError> {
    let key_idx = columns
        .iter()
        .position(|c| c == key)
        .expect("the loader checks that the key is mapped");
    let check = |have: &[(String, String)]| -> Result<(), TableError> {
        if have.is_empty() {
            return Err(TableError::NoTable {
                table: table.to_string(),
                target: db.describe(),
            });
        }
        for (c, from) in columns.iter().zip(mapped_from) {
            if !have.iter().any(|(n, _)| n == c) {
                return Err(TableError::MissingColumn {
                    table: table.to_string(),
                    column: c.clone(),
                    from: from.clone(),
                });
            }
        }
        Ok(())
    };
    let mut counts = TableCounts::default();
    let plan = |existing: &mut HashSet<String>, counts: &mut TableCounts| -> Vec<(usize, bool)> {
        // (row index, is_update)
        let mut out = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            match &r[key_idx] {
                None => counts.skipped += 1,
                Some(k) => {
                    let update = !existing.insert(k.clone());
                    if update {
                        counts.updated += 1;
                    } else {
                        counts.inserted += 1;
                    }
                    out.push((i, update));
                }
            }
        }
        out
    };
    let qt = quote(db.driver, table);
    let qk = quote(db.driver, key);
    match db.driver {
        Driver::Postgres => {
            let mut conn = sql::postgres::connect(db).await?;
            let regclass = quote(Driver::Postgres, table);
            let have: Vec<(String, String)> = sqlx::query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            )
            .bind(&regclass)
            .fetch_all(&mut conn)
            .await
            .map_err(|e| write_err(table, db, e))?
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect();
            check(&have)?;
            let ty = |c: &str| {
                have.iter()
                    .find(|(n, _)| n == c)
                    .map(|(_, t)| t.clone())
                    .unwrap_or_else(|| "text".into())
            };
            let mut existing: HashSet<String> = sqlx::query(&format!(
                "SELECT {qk}::text FROM {qt} WHERE {qk} IS NOT NULL"
            ))
            .fetch_all(&mut conn)
            .await
            .map_err(|e| write_err(table, db, e))?
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
            let steps = plan(&mut existing, &mut counts);
            if dry_run {
                return Ok(counts);
            }
            let cast = |i: usize, c: &str| format!("CAST(${} AS {})", i, ty(c));
            let insert = format!(
                "INSERT INTO {qt} ({}) VALUES ({})",
                columns
                    .iter()
                    .map(|c| quote(db.driver, c))
                    .collect::<Vec<_>>()
                    .join(", "),
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| cast(i + 1, c))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let update = format!(
                "UPDATE {qt} SET {} WHERE {qk} = {}",
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{} = {}", quote(db.driver, c), cast(i + 1, c)))
                    .collect::<Vec<_>>()
                    .join(", "),
                cast(columns.len() + 1, key)
            );
            write_steps!(conn, steps, rows, key_idx, insert, update, |e| write_err(
                table, db, e
            ));
        }
        Driver::Sqlite => {
            let mut conn = sql::sqlite::connect_rw(db).await?;
            let have: Vec<(String, String)> =
                sqlx::query("SELECT name, type FROM pragma_table_info(?)")
                    .bind(table)
                    .fetch_all(&mut conn)
                    .await
                    .map_err(|e| write_err(table, db, e))?
                    .iter()
                    .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
                    .collect();
            check(&have)?;
            let mut existing: HashSet<String> = sqlx::query(&format!(
                "SELECT CAST({qk} AS TEXT) FROM {qt} WHERE {qk} IS NOT NULL"
            ))
            .fetch_all(&mut conn)
            .await
            .map_err(|e| write_err(table, db, e))?
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
            let steps = plan(&mut existing, &mut counts);
            if dry_run {
                return Ok(counts);
            }
            let (insert, update) = plain_statements(db.driver, &qt, &qk, columns);
            write_steps!(conn, steps, rows, key_idx, insert, update, |e| write_err(
                table, db, e
            ));
        }
        Driver::Mysql => {
            let mut conn = sql::mysql::connect(db).await?;
            let have: Vec<(String, String)> = conn
                .exec(
                    "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                    (table,),
                )
                .await
                .map_err(|e| write_err(table, db, e))?;
            check(&have)?;
            // MySQL/MariaDB refuse ISO-8601 text with a `T` and a zone (`...T10:00:00.000Z`)
            // in DATETIME/TIMESTAMP/DATE columns: send those as UTC `YYYY-MM-DD HH:MM:SS.fff`
            // (the session time zone is UTC).
            let date_kinds: Vec<Option<bool>> = columns
                .iter()
                .map(|c| {
                    let t = have
                        .iter()
                        .find(|(n, _)| n == c)
                        .map(|(_, t)| t.to_ascii_lowercase())
                        .unwrap_or_default();
                    if t.starts_with("datetime") || t.starts_with("timestamp") {
                        Some(true)
                    } else if t == "date" {
                        Some(false)
                    } else {
                        None
                    }
                })
                .collect();
            let rows: Vec<Vec<Option<String>>> = rows
                .iter()
                .map(|r| {
                    r.iter()
                        .zip(&date_kinds)
                        .map(|(v, kind)| match (v, kind) {
                            (Some(s), Some(with_time)) => Some(mysql_datetime(s, *with_time)),
                            (v, _) => v.clone(),
                        })
                        .collect()
                })
                .collect();
            let rows = &rows;
            let keys: Vec<Option<String>> = conn
                .query(format!(
                    "SELECT CAST({qk} AS CHAR) FROM {qt} WHERE {qk} IS NOT NULL"
                ))
                .await
                .map_err(|e| write_err(table, db, e))?;
            let mut existing: HashSet<String> = keys.into_iter().flatten().collect();
            let steps = plan(&mut existing, &mut counts);
            if dry_run {
                let _ = conn.disconnect().await;
                return Ok(counts);
            }
            let (insert, update) = plain_statements(db.driver, &qt, &qk, columns);
            let mut tx = conn
                .start_transaction(mysql_async::TxOpts::default())
                .await
                .map_err(|e| write_err(table, db, e))?;
            for (i, is_update) in steps {
                let row = &rows[i];
                let mut params: Vec<mysql_async::Value> = row
                    .iter()
                    .map(|v| match v {
                        Some(s) => mysql_async::Value::Bytes(s.clone().into_bytes()),
                        None => mysql_async::Value::NULL,
                    })
                    .collect();
                if is_update {
                    params.push(match &row[key_idx] {
                        Some(s) => mysql_async::Value::Bytes(s.clone().into_bytes()),
                        None => mysql_async::Value::NULL,
                    });
                }
                tx.exec_drop(if is_update { &update } else { &insert }, params)
                    .await
                    .map_err(|e| write_err(table, db, e))?;
            }
            tx.commit().await.map_err(|e| write_err(table, db, e))?;
            let _ = conn.disconnect().await;
        }
        Driver::Mssql => {
            return Err(TableError::Write {
                table: table.to_string(),
                message: "pulling into a SQL Server table is not supported yet; pull into a csv or json file instead".into(),
            });
        }
    }
    Ok(counts)
}

/// An ISO-8601 instant as MySQL's UTC `YYYY-MM-DD HH:MM:SS.fff` (or `YYYY-MM-DD`); other
/// text is kept as it is.
fn mysql_datetime(s: &str, with_time: bool) -> String {
    match chrono::DateTime::parse_from_rfc3339(s.trim()) {
        Ok(d) => {
            let d = d.with_timezone(&chrono::Utc);
            if with_time {
                d.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
            } else {
                d.format("%Y-%m-%d").to_string()
            }
        }
        Err(_) => s.to_string(),
    }
}

fn plain_statements(driver: Driver, qt: &str, qk: &str, columns: &[String]) -> (String, String) {
    let insert = format!(
        "INSERT INTO {qt} ({}) VALUES ({})",
        columns
            .iter()
            .map(|c| quote(driver, c))
            .collect::<Vec<_>>()
            .join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    let update = format!(
        "UPDATE {qt} SET {} WHERE {qk} = ?",
        columns
            .iter()
            .map(|c| format!("{} = ?", quote(driver, c)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (insert, update)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_cells() {
        assert_eq!(quote(Driver::Postgres, "s.t\"x"), "\"s\".\"t\"\"x\"");
        assert_eq!(quote(Driver::Mysql, "a`b"), "`a``b`");
        assert_eq!(quote(Driver::Sqlite, "a.b"), "\"a.b\"");
        assert_eq!(
            cell(&serde_json::json!(true), Driver::Mysql).as_deref(),
            Some("1")
        );
        assert_eq!(
            cell(&serde_json::json!({"a": 1}), Driver::Postgres).as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(cell(&Value::Null, Driver::Sqlite), None);
        assert_eq!(
            mysql_datetime("2024-03-01T12:00:00.5+02:00", true),
            "2024-03-01 10:00:00.500"
        );
        assert_eq!(mysql_datetime("2024-03-01T00:30:00Z", false), "2024-03-01");
        assert_eq!(mysql_datetime("soon", true), "soon");
    }
}
