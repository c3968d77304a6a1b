//! MySQL/MariaDB source against a real server.
//!
//! Connection settings (env vars, with defaults):
//! - `FLIPLET_TEST_MYSQL_HOST` (127.0.0.1), `FLIPLET_TEST_MYSQL_PORT` (3306),
//! - `FLIPLET_TEST_MYSQL_USER` (root), `FLIPLET_TEST_MYSQL_PASSWORD` (empty),
//! - `FLIPLET_TEST_MYSQL_DB` (test).
//!
//! Each test creates its own uniquely named table (or user) and drops it afterwards, so tests
//! run in parallel.

use fliplet_agent::config::DatabaseConfig;
use fliplet_agent::secret::Secret;
use fliplet_agent::source::{self, SourceError};
use serde_json::{Value, json};
use sqlx::Executor;

mod common;

use common::unique;

fn config() -> DatabaseConfig {
    common::mysql_config()
}

async fn admin() -> sqlx::MySqlConnection {
    common::mysql_conn().await
}

#[tokio::test]
async fn every_type_maps_like_the_original() {
    let table = unique("src_my_types");
    let mut conn = admin().await;
    conn.execute(
        format!(
            "CREATE TABLE {table} (
                id int, small smallint, yr year, flag tinyint(1), big bigint,
                ubig bigint unsigned, num decimal(12,4), f float, d double, ch char(5),
                vc varchar(20), txt text, dtm datetime(3), ts timestamp(3) NULL, dt date,
                tm time, j json, vb varbinary(10), bl blob, bt bit(8), en enum('a','b'),
                `Full Name` varchar(20), `ünï cödé` varchar(20))"
        )
        .as_str(),
    )
    .await
    .unwrap();
    conn.execute(
        format!(
            r#"INSERT INTO {table} VALUES
            (1, 7, 2024, 1, 9007199254740993, 18446744073709551615, 1234.5678, 1.5, -0.5,
             'ab', 'hello', 'long text', '2024-03-05 09:14:27.512', '2024-03-05 09:14:27.512',
             '2024-03-05', '13:45:00', '{{"a":1}}', 0x0102ff, 0x41, b'101', 'b', 'Ann', 'ü'),
            (2, -7, 1999, 0, -5, 5, 0, 2, 0.25, '', '', '', '2024-12-31 23:59:59',
             '2024-12-31 23:59:59', '2024-12-31', '23:59:59', 'null', '', '', b'0', 'a', '', ''),
            (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, '[]', NULL, NULL, NULL, NULL, NULL, NULL)"#
        )
        .as_str(),
    )
    .await
    .unwrap();
    let result = source::fetch(
        &config(),
        &format!("SELECT * FROM {table} ORDER BY id"),
        None,
    )
    .await;
    conn.execute(format!("DROP TABLE {table}").as_str())
        .await
        .unwrap();
    let t = result.unwrap();
    assert_eq!(
        t.column_names(),
        [
            "id",
            "small",
            "yr",
            "flag",
            "big",
            "ubig",
            "num",
            "f",
            "d",
            "ch",
            "vc",
            "txt",
            "dtm",
            "ts",
            "dt",
            "tm",
            "j",
            "vb",
            "bl",
            "bt",
            "en",
            "Full Name",
            "ünï cödé"
        ]
    );
    assert_eq!(
        t.rows[0],
        vec![
            json!(1),
            json!(7),
            json!(2024),
            json!(1),
            json!("9007199254740993"),
            json!("18446744073709551615"),
            json!("1234.5678"),
            json!(1.5),
            json!(-0.5),
            json!("ab"),
            json!("hello"),
            json!("long text"),
            json!("2024-03-05T09:14:27.512Z"),
            json!("2024-03-05T09:14:27.512Z"),
            json!("2024-03-05"),
            json!("13:45:00"),
            json!("{\"a\":1}"),
            json!({"type": "Buffer", "data": [1, 2, 255]}),
            json!({"type": "Buffer", "data": [65]}),
            json!({"type": "Buffer", "data": [5]}),
            json!("b"),
            json!("Ann"),
            json!("ü"),
        ]
    );
    assert_eq!(
        t.rows[1],
        vec![
            json!(2),
            json!(-7),
            json!(1999),
            json!(0),
            json!(-5),
            json!(5),
            json!("0.0000"),
            json!(2),
            json!(0.25),
            json!(""),
            json!(""),
            json!(""),
            json!("2024-12-31T23:59:59.000Z"),
            json!("2024-12-31T23:59:59.000Z"),
            json!("2024-12-31"),
            json!("23:59:59"),
            json!("null"),
            json!({"type": "Buffer", "data": []}),
            Value::Null,
            json!({"type": "Buffer", "data": [0]}),
            json!("a"),
            json!(""),
            json!(""),
        ]
    );
    let mut expected3 = vec![Value::Null; 23];
    expected3[0] = json!(3);
    expected3[16] = json!("[]");
    assert_eq!(t.rows[2], expected3);
}

