//! The multi-operation job format end to end: every push source (HTTP against a local test
//! server, JSON file, CSV file, inline rows, SQL through a named connection), several
//! operations with their own frequencies, the on_sync command, and the bad-input errors.

mod common;

use std::sync::Arc;

use common::*;
use fliplet_agent::config::{ConfigError, Operation, PushSource, load_job};
use fliplet_agent::sync::run::{preview_job, run_job};
use serde_json::{Value, json};

fn ids(data: &[Value], key: &str) -> Vec<i64> {
    data.iter().map(|d| d[key].as_i64().unwrap()).collect()
}

fn push_op(env: &Env, source: &str, extra: &str) -> String {
    format!(
        "{}operations:\n  - type: push\n    datasource_id: {}\n    source:\n{source}\n{extra}",
        env.multi_header(),
        env.ds()
    )
}

// ---------- HTTP ----------

#[tokio::test]
async fn http_source_pages_by_offset_and_sends_the_header() {
    let env = Env::new().await;
    let srv = http_server::start().await;
    let text = push_op(
        &env,
        &format!(
            "      type: http\n      url: {}/api/todos?fields=all\n      headers:\n        X-Api-Key: k-123\n      records: data.items\n      pagination:\n        type: offset\n        limit: 3",
            srv.url
        ),
        "    primary_column: id\n    timestamp_column: updatedAt",
    );
    let (job, _) = env.multi_job("http.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.totals().inserted, 7);
    assert_eq!(ids(&env.data(), "id"), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(env.data()[1]["completed"], json!(true));
    assert_eq!(
        srv.requests(),
        vec![
            "GET /api/todos?fields=all&offset=0&limit=3",
            "GET /api/todos?fields=all&offset=3&limit=3",
            "GET /api/todos?fields=all&offset=6&limit=3",
        ]
    );
    // Second run: nothing changed, nothing written.
    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    assert_eq!(r.totals().unchanged, 7, "{r:?}");
    assert!(env.writes().is_empty());
}

#[tokio::test]
async fn http_source_without_the_header_fails_before_any_commit() {
    let env = Env::new().await;
    env.emu.insert_entries(env.ds(), vec![json!({"id": 99})]);
    let srv = http_server::start().await;
    let text = push_op(
        &env,
        &format!(
            "      type: http\n      url: {}/api/todos\n      records: data.items",
            srv.url
        ),
        "    primary_column: id\n    mode: replace",
    );
    let (job, _) = env.multi_job("http.yml", &text);
    let r = run_job(&job, false, None).await;
    let err = r.operations[0].error.clone().unwrap();
    assert!(err.contains("401"), "{err}");
    assert!(env.commits().is_empty(), "a failed source must not commit");
    assert_eq!(ids(&env.data(), "id"), vec![99], "nothing deleted");
}

#[tokio::test]
async fn http_source_follows_next_links() {
    let env = Env::new().await;
    let srv = http_server::start().await;
    let text = push_op(
        &env,
        &format!(
            "      type: http\n      url: {}/pages/1\n      records: results\n      pagination: {{type: next_link, next: links.next}}",
            srv.url
        ),
        "    primary_column: id",
    );
    let (job, _) = env.multi_job("next.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(ids(&env.data(), "id"), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(
        srv.requests(),
        vec!["GET /pages/1", "GET /pages/2", "GET /pages/3"]
    );
}

#[tokio::test]
async fn http_source_errors_are_clear_and_commit_nothing() {
    let env = Env::new().await;
    env.emu.insert_entries(env.ds(), vec![json!({"id": 99})]);
    let srv = http_server::start().await;
    let cases = [
        ("/html", None, "did not return JSON"),
        ("/object", Some("data"), "not an array"),
        (
            "/object",
            Some("data.items"),
            "no array at `records: data.items`",
        ),
        ("/object", None, "not an array of records"),
        ("/fail?api_key=SECRET-KEY", None, "500"),
    ];
    for (path, records, expected) in cases {
        let records = records
            .map(|r| format!("\n      records: {r}"))
            .unwrap_or_default();
        let text = push_op(
            &env,
            &format!("      type: http\n      url: {}{path}{records}", srv.url),
            "    primary_column: id\n    mode: replace",
        );
        let (job, _) = env.multi_job(&format!("{}.yml", unique("bad")), &text);
        let r = run_job(&job, false, None).await;
        let err = r.operations[0].error.clone().unwrap_or_default();
        assert!(err.contains(expected), "{path}: {err}");
        assert!(
            !err.contains("SECRET-KEY"),
            "a URL's query string may hold a key: {err}"
        );
        assert!(!r.succeeded());
    }
    assert!(env.commits().is_empty());
    assert_eq!(ids(&env.data(), "id"), vec![99]);
}

// ---------- files and inline rows ----------

#[tokio::test]
async fn json_file_source_with_a_records_path() {
    let env = Env::new().await;
    std::fs::create_dir(env.dir.path().join("data")).unwrap();
    std::fs::write(
        env.dir.path().join("data/users.json"),
        r#"{"users": [{"id": 1, "email": "ann@acme.test", "tags": ["a"]}, {"id": 2, "email": "bob@acme.test"}]}"#,
    )
    .unwrap();
    let text = push_op(
        &env,
        "      type: json\n      path: data/users.json\n      records: users",
        "    primary_column: id",
    );
    let (job, _) = env.multi_job("json.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let data = env.data();
    assert_eq!(
        data[0],
        json!({"email": "ann@acme.test", "id": 1, "tags": ["a"]})
    );
    assert_eq!(data[1]["tags"], Value::Null);
}

#[tokio::test]
async fn missing_json_file_is_a_clear_error() {
    let env = Env::new().await;
    let text = push_op(&env, "      type: json\n      path: nope.json", "");
    let (job, _) = env.multi_job("json.yml", &text);
    let r = run_job(&job, false, None).await;
    let err = r.operations[0].error.clone().unwrap();
    assert!(
        err.contains("Cannot read the JSON file") && err.contains("nope.json"),
        "{err}"
    );
    assert!(env.commits().is_empty());
}

#[tokio::test]
async fn csv_source_utf8_bom_quotes_and_delimiter() {
    let env = Env::new().await;
    std::fs::write(
        env.dir.path().join("u.csv"),
        "\u{feff}id;name;note\n1;Zoë;\"a; b\"\n2;\"Bob \"\"B\"\"\";\n",
    )
    .unwrap();
    let text = push_op(
        &env,
        "      type: csv\n      path: u.csv\n      delimiter: ';'",
        "    primary_column: id",
    );
    let (job, _) = env.multi_job("csv.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let data = env.data();
    assert_eq!(data[0], json!({"id": "1", "name": "Zoë", "note": "a; b"}));
    assert_eq!(data[1], json!({"id": "2", "name": "Bob \"B\"", "note": ""}));
}

#[tokio::test]
async fn csv_source_windows_1252() {
    let env = Env::new().await;
    std::fs::write(
        env.dir.path().join("w.csv"),
        b"id,city\r\n1,Z\xfcrich\r\n2,\x80uro\r\n",
    )
    .unwrap();
    let text = push_op(
        &env,
        "      type: csv\n      path: w.csv\n      encoding: windows-1252",
        "    primary_column: id",
    );
    let (job, _) = env.multi_job("csv.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let data = env.data();
    assert_eq!(data[0]["city"], json!("Zürich"));
    assert_eq!(data[1]["city"], json!("€uro"));
}

#[tokio::test]
async fn csv_row_with_the_wrong_field_count_names_its_line_and_commits_nothing() {
    let env = Env::new().await;
    env.emu.insert_entries(env.ds(), vec![json!({"id": "9"})]);
    std::fs::write(
        env.dir.path().join("bad.csv"),
        "id,name\n1,Ann\n2,Bob,extra\n3,Cy\n",
    )
    .unwrap();
    let text = push_op(
        &env,
        "      type: csv\n      path: bad.csv",
        "    primary_column: id\n    mode: replace",
    );
    let (job, _) = env.multi_job("csv.yml", &text);
    let r = run_job(&job, false, None).await;
    let err = r.operations[0].error.clone().unwrap();
    assert!(err.contains("line 3"), "{err}");
    assert!(
        err.contains("3 fields") && err.contains("the header has 2"),
        "{err}"
    );
    assert!(env.commits().is_empty());
    assert_eq!(env.data(), vec![json!({"id": "9"})]);
}

#[tokio::test]
async fn inline_rows_source() {
    let env = Env::new().await;
    let text = push_op(
        &env,
        "      type: rows\n      rows:\n        - { id: 1, foo: bar }\n        - { id: 2, bar: baz }",
        "    primary_column: id",
    );
    let (job, _) = env.multi_job("rows.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        env.data(),
        vec![
            json!({"bar": null, "foo": "bar", "id": 1}),
            json!({"bar": "baz", "foo": null, "id": 2})
        ]
    );
}

// ---------- several operations ----------

#[tokio::test]
async fn several_operations_run_in_series_and_are_scheduled_on_their_own_frequencies() {
    let env = Env::new().await;
    let ds2 = env.emu.add_data_source(env.basic.organization_id, "second");
    env.emu.grant(
        &env.basic.token,
        ds2,
        &[
            fliplet_emulator::Perm::Select,
            fliplet_emulator::Perm::Insert,
            fliplet_emulator::Perm::Update,
            fliplet_emulator::Perm::Delete,
        ],
    );
    let (_, db) = sqlite(
        &env,
        "CREATE TABLE t (id INTEGER, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    )
    .await;
    let text = format!(
        "{}connections:\n  local:\n    driver: sqlite\n    name: {}\noperations:\n  - type: push\n    description: from SQL\n    frequency: '*/15 * * * *'\n    source: {{type: sql, connection: local, query: SELECT * FROM t ORDER BY id}}\n    datasource_id: {}\n    primary_column: id\n  - type: push\n    description: inline\n    frequency: '0 2 * * 1'\n    source:\n      type: rows\n      rows: [{{id: 10}}]\n    datasource_id: {ds2}\n  - type: pull\n    description: never scheduled\n    datasource_id: {}\n    target: {{type: json, path: out.json}}\n",
        env.multi_header(),
        db.display(),
        env.ds(),
        env.ds(),
    );
    let (job, dir_job) = env.multi_job("multi.yml", &text);
    assert_eq!(job.operations.len(), 3);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(r.operations.len(), 3);
    assert_eq!(ids(&env.data(), "id"), vec![1, 2]);
    assert_eq!(env.emu.entries(ds2).len(), 1);
    // The pull ran after the first push (in series) and saw its entries.
    let out: Value =
        serde_json::from_slice(&std::fs::read(dir_job.parent().unwrap().join("out.json")).unwrap())
            .unwrap();
    assert_eq!(out.as_array().unwrap().len(), 2);

    // Only one operation.
    env.emu.clear_journal();
    let r = run_job(&job, false, Some(&[1])).await;
    assert_eq!(r.operations.len(), 1);
    assert_eq!(r.operations[0].index, 1);

    let schedule = fliplet_agent::app::scheduler::start(Arc::new(job))
        .await
        .unwrap();
    assert_eq!(schedule.scheduled, 2);
    assert_eq!(
        schedule.entries,
        vec![
            (0, "0 */15 * * * *".to_string()),
            (1, "0 0 2 * * 1".to_string())
        ]
    );
    schedule.shutdown().await;
}

// ---------- connection check ----------

#[tokio::test]
async fn every_connection_is_checked_at_start_and_a_dead_one_fails_only_its_operations() {
    let env = Env::new().await;
    let (_, db) = sqlite(
        &env,
        "CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1), (2);",
    )
    .await;
    // `gone`: nothing listens on port 1.
    let text = format!(
        "{}connections:\n  local:\n    driver: sqlite\n    name: {}\n  gone:\n    driver: postgres\n    host: 127.0.0.1\n    port: 1\n    username: nobody\noperations:\n  - type: push\n    source: {{type: sql, connection: gone, query: SELECT 1 AS id}}\n    datasource_id: {}\n  - type: push\n    source: {{type: sql, connection: local, query: SELECT * FROM t ORDER BY id}}\n    datasource_id: {}\n    primary_column: id\n",
        env.multi_header(),
        db.display(),
        env.ds(),
        env.ds(),
    );
    let (job, _) = env.multi_job("conns.yml", &text);

    // The dead connection fails its operation; the other one runs.
    let r = run_job(&job, false, None).await;
    assert!(!r.succeeded());
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(r.operations.len(), 2);
    let dead = r.operations[0].error.as_deref().unwrap();
    assert!(dead.contains("127.0.0.1:1"), "{dead}");
    assert_eq!(r.operations[0].counts, None);
    assert_eq!(r.operations[1].error, None, "{r:?}");
    assert_eq!(r.operations[1].counts.unwrap().inserted, 2);
    assert_eq!(ids(&env.data(), "id"), vec![1, 2]);

    // When every operation to run needs a dead connection, the run stops before it talks to
    // Fliplet at all, like a single-operation file whose database is down.
    env.emu.clear_journal();
    let r = run_job(&job, false, Some(&[0])).await;
    assert!(r.error.as_deref().unwrap().contains("127.0.0.1:1"), "{r:?}");
    assert!(r.operations.is_empty());
    assert!(env.emu.journal().is_empty(), "{:?}", env.emu.journal());
    let p = preview_job(&job, None).await;
    assert!(p.error.is_none(), "{p:?}");
    assert!(p.operations[0].error.is_some());
    assert_eq!(p.operations[1].error, None);
    assert_eq!(p.operations[1].plan.as_ref().unwrap().counts.unchanged, 2);
}

// ---------- on_sync ----------

#[tokio::test]
async fn on_sync_gets_a_json_summary_on_stdin() {
    let env = Env::new().await;
    let text = push_op(
        &env,
        "      type: rows\n      rows: [{id: 1}, {id: 2}]",
        "    primary_column: id\n    on_sync: cat > summary.json",
    );
    let (job, path) = env.multi_job("sync.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let hook = r.operations[0].on_sync.clone().unwrap();
    assert_eq!(hook.exit_code, Some(0));
    let summary: Value = serde_json::from_slice(
        &std::fs::read(path.parent().unwrap().join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["job"], json!("sync.yml"));
    assert_eq!(summary["succeeded"], json!(true));
    assert_eq!(summary["operation"]["kind"], json!("push"));
    assert_eq!(summary["operation"]["counts"]["inserted"], json!(2));
    assert_eq!(summary["operation"]["data_source_id"], json!(env.ds()));

    // A dry run does not run the command.
    std::fs::remove_file(path.parent().unwrap().join("summary.json")).unwrap();
    let r = run_job(&job, true, None).await;
    assert!(r.operations[0].on_sync.is_none());
    assert!(!path.parent().unwrap().join("summary.json").exists());
}

#[tokio::test]
async fn a_failing_on_sync_command_is_reported_but_the_sync_is_kept() {
    let env = Env::new().await;
    // A relative program path starts at the job file's folder.
    let script = env.dir.path().join("fail.sh");
    std::fs::write(&script, "#!/bin/sh\necho oops >&2\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = push_op(
        &env,
        "      type: rows\n      rows: [{id: 1}]",
        "    on_sync: [./fail.sh]",
    );
    let (job, _) = env.multi_job("fail.yml", &text);
    let r = run_job(&job, false, None).await;
    assert!(!r.succeeded());
    assert!(r.operations[0].error.is_none());
    let hook = r.operations[0].on_sync.clone().unwrap();
    assert_eq!(hook.exit_code, Some(3));
    let e = hook.error.unwrap();
    assert!(e.contains("exit code 3") && e.contains("oops"), "{e}");
    assert_eq!(env.data().len(), 1, "the sync is kept");

    let text = push_op(
        &env,
        "      type: rows\n      rows: [{id: 1}]",
        "    on_sync: [no-such-program-xyz]",
    );
    let (job, _) = env.multi_job("nostart.yml", &text);
    let r = run_job(&job, false, None).await;
    let e = r.operations[0].on_sync.clone().unwrap().error.unwrap();
    assert!(e.contains("could not be started"), "{e}");
}

// ---------- preview ----------

#[tokio::test]
async fn preview_of_an_http_push_writes_nothing() {
    let env = Env::new().await;
    let srv = http_server::start().await;
    let text = push_op(
        &env,
        &format!("      type: http\n      url: {}/todos", srv.url),
        "    primary_column: id",
    );
    let (job, _) = env.multi_job("p.yml", &text);
    let p = preview_job(&job, None).await;
    assert!(p.succeeded(), "{p:?}");
    assert_eq!(p.operations[0].kind, "push");
    assert_eq!(p.operations[0].plan.as_ref().unwrap().counts.inserted, 7);
    assert!(env.writes().is_empty());
}

// ---------- config ----------

#[test]
fn config_errors_name_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |text: &str| {
        let p = dir.path().join(format!("{}.yml", unique("c")));
        std::fs::write(&p, text).unwrap();
        p
    };
    let p = write(
        "auth_token: x\noperations:\n  - type: push\n    datasource_id: 1\n    source:\n      type: sql\n      connection: mian\n      query: SELECT 1\nconnections:\n  main: {driver: sqlite, name: x.db}\n",
    );
    let e = load_job(&p).unwrap_err().to_string();
    assert!(
        e.contains("operations[0].source.connection") && e.contains("did you mean `main`"),
        "{e}"
    );

    let p = write(
        "auth_token: x\noperations:\n  - type: pull\n    datasource_id: 1\n    target: {type: tabel}\n",
    );
    let e = load_job(&p).unwrap_err();
    assert!(
        matches!(e, ConfigError::Invalid { line: Some(5), .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("did you mean `table`"), "{e}");

    let p = write(
        "auth_token: x\noperations:\n  - type: push\n    datasource_id: 1\n    source: {type: csv, path: a.csv, delimiter: ';;'}\n",
    );
    let e = load_job(&p).unwrap_err().to_string();
    assert!(e.contains("delimiter") && e.contains(":5"), "{e}");

    let p = write(
        "auth_token: x\noperations:\n  - type: push\n    datasource_id: 1\n    primary_colum: id\n    source: {type: rows, rows: []}\n",
    );
    let l = load_job(&p).unwrap();
    assert!(
        l.warnings[0]
            .to_string()
            .contains("did you mean `primary_column`")
    );
    let Operation::Push(op) = &l.job.operations[0] else {
        panic!()
    };
    assert!(matches!(op.source, PushSource::Rows(_)));
}

#[test]
fn every_legacy_push_option_works_in_a_push_operation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("o.yml");
    std::fs::write(&p, "auth_token: x\nsync_on_init: true\nlog_verbosity: info\noperations:\n  - source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 5\n    primary_column: id\n    case_insensitive_primary_column: true\n    timestamp_column: ts\n    mode: replace\n    batch_size: 10\n    concurrency: 2\n    delete_column: del\n    run_hooks: [insert]\n    merge: true\n").unwrap();
    let l = load_job(&p).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert!(l.job.sync_on_init);
    let Operation::Push(op) = &l.job.operations[0] else {
        panic!()
    };
    assert_eq!(op.primary_column.as_deref(), Some("id"));
    assert!(op.case_insensitive_primary_column);
    assert_eq!(op.timestamp_column.as_deref(), Some("ts"));
    assert_eq!(op.mode, fliplet_agent::config::Mode::Replace);
    assert_eq!((op.batch_size, op.concurrency), (10, 2));
    assert_eq!(op.delete_column.as_deref(), Some("del"));
    assert_eq!(op.merge, Some(true));
}

#[tokio::test]
async fn keychain_references_in_headers_and_connections_are_resolved() {
    use fliplet_agent::secret::Secret;
    use fliplet_agent::secret_store::{SecretStore, job_secrets, resolve_job};
    let env = Env::new().await;
    let srv = http_server::start().await;
    let store = SecretStore::sealed_file(&env.dir.path().join("app"));
    store.set("todo-key", &Secret::new("k-123")).unwrap();
    store.set("db-pw", &Secret::new("s3cret-pw")).unwrap();
    let text = format!(
        "{}connections:\n  main:\n    driver: postgres\n    password: keychain:db-pw\noperations:\n  - source: {{type: http, url: '{}/api/todos', headers: {{X-Api-Key: 'keychain:todo-key'}}, records: data.items}}\n    datasource_id: {}\n    primary_column: id\n  - type: pull\n    datasource_id: {}\n    target: {{type: table, connection: main, table: t, key: id, columns: {{id: id}}}}\n",
        env.multi_header(),
        srv.url,
        env.ds(),
        env.ds()
    );
    let (mut job, _) = env.multi_job("refs.yml", &text);
    resolve_job(&mut job, &store).unwrap();
    let secrets: Vec<String> = job_secrets(&job)
        .iter()
        .map(|s| s.expose().to_string())
        .collect();
    assert!(secrets.contains(&"k-123".to_string()), "{}", secrets.len());
    assert!(secrets.contains(&"s3cret-pw".to_string()));
    // The resolved header is what the HTTP source sends.
    let r = run_job(&job, false, Some(&[0])).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(env.data().len(), 7);
    // Secrets never show in the job's debug output.
    assert!(!format!("{job:?}").contains("s3cret-pw"));
}

#[test]
fn pull_config_checks() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.yml");
    std::fs::write(&p, "auth_token: x\nconnections:\n  db: {driver: sqlite, name: x.db}\noperations:\n  - type: pull\n    datasource_id: 1\n    attributes: [Email]\n    target: {type: table, table: t, key: email, columns: {Email: email, Name: name}}\n").unwrap();
    let l = load_job(&p).unwrap();
    assert_eq!(l.warnings.len(), 1);
    assert!(
        l.warnings[0].to_string().contains("`Name`"),
        "{}",
        l.warnings[0]
    );

    std::fs::write(&p, "auth_token: x\nconnections:\n  db: {driver: sqlite, name: x.db}\noperations:\n  - type: pull\n    datasource_id: 1\n    target: {type: table, table: t, key: id, columns: {Email: email}}\n").unwrap();
    let e = load_job(&p).unwrap_err().to_string();
    assert!(
        e.contains("the key column `id` must be one of the table columns"),
        "{e}"
    );

    std::fs::write(&p, "auth_token: x\nconnections:\n  db: {driver: mssql, host: h}\noperations:\n  - type: pull\n    datasource_id: 1\n    target: {type: table, table: t, key: id, columns: {id: id}}\n").unwrap();
    let e = load_job(&p).unwrap_err().to_string();
    assert!(e.contains("SQL Server table is not supported yet"), "{e}");

    std::fs::write(&p, "auth_token: x\noperations:\n  - source: {type: http, url: 'http://h/x', headers: {'Bad Header': v}}\n    datasource_id: 1\n").unwrap();
    let e = load_job(&p).unwrap_err().to_string();
    assert!(e.contains("not a valid HTTP header name"), "{e}");
}

#[test]
fn query_timeouts_belong_to_the_sql_source() {
    use fliplet_agent::config::QueryTimeouts;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.yml");
    std::fs::write(
        &p,
        "auth_token: x\nconnections:\n  main: {driver: sqlite, name: x.db}\noperations:\n  - datasource_id: 1\n    source: {type: sql, query: SELECT 1, query_timeout: 20, stall_timeout: 5}\n  - datasource_id: 2\n    query_timeout: 20\n    source: {type: sql, query: SELECT 2}\n  - datasource_id: 3\n    source: {type: sql, query: SELECT 3, query_timeout: -5}\n",
    )
    .unwrap();
    let e = load_job(&p).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Invalid { key, line: Some(11), .. } if key == "operations[2].source.query_timeout"),
        "{e:?}"
    );
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replace("query_timeout: -5", "query_timeout: 0")).unwrap();
    let l = load_job(&p).unwrap();
    let timeouts: Vec<QueryTimeouts> = l
        .job
        .operations
        .iter()
        .map(|op| match op {
            Operation::Push(p) => match &p.source {
                PushSource::Sql { timeouts, .. } => *timeouts,
                _ => panic!(),
            },
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        timeouts,
        vec![
            QueryTimeouts {
                query: 20,
                stall: 5
            },
            QueryTimeouts::default(),
            QueryTimeouts {
                query: 0,
                stall: 60
            },
        ]
    );
    // Written on the operation itself: ignored, with where it belongs.
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    let w = l.warnings[0].to_string();
    assert!(
        w.contains("operations[1].query_timeout")
            && w.contains("belongs in the operation's `source:`"),
        "{w}"
    );
}
