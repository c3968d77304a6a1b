//! End-to-end pushes: real job files, real databases (SQLite, PostgreSQL, MariaDB), and the
//! Fliplet emulator over HTTP.

mod common;

use common::*;
use fliplet_agent::sync::run::run_job;
use fliplet_emulator::{Fault, FaultAction};
use serde_json::{Value, json};

const USERS: &str = "
CREATE TABLE users (id INTEGER, email TEXT, \"Full Name\" TEXT, updatedAt TEXT, deletedAt TEXT);
INSERT INTO users VALUES (1, 'ann@acme.test', 'Ann', '2024-03-01T10:00:00.000Z', NULL);
INSERT INTO users VALUES (2, 'bob@acme.test', 'Bob', '2024-03-01T10:00:00.000Z', NULL);
INSERT INTO users VALUES (3, 'cy@acme.test', 'Cy', '2024-03-01T10:00:00.000Z', NULL);
";

const KEYS: &str = "query: SELECT id, email, \"Full Name\", updatedAt, deletedAt FROM users ORDER BY id\nprimary_column: id\ntimestamp_column: updatedAt\ndelete_column: deletedAt";

fn ids(data: &[Value]) -> Vec<i64> {
    data.iter().map(|d| d["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn first_sync_then_resync_with_nothing_changed_sends_no_commit() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.job(&db, KEYS);

    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.totals().inserted, 3);
    let data = env.data();
    assert_eq!(ids(&data), vec![1, 2, 3]);
    assert_eq!(
        data[0],
        json!({"id": 1, "email": "ann@acme.test", "Full Name": "Ann", "updatedAt": "2024-03-01T10:00:00.000Z", "deletedAt": null})
    );
    let commits = env.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0]["append"], json!(true));
    assert_eq!(commits[0]["returnEntries"], json!(false));
    assert!(
        commits[0].get("delete").is_none(),
        "no delete list when nothing to delete"
    );
    assert!(
        commits[0].get("extend").is_none(),
        "extend left out when merge is not set"
    );

    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded());
    assert_eq!(r.totals().unchanged, 3);
    assert!(
        env.writes().is_empty(),
        "a re-sync with nothing changed wrote: {:?}",
        env.writes()
    );
}

#[tokio::test]
async fn a_timestamp_bump_updates_only_that_row() {
    let env = Env::new().await;
    let (db, path) = sqlite(&env, USERS).await;
    let job = env.job(&db, KEYS);
    assert!(run_job(&job, false, None).await.succeeded());
    let before = env.emu.entries(env.ds());

    sqlite_exec(
        &path,
        "UPDATE users SET email = 'bob@new.test', updatedAt = '2024-03-02T08:00:00.000Z' WHERE id = 2;
         UPDATE users SET email = 'cy@silent.test' WHERE id = 3;",
    )
    .await;
    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    let t = r.totals();
    assert_eq!((t.inserted, t.updated, t.unchanged), (0, 1, 2), "{r:?}");
    let after = env.emu.entries(env.ds());
    assert_eq!(after[1].id, before[1].id, "updated in place, same entry id");
    assert_eq!(after[1].data["email"], json!("bob@new.test"));
    // Without a timestamp change the row is not sent (the timestamp decides).
    assert_eq!(after[2].data["email"], json!("cy@acme.test"));
    let commits = env.commits();
    assert_eq!(commits[0]["entries"][0]["id"], json!(before[1].id));
}

#[tokio::test]
async fn delete_column_removes_the_entry_and_skips_unknown_deleted_rows() {
    let env = Env::new().await;
    let (db, path) = sqlite(&env, USERS).await;
    let job = env.job(&db, KEYS);
    assert!(run_job(&job, false, None).await.succeeded());
    sqlite_exec(
        &path,
        "UPDATE users SET deletedAt = '2024-03-03T00:00:00.000Z' WHERE id = 1;
         INSERT INTO users VALUES (4, 'gone@acme.test', 'Gone', '2024-03-01T10:00:00.000Z', '2024-03-01T00:00:00.000Z');",
    )
    .await;
    let r = run_job(&job, false, None).await;
    let t = r.totals();
    assert_eq!((t.deleted, t.skipped, t.inserted), (1, 1, 0), "{r:?}");
    assert_eq!(ids(&env.data()), vec![2, 3]);
}

