//! SQLite source against real database files.
//!
//! No server or environment variables: each test creates its own database file in a fresh
//! temporary directory (removed afterwards), so tests run in parallel.

use std::path::Path;

use fliplet_agent::config::{DatabaseConfig, Driver};
use fliplet_agent::source::{self, SourceError};
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

fn config(path: &Path) -> DatabaseConfig {
    DatabaseConfig {
        driver: Driver::Sqlite,
        host: None,
        port: None,
        username: None,
        password: None,
        database: Some(path.to_string_lossy().into_owned()),
        domain: None,
        instance: None,
        encrypt: None,
        native_odbc: false,
    }
}

async fn create(path: &Path, sql: &str) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn storage_classes_map_per_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    create(
        &path,
        r#"CREATE TABLE t (id INTEGER, big INTEGER, r REAL, txt TEXT, b BLOB, anything,
                           "Full Name" TEXT, "ünï cödé" TEXT);
           INSERT INTO t VALUES (1, 9007199254740993, 1.5, 'hello', x'0102ff', 'text', 'Ann', 'ü');
           INSERT INTO t VALUES (2, -5, 2.0, '', x'', 42, '', '');
           INSERT INTO t VALUES (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"#,
    )
    .await;
    let t = source::fetch(&config(&path), "SELECT * FROM t ORDER BY id", None)
        .await
        .unwrap();
    assert_eq!(
        t.column_names(),
        [
            "id",
            "big",
            "r",
            "txt",
            "b",
            "anything",
            "Full Name",
            "ünï cödé"
        ]
    );
    assert_eq!(
        t.rows[0],
        vec![
            json!(1),
            json!(9007199254740993i64),
            json!(1.5),
            json!("hello"),
            json!({"type": "Buffer", "data": [1, 2, 255]}),
            json!("text"),
            json!("Ann"),
            json!("ü"),
        ]
    );
    assert_eq!(
        t.rows[1],
        vec![
            json!(2),
            json!(-5),
            json!(2),
            json!(""),
            json!({"type": "Buffer", "data": []}),
            json!(42),
            json!(""),
            json!(""),
        ]
    );
    let mut expected3 = vec![Value::Null; 8];
    expected3[0] = json!(3);
    assert_eq!(t.rows[2], expected3);
}

#[tokio::test]
async fn limit_empty_results_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    create(
        &path,
        "CREATE TABLE t (id INTEGER, name TEXT);
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100)
         INSERT INTO t SELECT n, 'row ' || n FROM s;
         CREATE TABLE empty (id INTEGER, \"Full Name\" TEXT);",
    )
    .await;
    let db = config(&path);
    let t = source::fetch(&db, "SELECT * FROM t ORDER BY id", Some(10))
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 10);
    assert_eq!(t.rows[9], vec![json!(10), json!("row 10")]);
    assert_eq!(
        source::fetch(&db, "SELECT * FROM t", None)
            .await
            .unwrap()
            .rows
            .len(),
        100
    );

    let t = source::fetch(&db, "SELECT * FROM empty", None)
        .await
        .unwrap();
    assert!(t.rows.is_empty());
    assert_eq!(t.column_names(), ["id", "Full Name"]);

    let err = source::fetch(&db, "SELEC 1", None).await.unwrap_err();
    match &err {
        SourceError::Query { message } => assert!(message.contains("syntax error"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Opened read-only.
    let err = source::fetch(&db, "DELETE FROM t", None).await.unwrap_err();
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert!(err.to_string().contains("readonly"), "{err}");
    source::test_connection(&db).await.unwrap();
}

#[tokio::test]
async fn missing_file_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let err = source::fetch(&config(&path), "SELECT 1", None)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    assert!(!path.exists());

    let mut db = config(&path);
    db.database = None;
    let err = source::test_connection(&db).await.unwrap_err();
    assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("database_name"), "{err}");
}
