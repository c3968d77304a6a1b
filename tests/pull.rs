//! Pull operations end to end: entries of an emulator data source into real PostgreSQL,
//! MariaDB and SQLite tables (upsert: a second pull updates, never duplicates), into CSV and
//! JSON files, with the write-back column; dry runs write nothing; a table missing a mapped
//! column is an error before anything is written.

mod common;

use common::*;
use fliplet_agent::sync::run::{preview_job, run_job};
use serde_json::{Value, json};
use sqlx::Row;

fn seed(env: &Env) -> Vec<u64> {
    env.emu.insert_entries(
        env.ds(),
        vec![
            json!({"Email": "ann@acme.test", "First name": "Ann", "Age": 31, "Active": true, "Joined": "2024-03-01T10:00:00.000Z", "syncedAt": ""}),
            json!({"Email": "bob@acme.test", "First name": "Bob", "Age": 45, "Active": false, "syncedAt": ""}),
            json!({"Email": "cy@acme.test", "First name": "Cy", "Age": null, "Active": true, "syncedAt": 1}),
        ],
    )
}

fn pull_job(env: &Env, connection: &str, table: &str, extra: &str) -> String {
    format!(
        "{}connections:\n  main:\n    {connection}\noperations:\n  - type: pull\n    description: Pull leads\n    datasource_id: {}\n    order: [[data.Email, ASC]]\n    target:\n      type: table\n      connection: main\n      table: {table}\n      key: email\n      columns:\n        Email: email\n        First name: first_name\n        Age: age\n        Active: active\n        Joined: joined\n        $id: entry_id\n{extra}",
        env.multi_header(),
        env.ds()
    )
}