#[tokio::test]
async fn update_mode_keeps_orphans_and_replace_mode_deletes_them() {
    let env = Env::new().await;
    env.emu.insert_entries(
        env.ds(),
        vec![json!({"id": 99, "email": "orphan@acme.test"})],
    );
    let (db, _) = sqlite(&env, USERS).await;

    let job = env.job(&db, KEYS);
    assert!(run_job(&job, false, None).await.succeeded());
    assert_eq!(ids(&env.data()), vec![99, 1, 2, 3]);

    let job = env.job(&db, &format!("{KEYS}\nmode: replace"));
    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let t = r.totals();
    assert_eq!(
        (t.updated, t.deleted),
        (3, 1),
        "replace updates every matched row"
    );
    assert_eq!(ids(&env.data()), vec![1, 2, 3]);
    let commits = env.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0]["delete"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn batches_split_commits_and_send_deletes_once() {
    let env = Env::new().await;
    let mut sql = String::from("CREATE TABLE t (id INTEGER, v TEXT);");
    for i in 1..=25 {
        sql.push_str(&format!("INSERT INTO t VALUES ({i}, 'v{i}');"));
    }
    env.emu
        .insert_entries(env.ds(), vec![json!({"id": 1000}), json!({"id": 1001})]);
    let (db, _) = sqlite(&env, &sql).await;
    let job = env.job(
        &db,
        "query: SELECT * FROM t\nprimary_column: id\nmode: replace\nbatch_size: 10",
    );
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let commits = env.commits();
    let sizes: Vec<usize> = commits
        .iter()
        .map(|c| c["entries"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    let with_deletes: Vec<usize> = commits
        .iter()
        .enumerate()
        .filter(|(_, c)| c.get("delete").is_some())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        with_deletes,
        vec![2],
        "deletes go once, with the last batch"
    );
    assert_eq!(env.data().len(), 25);
}

#[tokio::test]
async fn merge_keeps_columns_written_by_apps_and_no_merge_replaces_them() {
    for (merge, expect_note) in [("merge: true", true), ("merge: false", false)] {
        let env = Env::new().await;
        let (db, path) = sqlite(&env, USERS).await;
        let job = env.job(&db, &format!("{KEYS}\n{merge}"));
        assert!(run_job(&job, false, None).await.succeeded());
        // An app adds a column to entry 1.
        let first = env.emu.entries(env.ds())[0].clone();
        let mut data = first.data.clone();
        data["Note"] = json!("added in the app");
        let client = reqwest::Client::new();
        let resp = client
            .put(format!(
                "{}/v1/data-sources/{}/data/{}",
                env.emu.url(),
                env.ds(),
                first.id
            ))
            .header("Auth-token", &env.basic.token)
            .json(&json!({"Note": "added in the app"}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        sqlite_exec(
            &path,
            "UPDATE users SET updatedAt = '2024-04-01T00:00:00.000Z' WHERE id = 1",
        )
        .await;
        env.emu.clear_journal();
        assert!(run_job(&job, false, None).await.succeeded());
        assert_eq!(env.commits()[0]["extend"], json!(expect_note));
        let note = env.emu.entries(env.ds())[0].data.get("Note").cloned();
        assert_eq!(note.is_some(), expect_note, "{merge}: {note:?}");
    }
}

#[tokio::test]
async fn case_insensitive_keys_match_entries_in_another_case() {
    let env = Env::new().await;
    env.emu
        .insert_entries(env.ds(), vec![json!({"email": "ANN@ACME.TEST", "n": 1})]);
    let (db, _) = sqlite(
        &env,
        "CREATE TABLE t (email TEXT, n INTEGER); INSERT INTO t VALUES ('ann@acme.test', 2);",
    )
    .await;
    let job = env.job(
        &db,
        "query: SELECT * FROM t\nprimary_column: email\ncase_insensitive_primary_column: true",
    );
    let r = run_job(&job, false, None).await;
    let t = r.totals();
    assert_eq!((t.inserted, t.updated), (0, 1), "{r:?}");
    assert_eq!(env.data(), vec![json!({"email": "ann@acme.test", "n": 2})]);

    let env = Env::new().await;
    env.emu
        .insert_entries(env.ds(), vec![json!({"email": "ANN@ACME.TEST", "n": 1})]);
    let (db, _) = sqlite(
        &env,
        "CREATE TABLE t (email TEXT, n INTEGER); INSERT INTO t VALUES ('ann@acme.test', 2);",
    )
    .await;
    let job = env.job(&db, "query: SELECT * FROM t\nprimary_column: email");
    assert_eq!(run_job(&job, false, None).await.totals().inserted, 1);
}

#[tokio::test]
async fn without_a_primary_key_rows_are_appended_every_run() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.job(&db, "query: SELECT id, email FROM users");
    assert!(run_job(&job, false, None).await.succeeded());
    assert!(run_job(&job, false, None).await.succeeded());
    assert_eq!(env.data().len(), 6);
}

#[tokio::test]
async fn rows_without_a_key_and_duplicates_are_skipped_and_the_rest_is_sent() {
    let env = Env::new().await;
    let (db, _) = sqlite(
        &env,
        "CREATE TABLE t (id INTEGER, v TEXT);
         INSERT INTO t VALUES (1, 'a'), (NULL, 'no key'), (1, 'dup'), (2, 'b');",
    )
    .await;
    let job = env.job(&db, "query: SELECT * FROM t\nprimary_column: id");
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "bad rows are reported, not fatal: {r:?}");
    let t = r.totals();
    assert_eq!((t.inserted, t.skipped), (2, 2));
    assert_eq!(
        env.data(),
        vec![json!({"id": 1, "v": "a"}), json!({"id": 2, "v": "b"})]
    );
}

#[tokio::test]
async fn a_failing_query_sends_nothing_and_deletes_nothing() {
    let env = Env::new().await;
    env.emu.insert_entries(env.ds(), vec![json!({"id": 1})]);
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.job(
        &db,
        "query: SELECT * FROM no_such_table\nprimary_column: id\nmode: replace",
    );
    let r = run_job(&job, false, None).await;
    assert!(!r.succeeded());
    let err = r.operations[0].error.clone().unwrap();
    assert!(err.starts_with("Cannot execute database query"), "{err}");
    assert!(err.contains("no_such_table"), "{err}");
    assert!(env.writes().is_empty(), "{:?}", env.writes());
    assert_eq!(env.data().len(), 1);
}

#[tokio::test]
async fn dry_run_writes_nothing_at_all() {
    let env = Env::new().await;
    env.emu.insert_entries(
        env.ds(),
        vec![
            json!({"id": 3, "updatedAt": "2020-01-01T00:00:00.000Z"}),
            json!({"id": 50}),
        ],
    );
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.job(&db, &format!("{KEYS}\nmode: replace"));
    let r = run_job(&job, true, None).await;
    assert!(r.succeeded(), "{r:?}");
    let t = r.totals();
    assert_eq!((t.inserted, t.updated, t.deleted), (2, 1, 1));
    assert!(env.writes().is_empty(), "dry run wrote: {:?}", env.writes());
    assert_eq!(env.data().len(), 2);
}

#[tokio::test]
async fn a_bad_token_stops_before_any_write_and_touches_each_data_source_once() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let path = env.write_job("bad.yml", &db, KEYS);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(&env.basic.token, "eu--revoked-token");
    std::fs::write(&path, text).unwrap();
    let job = load(&path);
    let r = run_job(&job, false, None).await;
    let err = r.error.clone().unwrap();
    assert!(
        err.starts_with("Unable to authenticate with Fliplet API"),
        "{err}"
    );
    assert!(
        !err.contains("eu--revoked-token"),
        "the token leaked: {err}"
    );
    let calls: Vec<String> = env
        .emu
        .journal()
        .iter()
        .map(|j| format!("{} {}", j.method, j.path))
        .collect();
    assert_eq!(
        calls,
        vec![
            "GET /v1/user".to_string(),
            format!("GET /v1/data-sources/{}/data", env.ds())
        ]
    );
}

#[tokio::test]
async fn transient_failures_are_retried_and_4xx_are_not() {
    // SAFETY of env: the retry delay is read when each client is built.
    unsafe { std::env::set_var("FLIPLET_RETRY_BASE_MS", "10") };
    // A 503 without a retry hint may have been applied: the run reads the data source again
    // before going on (briefly, here), and nothing is doubled.
    unsafe { std::env::set_var("FLIPLET_SETTLE_MS", "200") };
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.job(&db, KEYS);
    let commit_path = format!("/v1/data-sources/{}/commit", env.ds());
    env.emu.inject_fault(Fault {
        method: "POST".into(),
        path: commit_path.clone(),
        times: 2,
        after: 0,
        action: FaultAction::Respond {
            status: 503,
            body: json!({"message": "Service unavailable"}),
        },
    });
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(env.data().len(), 3);

    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.job(&db, KEYS);
    env.emu.inject_fault(Fault {
        method: "POST".into(),
        path: format!("/v1/data-sources/{}/commit", env.ds()),
        times: 1,
        after: 0,
        action: FaultAction::Respond {
            status: 400,
            body: json!({"message": "Entries are malformed"}),
        },
    });
    let r = run_job(&job, false, None).await;
    let err = r.operations[0].error.clone().unwrap();
    assert!(
        err.starts_with("Cannot sync data to Fliplet servers"),
        "{err}"
    );
    assert!(err.contains("Entries are malformed"), "{err}");
    assert_eq!(env.commits().len(), 1, "a 4xx is not retried");
}

#[tokio::test]
async fn no_access_to_the_data_source_is_reported_with_the_original_message() {
    let env = Env::new().await;
    let other = env.emu.add_data_source(env.basic.organization_id, "Secret");
    let (db, _) = sqlite(&env, USERS).await;
    let path = env.write_job("noaccess.yml", &db, KEYS);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("datasource_id: {}", env.ds()),
        &format!("datasource_id: {other}"),
    );
    std::fs::write(&path, text).unwrap();
    let r = run_job(&load(&path), false, None).await;
    let err = r.operations[0].error.clone().unwrap();
    assert!(
        err.starts_with(&format!("You don't have access to the dataSource {other}")),
        "{err}"
    );
    assert!(
        err.contains("do not allow"),
        "the server's reason is kept: {err}"
    );
}

