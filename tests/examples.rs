//! Each example of docs/from-javascript.md (the files under
//! `examples/js-equivalents/`) is loaded and run: against the emulator, the local test HTTP
//! server, the files next to it and the real PostgreSQL. Only what differs on this machine
//! is substituted (token, API URL, data source ID, server addresses, database login).
//! The docs (from-javascript.md, and multi-operation.md for `examples/multi/multi.yml`) must
//! contain each file verbatim, so the documentation cannot drift.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use fliplet_agent::sync::run::run_job;
use serde_json::{Value, json};
use sqlx::Row;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/js-equivalents")
}

fn example(name: &str) -> String {
    std::fs::read_to_string(example_dir().join(name)).unwrap()
}

/// Copy the example's data files next to the job and write the adapted job there.
fn prepare(env: &Env, name: &str, subs: &[(&str, String)]) -> fliplet_agent::config::Job {
    let data = env.dir.path().join("data");
    if !data.exists() {
        std::fs::create_dir(&data).unwrap();
        for f in std::fs::read_dir(example_dir().join("data")).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), data.join(f.file_name())).unwrap();
        }
    }
    let mut text = example(name);
    let mut all: Vec<(&str, String)> = vec![
        (
            "auth_token: eu--123456789",
            format!(
                "auth_token: {}\napi_url: {}",
                env.basic.token,
                env.emu.url()
            ),
        ),
        ("datasource_id: 123", format!("datasource_id: {}", env.ds())),
    ];
    all.extend(subs.iter().cloned());
    for (from, to) in all {
        assert!(text.contains(from), "{name} has no {from:?}");
        text = text.replace(from, &to);
    }
    env.multi_job(name, &text).0
}

#[test]
fn the_docs_show_every_example_verbatim() {
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/from-javascript.md"),
    )
    .unwrap();
    let mut n = 0;
    for f in std::fs::read_dir(example_dir()).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "yml") {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                readme.contains(text.trim()),
                "docs/from-javascript.md lacks {}",
                p.display()
            );
            fliplet_agent::config::load_job(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert_eq!(n, 6);
}

#[tokio::test]
async fn example_1_api_source() {
    let env = Env::new().await;
    let srv = http_server::start().await;
    let job = prepare(
        &env,
        "1-api-source.yml",
        &[("https://jsonplaceholder.typicode.com", srv.url.clone())],
    );
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(env.data().len(), 7);
    assert_eq!(srv.requests(), vec!["GET /todos"]);
}

#[tokio::test]
async fn example_2_static_data() {
    let env = Env::new().await;
    let job = prepare(&env, "2-static-data.yml", &[]);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let data = env.data();
    assert_eq!(data[0]["foo"], json!("bar"));
    assert_eq!(data[1]["bar"], json!("baz"));
}

#[tokio::test]
async fn example_3_json_file_with_on_sync() {
    let env = Env::new().await;
    let job = prepare(&env, "3-json-file.yml", &[]);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(env.data()[1]["name"], json!("Bob"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(env.dir.path().join("last-sync.json")).unwrap())
            .unwrap();
    assert_eq!(summary["operation"]["counts"]["inserted"], json!(2));
}

#[tokio::test]
async fn example_4_csv_file() {
    let env = Env::new().await;
    let job = prepare(&env, "4-csv-file.yml", &[]);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        env.data()[1],
        json!({"id": "2", "name": "Bob, Jr", "office": "Paris"})
    );
}