#[tokio::test]
async fn pull_into_postgres_upserts_by_key() {
    let env = Env::new().await;
    seed(&env);
    let pool = pg().await;
    let table = unique("pull_pg");
    pg_exec(
        &pool,
        &format!("CREATE TABLE {table} (email TEXT, first_name TEXT, age INTEGER, active BOOLEAN, joined TIMESTAMPTZ, entry_id BIGINT, note TEXT DEFAULT 'kept')"),
    )
    .await;
    let (job, _) = env.multi_job("pg.yml", &pull_job(&env, &pg_connection_yaml(), &table, ""));

    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let p = r.operations[0].pull.clone().unwrap();
    assert_eq!(p.fetched, 3);
    assert_eq!(p.table.unwrap().inserted, 3);

    // Change one entry and pull again: updated in place, not duplicated.
    let entries = env.emu.entries(env.ds());
    let bob = entries
        .iter()
        .find(|e| e.data["Email"] == json!("bob@acme.test"))
        .unwrap();
    let mut data = bob.data.clone();
    data["Age"] = json!(46);
    let commit = fliplet_agent::fliplet::Client::new(
        fliplet_agent::secret::Secret::new(env.basic.token.clone()),
        fliplet_agent::fliplet::ClientOptions {
            base_url: Some(env.emu.url()),
            ..Default::default()
        },
    )
    .unwrap();
    let rows = [fliplet_agent::fliplet::CommitRow {
        id: Some(bob.id),
        data,
    }];
    commit
        .commit(
            env.ds(),
            &fliplet_agent::fliplet::CommitRequest {
                append: true,
                entries: &rows,
                delete: None,
                run_hooks: vec![],
                extend: None,
                return_entries: false,
            },
        )
        .await
        .unwrap();

    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let t = r.operations[0].pull.clone().unwrap().table.unwrap();
    assert_eq!((t.inserted, t.updated), (0, 3));
    let rows = sqlx::query(&format!(
        "SELECT email, first_name, age, active, entry_id, note, joined FROM {table} ORDER BY email"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "no duplicates");
    assert_eq!(rows[1].get::<String, _>(0), "bob@acme.test");
    assert_eq!(rows[1].get::<i32, _>(2), 46);
    assert!(!rows[1].get::<bool, _>(3));
    assert_eq!(rows[1].get::<i64, _>(4), bob.id as i64);
    assert_eq!(
        rows[1].get::<String, _>(5),
        "kept",
        "unmapped columns untouched"
    );
    assert_eq!(rows[2].get::<Option<i32>, _>(2), None);
    assert_eq!(
        rows[0]
            .get::<chrono::DateTime<chrono::Utc>, _>(6)
            .to_rfc3339(),
        "2024-03-01T10:00:00+00:00"
    );
    pg_exec(&pool, &format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn pull_into_mariadb_upserts_by_key() {
    let env = Env::new().await;
    seed(&env);
    let pool = mysql().await;
    let table = unique("pull_my");
    mysql_exec(
        &pool,
        &format!("CREATE TABLE {table} (email VARCHAR(100), first_name VARCHAR(100), age INT, active TINYINT(1), joined DATETIME(3), entry_id BIGINT)"),
    )
    .await;
    let (job, _) = env.multi_job(
        "my.yml",
        &pull_job(&env, &mysql_connection_yaml(), &table, ""),
    );
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    // Unchanged data pulled again: still three rows (MySQL reports 0 changed rows for an
    // update that changes nothing; the key lookup does not depend on it).
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let t = r.operations[0].pull.clone().unwrap().table.unwrap();
    assert_eq!((t.inserted, t.updated), (0, 3));
    let rows = sqlx::query(&format!(
        "SELECT email, age, active, CAST(joined AS CHAR) FROM {table} ORDER BY email"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].get::<i32, _>(1), 31);
    assert_eq!(rows[1].get::<i8, _>(2), 0);
    assert_eq!(rows[0].get::<String, _>(3), "2024-03-01 10:00:00.000");
    assert_eq!(rows[1].get::<Option<String>, _>(3), None);
    mysql_exec(&pool, &format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn pull_into_sqlite_and_a_missing_column_is_an_error_before_writing() {
    let env = Env::new().await;
    seed(&env);
    let (_, db) = sqlite(
        &env,
        "CREATE TABLE leads (email TEXT, first_name TEXT, age INTEGER, active INTEGER, joined TEXT); INSERT INTO leads VALUES ('old@acme.test', 'Old', 1, 1, NULL);",
    )
    .await;
    let conn = format!("driver: sqlite\n    name: {}", db.display());
    let (job, _) = env.multi_job(
        "missing.yml",
        &format!(
            "{}\n  - type: pull\n    datasource_id: {}\n    target: {{type: csv, path: never.csv}}\n",
            pull_job(&env, &conn, "leads", "    write_back: {column: syncedAt, value: now}"),
            env.ds()
        ),
    );
    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    let e = r.operations[0].error.clone().unwrap();
    assert!(
        e.contains("leads") && e.contains("\"entry_id\"") && e.contains("$id"),
        "{e}"
    );
    assert!(
        env.commits().is_empty(),
        "no write-back after a failed write"
    );
    // The next operation still runs (series), and the table is unchanged.
    assert!(r.operations[1].error.is_none());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);

    // A missing table is named too.
    let (job, _) = env.multi_job("notable.yml", &pull_job(&env, &conn, "nope", ""));
    let e = run_job(&job, false, None).await.operations[0]
        .error
        .clone()
        .unwrap();
    assert!(e.contains("The table nope does not exist"), "{e}");

    // With the column added it works, including the old row being kept.
    sqlite_exec(&db, "ALTER TABLE leads ADD COLUMN entry_id INTEGER").await;
    let (job, _) = env.multi_job("ok.yml", &pull_job(&env, &conn, "leads", ""));
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 4);
    let age: i64 = sqlx::query_scalar("SELECT age FROM leads WHERE email = 'bob@acme.test'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(age, 45);
}

#[tokio::test]
async fn pull_into_csv_with_where_attributes_and_write_back() {
    let env = Env::new().await;
    let ids = seed(&env);
    let text = format!(
        "{}operations:\n  - type: pull\n    datasource_id: {}\n    where:\n      syncedAt: ''\n    attributes: [Email, First name]\n    order: [[data.Email, DESC]]\n    target:\n      type: csv\n      path: out/leads.csv\n    write_back:\n      column: syncedAt\n      value: now\n",
        env.multi_header(),
        env.ds()
    );
    std::fs::create_dir(env.dir.path().join("out")).unwrap();
    let (job, path) = env.multi_job("csv.yml", &text);
    let csv_path = path.parent().unwrap().join("out/leads.csv");

    // Dry run: nothing written anywhere.
    env.emu.clear_journal();
    let r = run_job(&job, true, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.operations[0].pull.as_ref().unwrap().fetched, 2);
    assert!(!csv_path.exists());
    assert!(
        env.writes().iter().all(|w| w.ends_with("/data/query")),
        "{:?}",
        env.writes()
    );
    let p = preview_job(&job, None).await;
    assert_eq!(p.operations[0].pull.as_ref().unwrap().sample.len(), 2);
    assert!(!csv_path.exists());

    let before = chrono::Utc::now().timestamp_millis();
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.operations[0].pull.as_ref().unwrap().written_back, 2);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(
        csv,
        format!(
            "id,Email,First name\n{},bob@acme.test,Bob\n{},ann@acme.test,Ann\n",
            ids[1], ids[0]
        )
    );
    // The write-back: a ms epoch on the pulled entries only, other columns kept (extend).
    let entries = env.emu.entries(env.ds());
    for e in &entries[..2] {
        let ts = e.data["syncedAt"].as_i64().unwrap();
        assert!(
            ts >= before && ts <= chrono::Utc::now().timestamp_millis(),
            "{ts}"
        );
        assert!(e.data["First name"].is_string());
    }
    assert_eq!(entries[2].data["syncedAt"], json!(1));
    let commits = env.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0]["extend"], json!(true));
    assert_eq!(commits[0]["append"], json!(true));

    // Already synced entries are not pulled again; the file now has only the header.
    let r = run_job(&job, false, None).await;
    assert_eq!(r.operations[0].pull.as_ref().unwrap().fetched, 0);
    assert_eq!(
        std::fs::read_to_string(&csv_path).unwrap(),
        "id,Email,First name\n"
    );
}

#[tokio::test]
async fn pull_into_json_file_and_a_missing_folder_is_an_error() {
    let env = Env::new().await;
    let ids = seed(&env);
    let text = format!(
        "{}operations:\n  - type: pull\n    datasource_id: {}\n    limit: 1\n    target: {{type: json, path: entries.json}}\n  - type: pull\n    datasource_id: {}\n    target: {{type: json, path: no/such/dir/entries.json}}\n",
        env.multi_header(),
        env.ds(),
        env.ds()
    );
    let (job, path) = env.multi_job("json.yml", &text);
    let r = run_job(&job, false, None).await;
    let v: Value = serde_json::from_slice(
        &std::fs::read(path.parent().unwrap().join("entries.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        v,
        json!([{"id": ids[0], "data": {"Active": true, "Age": 31, "Email": "ann@acme.test", "First name": "Ann", "Joined": "2024-03-01T10:00:00.000Z", "syncedAt": ""}}])
    );
    let e = r.operations[1].error.clone().unwrap();
    assert!(e.contains("does not exist"), "{e}");
}

#[tokio::test]
async fn pull_dry_run_into_a_table_writes_nothing() {
    let env = Env::new().await;
    seed(&env);
    let pool = pg().await;
    let table = unique("pull_dry");
    pg_exec(&pool, &format!("CREATE TABLE {table} (email TEXT, first_name TEXT, age INTEGER, active BOOLEAN, joined TIMESTAMPTZ, entry_id BIGINT)")).await;
    pg_exec(
        &pool,
        &format!("INSERT INTO {table} (email) VALUES ('ann@acme.test')"),
    )
    .await;
    let (job, _) = env.multi_job(
        "dry.yml",
        &pull_job(
            &env,
            &pg_connection_yaml(),
            &table,
            "    write_back: {column: syncedAt, value: now}",
        ),
    );
    env.emu.clear_journal();
    let p = preview_job(&job, None).await;
    assert!(p.succeeded(), "{p:?}");
    let t = p.operations[0].pull.as_ref().unwrap().table.unwrap();
    assert_eq!((t.inserted, t.updated), (2, 1));
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(env.commits().is_empty());
    pg_exec(&pool, &format!("DROP TABLE {table}")).await;
}