// ---------- PostgreSQL and MariaDB ----------

#[tokio::test]
async fn postgres_push_end_to_end() {
    let env = Env::new().await;
    let pool = pg().await;
    let table = unique("users");
    pg_exec(
        &pool,
        &format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, email text, \"Full Name\" text, \"updatedAt\" timestamptz, \"deletedAt\" timestamptz);
             INSERT INTO {table} VALUES (1, 'ann@acme.test', 'Ann', '2024-03-05 09:14:27.512+02', NULL),
                                        (2, 'bob@acme.test', 'Bob', '2024-03-05 09:14:27.512+02', NULL);"
        ),
    )
    .await;
    let keys = format!(
        "query: SELECT * FROM {table} ORDER BY id\nprimary_column: id\ntimestamp_column: updatedAt\ndelete_column: deletedAt\nmode: replace"
    );
    let job = env.job(&pg_yaml(), &keys);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        env.data()[0],
        json!({"id": "1", "email": "ann@acme.test", "Full Name": "Ann", "updatedAt": "2024-03-05T07:14:27.512Z", "deletedAt": null}),
        "bigint as a string and timestamptz in UTC with milliseconds, as the original sent them"
    );
    pg_exec(&pool, &format!("UPDATE {table} SET \"updatedAt\" = now() WHERE id = 2; DELETE FROM {table} WHERE id = 1;")).await;
    let r = run_job(&job, false, None).await;
    let t = r.totals();
    assert_eq!((t.updated, t.deleted), (1, 1), "{r:?}");
    assert_eq!(env.data().len(), 1);
    pg_exec(&pool, &format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn mariadb_push_end_to_end() {
    let env = Env::new().await;
    let pool = mysql().await;
    let table = unique("users");
    mysql_exec(
        &pool,
        &format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, email varchar(100), `Full Name` varchar(100), updatedAt datetime(3));
             INSERT INTO {table} VALUES (1, 'ann@acme.test', 'Ann', '2024-03-05 09:14:27.512'), (2, 'bob@acme.test', 'Bob', '2024-03-05 09:14:27.512');"
        ),
    )
    .await;
    let keys = format!(
        "query: SELECT * FROM {table} ORDER BY id\nprimary_column: id\ntimestamp_column: updatedAt"
    );
    let job = env.job(&mysql_yaml(), &keys);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        env.data()[1],
        json!({"id": 2, "email": "bob@acme.test", "Full Name": "Bob", "updatedAt": "2024-03-05T09:14:27.512Z"})
    );
    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    assert_eq!(r.totals().unchanged, 2);
    assert!(env.writes().is_empty());
    mysql_exec(&pool, &format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn a_wrong_database_password_stops_the_run_without_touching_fliplet() {
    let env = Env::new().await;
    let db = format!(
        "{}\ndatabase_password: s3cr3t-pw-XYZ",
        pg_yaml().replace(
            "database_username: postgres",
            "database_username: no_such_user_x"
        )
    );
    let job = env.job(&db, "query: SELECT 1 AS id\nprimary_column: id");
    let r = run_job(&job, false, None).await;
    let err = r.error.clone().unwrap();
    assert!(
        err.starts_with("Unable to connect to the database"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-pw-XYZ"), "password leaked: {err}");
    assert!(
        env.emu.journal().is_empty(),
        "no Fliplet call after a database failure"
    );
}