#[tokio::test]
async fn example_5_sharepoint_list() {
    let env = Env::new().await;
    let srv = http_server::start().await;
    let job = prepare(
        &env,
        "5-sharepoint-list.yml",
        &[
            ("https://example.sharepoint.com", srv.url.clone()),
            ("keychain:sharepoint-token", "Bearer sp-token".into()),
        ],
    );
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let ids: Vec<i64> = env
        .data()
        .iter()
        .map(|d| d["ID"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    assert_eq!(srv.requests().len(), 3, "{:?}", srv.requests());
}

#[tokio::test]
async fn example_6_pull_into_a_table() {
    let env = Env::new().await;
    env.emu.insert_entries(
        env.ds(),
        vec![
            json!({"Email": "ann@acme.test", "First name": "Ann", "Last name": "Lee", "Company": "Acme", "syncedAt": ""}),
            json!({"Email": "bob@acme.test", "First name": "Bob", "Last name": "Ray", "Company": "Initech", "syncedAt": ""}),
        ],
    );
    let pool = pg().await;
    let table = unique("my_table");
    pg_exec(
        &pool,
        &format!(
            "CREATE TABLE {table} (email TEXT, first_name TEXT, last_name TEXT, company TEXT)"
        ),
    )
    .await;
    let job = prepare(
        &env,
        "6-pull-into-table.yml",
        &[
            (
                "host: localhost",
                format!("host: {}", env_or("FLIPLET_TEST_PG_HOST", "127.0.0.1")),
            ),
            (
                "port: 5432",
                format!("port: {}", env_or("FLIPLET_TEST_PG_PORT", "5432")),
            ),
            (
                "username: sync",
                format!("username: {}", env_or("FLIPLET_TEST_PG_USER", "postgres")),
            ),
            ("    password: keychain:db-password\n", String::new()),
            (
                "name: crm",
                format!("name: {}", env_or("FLIPLET_TEST_PG_DB", "test")),
            ),
            ("table: my_table", format!("table: {table}")),
        ],
    );
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let rows = sqlx::query(&format!(
        "SELECT email, company FROM {table} ORDER BY email"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].get::<String, _>(1), "Initech");
    assert!(env.data().iter().all(|d| d["syncedAt"].is_i64()));
    // Second run: nothing left to pull.
    let r = run_job(&job, false, None).await;
    assert_eq!(r.operations[0].pull.as_ref().unwrap().fetched, 0);
    pg_exec(&pool, &format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn the_multi_operation_overview_example_runs() {
    let env = Env::new().await;
    let srv = http_server::start().await;
    let all = [
        fliplet_emulator::Perm::Select,
        fliplet_emulator::Perm::Insert,
        fliplet_emulator::Perm::Update,
        fliplet_emulator::Perm::Delete,
    ];
    let ds2 = env.emu.add_data_source(env.basic.organization_id, "todos");
    env.emu.grant(&env.basic.token, ds2, &all);
    let ds3 = env.emu.add_data_source(env.basic.organization_id, "leads");
    env.emu.grant(&env.basic.token, ds3, &all);
    env.emu.insert_entries(
        ds3,
        vec![
            json!({"Email": "ann@acme.test", "Name": "Ann", "syncedAt": ""}),
            json!({"Email": "old@acme.test", "Name": "Old", "syncedAt": 5}),
        ],
    );
    let pool = pg().await;
    let users = unique("users");
    let leads = unique("leads");
    pg_exec(
        &pool,
        &format!(
            "CREATE TABLE {users} (id INTEGER, email TEXT, \"updatedAt\" TEXT);
             INSERT INTO {users} VALUES (1, 'a@x.test', '2024-01-01T00:00:00.000Z'), (2, 'b@x.test', '2024-01-01T00:00:00.000Z');
             CREATE TABLE {leads} (email TEXT, full_name TEXT, fliplet_id BIGINT);"
        ),
    )
    .await;
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/multi-operation.md"),
    )
    .unwrap();
    let mut text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi/multi.yml"),
    )
    .unwrap();
    assert!(readme.contains(text.trim()));
    let subs: Vec<(&str, String)> = vec![
        (
            "auth_token: keychain:fliplet-token      # or the token itself",
            format!(
                "auth_token: {}\napi_url: {}",
                env.basic.token,
                env.emu.url()
            ),
        ),
        (
            "host: db.local",
            format!("host: {}", env_or("FLIPLET_TEST_PG_HOST", "127.0.0.1")),
        ),
        (
            "username: sync",
            format!(
                "username: {}\n    port: {}",
                env_or("FLIPLET_TEST_PG_USER", "postgres"),
                env_or("FLIPLET_TEST_PG_PORT", "5432")
            ),
        ),
        ("    password: keychain:db-password\n", String::new()),
        (
            "name: sales",
            format!("name: {}", env_or("FLIPLET_TEST_PG_DB", "test")),
        ),
        ("FROM users", format!("FROM {users} ORDER BY id")),
        (
            "https://api.example.com/todos",
            format!("{}/api/todos", srv.url),
        ),
        ("keychain:todo-api-key", "k-123".into()),
        (
            "[python3, notify.py]",
            "[sh, -c, 'cat > notified.json']".into(),
        ),
        ("datasource_id: 123", format!("datasource_id: {}", env.ds())),
        ("datasource_id: 124", format!("datasource_id: {ds2}")),
        ("datasource_id: 456", format!("datasource_id: {ds3}")),
        ("table: leads", format!("table: {leads}")),
    ];
    for (from, to) in subs {
        assert!(text.contains(from), "no {from:?}");
        text = text.replace(from, &to);
    }
    let (job, _) = env.multi_job("multi.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(env.data().len(), 2);
    assert_eq!(env.emu.entries(ds2).len(), 7);
    assert!(env.dir.path().join("notified.json").exists());
    let rows = sqlx::query(&format!("SELECT email, full_name, fliplet_id FROM {leads}"))
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>(1), "Ann");
    assert!(env.emu.entries(ds3)[0].data["syncedAt"].is_i64());
    pg_exec(&pool, &format!("DROP TABLE {users}; DROP TABLE {leads}")).await;
}