#[tokio::test]
async fn expressions_and_limits() {
    let db = config();
    let t = source::fetch(
        &db,
        "SELECT 9007199254740991 AS safe, -9007199254740992 AS unsafe_neg, \
         CAST(1.50 AS DECIMAL(5,2)) AS `dec`, NULL AS nothing, 'x' AS `a b`",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        t.column_names(),
        ["safe", "unsafe_neg", "dec", "nothing", "a b"]
    );
    assert_eq!(
        t.rows[0],
        vec![
            json!(9007199254740991i64),
            json!("-9007199254740992"),
            json!("1.50"),
            Value::Null,
            json!("x"),
        ]
    );

    let t = source::fetch(
        &db,
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100) \
         SELECT n FROM s",
        Some(10),
    )
    .await
    .unwrap();
    assert_eq!(t.rows.len(), 10);
    assert_eq!(t.rows[9], vec![json!(10)]);

    let table = unique("src_my_empty");
    let mut conn = admin().await;
    conn.execute(format!("CREATE TABLE {table} (id int, `Full Name` text)").as_str())
        .await
        .unwrap();
    let result = source::fetch(&db, &format!("SELECT * FROM {table}"), None).await;
    conn.execute(format!("DROP TABLE {table}").as_str())
        .await
        .unwrap();
    let t = result.unwrap();
    assert!(t.rows.is_empty());
    assert_eq!(t.column_names(), ["id", "Full Name"]);
}

#[tokio::test]
async fn test_connection_works() {
    source::test_connection(&config()).await.unwrap();
}

#[tokio::test]
async fn wrong_password_never_shows_the_password() {
    let user = unique("src_my_user");
    let mut conn = admin().await;
    for host in ["%", "localhost", "127.0.0.1"] {
        conn.execute(
            format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY 'right-pw-123'").as_str(),
        )
        .await
        .unwrap();
    }
    let mut db = config();
    db.username = Some(user.clone());
    db.password = Some(Secret::new("s3cr3t-pw-XYZ"));
    let wrong = source::test_connection(&db).await;
    db.password = Some(Secret::new("right-pw-123"));
    db.database = None;
    let right = source::test_connection(&db).await;
    for host in ["%", "localhost", "127.0.0.1"] {
        conn.execute(format!("DROP USER '{user}'@'{host}'").as_str())
            .await
            .unwrap();
    }
    right.unwrap();
    let err = wrong.unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("Access denied"), "{text}");
    assert!(
        text.contains("database_username/database_password"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t-pw-XYZ"), "{text}");
    assert!(!format!("{err:?}").contains("s3cr3t-pw-XYZ"));
}

#[tokio::test]
async fn connection_refused_names_target_and_hint() {
    let mut db = config();
    db.port = Some(1);
    let err = source::fetch(&db, "SELECT 1", None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("Unable to connect to the database (MySQL/MariaDB at 127.0.0.1:1/"),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(text.contains("database_host/database_port"), "{text}");
}

#[tokio::test]
async fn unknown_database_hints_database_name() {
    let mut db = config();
    db.database = Some("no_such_db_xyz".into());
    let err = source::test_connection(&db).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("no_such_db_xyz"), "{text}");
    assert!(text.contains("Check database_name"), "{text}");
}

#[tokio::test]
async fn syntax_error_is_a_query_error() {
    let err = source::fetch(&config(), "SELEC 1", None).await.unwrap_err();
    match &err {
        SourceError::Query { message } => {
            assert!(message.contains("SQL syntax"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}
