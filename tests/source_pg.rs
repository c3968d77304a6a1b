//! PostgreSQL source against a real server.
//!
//! Connection settings (env vars, with defaults):
//! - `FLIPLET_TEST_PG_HOST` (127.0.0.1), `FLIPLET_TEST_PG_PORT` (5432),
//! - `FLIPLET_TEST_PG_USER` (postgres), `FLIPLET_TEST_PG_PASSWORD` (none),
//! - `FLIPLET_TEST_PG_DB` (test).
//!
//! Each test creates its own uniquely named table and drops it afterwards, so tests run in
//! parallel.

use chrono::{NaiveDate, TimeZone};
use fliplet_agent::config::DatabaseConfig;
use fliplet_agent::secret::Secret;
use fliplet_agent::source::{self, SourceError};
use serde_json::{Value, json};
use sqlx::Executor;

mod common;

use common::unique;

fn config() -> DatabaseConfig {
    common::pg_config()
}

async fn admin() -> sqlx::PgConnection {
    common::pg_conn().await
}

fn local_iso(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> String {
    let naive = NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_milli_opt(h, mi, s, ms)
        .unwrap();
    chrono::Local
        .from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[tokio::test]
async fn every_type_maps_like_the_original() {
    let table = unique("src_pg_types");
    let mut conn = admin().await;
    conn.execute(
        format!(
            r#"CREATE TABLE {table} (
                id int, small smallint, big bigint, num numeric(12,4), r real,
                d double precision, b boolean, txt text, vc varchar(20), ch char(5),
                ts timestamp, tstz timestamptz, dt date, tm time, j json, jb jsonb, u uuid,
                by bytea, arr int[], tarr text[], iv interval, ip inet,
                "Full Name" text, "ünï cödé" text)"#
        )
        .as_str(),
    )
    .await
    .unwrap();
    conn.execute(
        format!(
            r#"INSERT INTO {table} VALUES
            (1, 7, 9007199254740993, 1234.5678, 1.5, -0.5, true, 'hello', 'v', 'ab',
             '2024-03-05 09:14:27.512', '2024-03-05 09:14:27.512+02', '2024-03-05', '13:45:00',
             '{{"a":1}}', 'null', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '\x0102ff',
             '{{1,2,3}}', '{{"a b",NULL,"x\"y"}}', '1 day 02:00:00', '10.0.0.1/8', 'Ann', 'ü'),
            (2, -7, -5, 0, 0.25, 1e300, false, '', '', '',
             '2024-12-31 23:59:59', '2024-12-31 23:59:59+00', '2024-12-31', '23:59:59.5',
             '[]', '[]', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '',
             '{{}}', '{{}}', '0', '::1', '', ''),
            (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"#
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
            "big",
            "num",
            "r",
            "d",
            "b",
            "txt",
            "vc",
            "ch",
            "ts",
            "tstz",
            "dt",
            "tm",
            "j",
            "jb",
            "u",
            "by",
            "arr",
            "tarr",
            "iv",
            "ip",
            "Full Name",
            "ünï cödé"
        ]
    );
    assert_eq!(t.columns[2].type_name, "INT8");
    assert_eq!(t.columns[11].type_name, "TIMESTAMPTZ");
    assert_eq!(t.rows.len(), 3);
    let expected1 = vec![
        json!(1),
        json!(7),
        json!("9007199254740993"),
        json!("1234.5678"),
        json!(1.5),
        json!(-0.5),
        json!(true),
        json!("hello"),
        json!("v"),
        json!("ab   "),
        json!(local_iso(2024, 3, 5, 9, 14, 27, 512)),
        json!("2024-03-05T07:14:27.512Z"),
        json!("2024-03-05"),
        json!("13:45:00"),
        json!({"a": 1}),
        Value::Null,
        json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        json!({"type": "Buffer", "data": [1, 2, 255]}),
        json!([1, 2, 3]),
        json!(["a b", null, "x\"y"]),
        json!({"days": 1, "hours": 2}),
        json!("10.0.0.1/8"),
        json!("Ann"),
        json!("ü"),
    ];
    assert_eq!(t.rows[0], expected1);
    let expected2 = vec![
        json!(2),
        json!(-7),
        json!("-5"),
        json!("0.0000"),
        json!(0.25),
        json!(1e300),
        json!(false),
        json!(""),
        json!(""),
        json!("     "),
        json!(local_iso(2024, 12, 31, 23, 59, 59, 0)),
        json!("2024-12-31T23:59:59.000Z"),
        json!("2024-12-31"),
        json!("23:59:59.5"),
        json!([]),
        json!([]),
        json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        json!({"type": "Buffer", "data": []}),
        json!([]),
        json!([]),
        json!({}),
        json!("::1"),
        json!(""),
        json!(""),
    ];
    assert_eq!(t.rows[1], expected2);
    let mut expected3 = vec![Value::Null; 24];
    expected3[0] = json!(3);
    assert_eq!(t.rows[2], expected3);
}

#[tokio::test]
async fn expressions_floats_and_arrays() {
    let t = source::fetch(
        &config(),
        "SELECT 'NaN'::float8 AS nan, 'Infinity'::float4 AS inf, 0.1::float4 AS f4, \
         ARRAY[1,NULL]::bigint[] AS big_arr, ARRAY[1.5,2]::numeric[] AS num_arr, \
         ARRAY[true,false] AS bools, '{\"a\":[1,{\"b\":null}]}'::jsonb AS nested, \
         interval '1 year 2 months 3 days 04:05:06.789' AS iv, \
         interval '-1 days +02:00:00' AS neg, \
         'infinity'::timestamptz AS inf_ts, 42::oid AS oid",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        t.rows[0],
        vec![
            Value::Null,
            Value::Null,
            json!(0.1),
            json!(["1", null]),
            json!([1.5, 2]),
            json!([true, false]),
            json!({"a": [1, {"b": null}]}),
            json!({"years": 1, "months": 2, "days": 3, "hours": 4, "minutes": 5,
                   "seconds": 6, "milliseconds": 789}),
            json!({"days": -1, "hours": 2}),
            Value::Null,
            json!(42),
        ]
    );
}

#[tokio::test]
async fn limit_and_empty_results_keep_columns() {
    let db = config();
    let t = source::fetch(
        &db,
        "SELECT g AS n, 'x' || g AS \"Label\" FROM generate_series(1, 100) g",
        Some(10),
    )
    .await
    .unwrap();
    assert_eq!(t.rows.len(), 10);
    assert_eq!(t.rows[9], vec![json!(10), json!("x10")]);

    let t = source::fetch(&db, "SELECT g AS n FROM generate_series(1, 5) g", None)
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 5);

    let table = unique("src_pg_empty");
    let mut conn = admin().await;
    conn.execute(format!(r#"CREATE TABLE {table} (id int, "Full Name" text)"#).as_str())
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
async fn connection_refused_names_target_and_hint() {
    let mut db = config();
    db.port = Some(1);
    db.password = Some(Secret::new("s3cr3t-pw-XYZ"));
    let err = source::fetch(&db, "SELECT 1", None).await.unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("Unable to connect to the database (PostgreSQL at 127.0.0.1:1/"),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(text.contains("database_host/database_port"), "{text}");
    assert!(!text.contains("s3cr3t-pw-XYZ"));
}

#[tokio::test]
async fn bad_login_never_shows_the_password() {
    // The local server uses trust auth, so an unknown role is the rejected login here.
    let mut db = config();
    db.username = Some("no_such_role_xyz".into());
    db.password = Some(Secret::new("s3cr3t-pw-XYZ"));
    let err = source::test_connection(&db).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(text.contains("no_such_role_xyz"), "{text}");
    assert!(
        text.contains("database_username/database_password"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t-pw-XYZ"), "{text}");
    assert!(!format!("{err:?}").contains("s3cr3t-pw-XYZ"));
}

#[tokio::test]
async fn unknown_database_hints_database_name() {
    let mut db = config();
    db.database = Some("no_such_db_xyz".into());
    let err = source::test_connection(&db).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("no_such_db_xyz"), "{text}");
    assert!(text.contains("database_name"), "{text}");
}

#[tokio::test]
async fn syntax_error_is_a_query_error() {
    let err = source::fetch(&config(), "SELEC 1", None).await.unwrap_err();
    match &err {
        SourceError::Query { message } => assert!(message.contains("syntax error"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("Cannot execute database query: syntax error")
    );
}

/// Timing of 50k rows of (int, text, text, timestamptz), including the server and the network.
/// Run with: `cargo test --release --test source_pg -- --ignored --nocapture perf`.
#[tokio::test]
#[ignore]
async fn perf_50k_rows() {
    let query = "SELECT g AS id, 'name ' || g AS name, md5(g::text) AS note, \
                 timestamptz '2024-03-05 09:14:27.512+00' + g * interval '1 second' AS at \
                 FROM generate_series(1, 50000) g";
    let db = config();
    source::fetch(&db, query, None).await.unwrap();
    // CPU time of this thread (the current-thread runtime runs everything here), Linux only.
    let cpu_ns = || -> Option<u64> {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        s.split_whitespace().next()?.parse().ok()
    };
    let start = std::time::Instant::now();
    let cpu_start = cpu_ns();
    let t = source::fetch(&db, query, None).await.unwrap();
    let elapsed = start.elapsed();
    let cpu = cpu_start.zip(cpu_ns()).map(|(a, b)| (b - a) as f64 / 1e9);
    assert_eq!(t.rows.len(), 50_000);
    assert_eq!(t.rows[0][3], json!("2024-03-05T09:14:28.512Z"));
    println!("50k rows fetched and mapped in {elapsed:?} wall, {cpu:?} s CPU in this process");
}
