//! Guard rails: the delete gate and the empty-source rule (with their one-time permission),
//! stopping a run on SIGTERM between commits, and `run_timeout`.

mod common;

use std::time::{Duration, Instant};

use common::agent_cli::*;
use common::*;
use fliplet_agent::sync::run::{preview_job, run_job};
use fliplet_emulator::{Emulator, Fault, FaultAction};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_with_an_empty_query_deletes_nothing_unless_allowed() {
    let env = Env::new().await;
    let ds = env.ds();
    seed(&env.emu, ds, 1..=30);
    let db = numbered_rows(env.dir.path(), 0).await;
    let path = numbered_job(
        env.dir.path(),
        &env.emu,
        &env.basic.token,
        ds,
        &db,
        "mode: replace",
    );
    let job = load(&path);

    let preview = preview_job(&job, None).await;
    let plan = preview.operations[0].plan.clone().unwrap();
    assert_eq!(
        plan.counts.deleted, 30,
        "the preview still shows what would go"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("The query returned no rows") && w.contains("--allow-deletes 30")),
        "{:?}",
        plan.warnings
    );

    let r = run_job(&job, false, None).await;
    assert!(!r.succeeded());
    let err = r.first_error().unwrap();
    assert!(
        err.contains("would delete all 30 entries")
            && err.contains("Nothing was written")
            && err.contains("allow_empty_source: true"),
        "{err}"
    );
    assert_eq!(env.emu.entries(ds).len(), 30);
    assert_eq!(commits_received(&env.emu), 0);

    // Allowed in the job file: the data source ends equal to the (empty) source.
    let path = numbered_job(
        env.dir.path(),
        &env.emu,
        &env.basic.token,
        ds,
        &db,
        "mode: replace\nallow_empty_source: true",
    );
    let r = run_job(&load(&path), false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert!(env.emu.entries(ds).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delete_gate_stops_a_mass_delete_and_the_one_time_permission_applies_exactly_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_home = dir.path().join("data");
    let emu = Emulator::start().await;
    let basic = emu.setup_basic();
    let ds = basic.data_source_id;
    let ids = seed(&emu, ds, 1..=400);
    // The source keeps rows 1..=100 (and adds 401..=405): replace would delete 300 of 400.
    let db = numbered_rows(dir.path(), 100).await;
    sqlite_exec(&db, "INSERT INTO t VALUES (401,'row 401'),(402,'row 402');").await;
    let job = numbered_job(
        dir.path(),
        &emu,
        &basic.token,
        ds,
        &db,
        "mode: replace\nsync_on_init: true",
    );

    let (code, log) = output(agent_cmd(&data_home).arg("start").arg(&job)).await;
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("This run would delete 300 of the data source's 400 entries (75%)")
            && log.contains("more than 25% and more than 100 entries")
            && log.contains("--allow-deletes 300")
            && log.contains("Nothing was written"),
        "{log}"
    );
    assert_eq!(
        commits_received(&emu),
        0,
        "nothing written, not even the inserts"
    );
    assert_eq!(emu.entries(ds).len(), 400);

    // The preview lists what the permission would apply.
    let (code, json_text) = output(
        agent_cmd(&data_home)
            .args(["preview", "--json", "--max-rows", "0"])
            .arg(&job),
    )
    .await;
    assert_eq!(code, 0, "{json_text}");
    let start = json_text.find('{').unwrap();
    let preview: Value = serde_json::from_str(&json_text[start..]).unwrap();
    let plan = &preview["operations"][0]["plan"];
    let mut previewed: Vec<u64> = plan["deletes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["entry_id"].as_u64().unwrap())
        .collect();
    previewed.sort();
    assert_eq!(previewed, ids[100..].to_vec());
    assert!(
        plan["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("--allow-deletes 300"))
    );

    // A permission for fewer than the run would delete is not enough.
    let (code, log) = output(
        agent_cmd(&data_home)
            .args(["start", "--allow-deletes", "299"])
            .arg(&job),
    )
    .await;
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("permission was given for 299"), "{log}");
    assert_eq!(commits_received(&emu), 0);

    // The one-time permission applies exactly the previewed deletes (and the inserts).
    let (code, log) = output(
        agent_cmd(&data_home)
            .args(["start", "--allow-deletes", "300"])
            .arg(&job),
    )
    .await;
    assert_eq!(code, 0, "{log}");
    let left: Vec<u64> = emu.entries(ds).iter().map(|e| e.id).collect();
    assert_eq!(left.len(), 102);
    for id in &previewed {
        assert!(!left.contains(id));
    }
    for id in &ids[..100] {
        assert!(left.contains(id));
    }

    // A small delete (under delete_gate_min) passes without permission.
    sqlite_exec(&db, "DELETE FROM t WHERE id > 95;").await;
    let (code, log) = output(agent_cmd(&data_home).arg("start").arg(&job)).await;
    assert_eq!(code, 0, "{log}");
    assert_eq!(emu.entries(ds).len(), 95);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_stops_between_commits_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data_home = dir.path().join("data");
    let emu = Emulator::start().await;
    let basic = emu.setup_basic();
    let ds = basic.data_source_id;
    let db = numbered_rows(dir.path(), 1000).await;
    emu.inject_fault(Fault {
        method: "POST".into(),
        path: format!("/v1/data-sources/{ds}/commit"),
        times: 0,
        after: 0,
        action: FaultAction::Delay(Duration::from_millis(300)),
    });
    let job = numbered_job(
        dir.path(),
        &emu,
        &basic.token,
        ds,
        &db,
        "batch_size: 50\nsync_on_init: true",
    );
    let log_path = dir.path().join("run.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = agent_cmd(&data_home)
        .arg("start")
        .arg(&job)
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    while commits_received(&emu) < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let signalled = Instant::now();
    let status = child.wait().await.unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "stopped promptly"
    );
    assert!(
        log.contains("SIGTERM") && log.contains("stopped between two commits"),
        "{log}"
    );
    // The commit in flight finished; no commit was started after the signal.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let sent = commits_received(&emu);
    assert!((3..=4).contains(&sent), "{sent} commits");
    assert_eq!(emu.entries(ds).len(), sent * 50, "whole commits only");
    // The next run sends the rest.
    emu.clear_faults();
    let (code, log) = output(agent_cmd(&data_home).arg("start").arg(&job)).await;
    assert_eq!(code, 0, "{log}");
    assert_eq!(emu.entries(ds).len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_run_timeout_fails_and_the_schedule_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data_home = dir.path().join("data");
    let emu = Emulator::start().await;
    let basic = emu.setup_basic();
    let ds = basic.data_source_id;
    let db = numbered_rows(dir.path(), 20).await;
    // The first listing hangs for 30 s: the first scheduled run must be ended at 2 s.
    emu.inject_fault(Fault {
        method: "GET".into(),
        path: format!("/v1/data-sources/{ds}/data"),
        times: 1,
        after: 0,
        action: FaultAction::Delay(Duration::from_secs(30)),
    });
    let job = numbered_job(
        dir.path(),
        &emu,
        &basic.token,
        ds,
        &db,
        "run_timeout: 2\nfrequency: '*/2 * * * * *'",
    );
    let log_path = dir.path().join("run.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = agent_cmd(&data_home)
        .arg("start")
        .arg(&job)
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    // Until the next scheduled run has synced and said so (its run is recorded in the run
    // history before the line is printed).
    let started = Instant::now();
    while !(emu.entries(ds).len() == 20
        && std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Scheduled run finished.")))
        && started.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains(
            "The run was stopped before writing anything: it took longer than run_timeout (2 s)"
        ),
        "{log}"
    );
    assert!(log.contains("Scheduled run failed."), "{log}");
    assert!(
        log.contains("Scheduled run finished."),
        "the schedule went on: {log}"
    );
    assert_eq!(emu.entries(ds).len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_names_batch_size_and_an_unreachable_api_is_not_called_authentication() {
    // SAFETY of env: the retry delay is read when each client is built.
    unsafe { std::env::set_var("FLIPLET_RETRY_BASE_MS", "10") };
    let env = Env::new().await;
    let ds = env.ds();
    let db = numbered_rows(env.dir.path(), 10).await;
    env.emu.inject_fault(Fault {
        method: "POST".into(),
        path: format!("/v1/data-sources/{ds}/commit"),
        times: 1,
        after: 0,
        action: FaultAction::Respond {
            status: 413,
            body: json!({"message": "Request body too large"}),
        },
    });
    let path = numbered_job(
        env.dir.path(),
        &env.emu,
        &env.basic.token,
        ds,
        &db,
        "batch_size: 400",
    );
    let r = run_job(&load(&path), false, None).await;
    let err = r.first_error().unwrap();
    assert!(
        err.contains("Request body too large")
            && err.contains("lower batch_size in the job file (now 400)"),
        "{err}"
    );

    // Every request fails with 500: the report says what failed, not "authentication".
    env.emu.inject_fault(Fault {
        method: "*".into(),
        path: "/**".into(),
        times: 0,
        after: 0,
        action: FaultAction::Respond {
            status: 500,
            body: json!({"message": "Internal server error"}),
        },
    });
    let r = run_job(&load(&path), false, None).await;
    let err = r.first_error().unwrap();
    assert!(
        err.starts_with(&format!(
            "Cannot reach the Fliplet API at {}",
            env.emu.url()
        )) && err.contains("Internal server error")
            && !err.contains("authenticate"),
        "{err}"
    );
}

/// A column dropped from the query is reported by the preview and the run log; with
/// `on_schema_change: stop` the run writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_column_is_reported_and_can_stop_the_run() {
    let pool = pg().await;
    let table = unique("drift");
    pg_exec(
        &pool,
        &format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, email TEXT, score INT);
             INSERT INTO {table} VALUES (1, 'a@x.org', 1), (2, 'b@x.org', 2);"
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data_home = dir.path().join("data");
    let emu = Emulator::start().await;
    let basic = emu.setup_basic();
    let ds = basic.data_source_id;
    let write_job = |name: &str, extra: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "auth_token: {}\napi_url: {}\ndatasource_id: {ds}\n{}\nquery: SELECT * FROM {table} ORDER BY id\nprimary_column: id\nsync_on_init: true\n{extra}\n",
                basic.token,
                emu.url(),
                pg_yaml()
            ),
        )
        .unwrap();
        path
    };
    let job = write_job("drift.yml", "");
    let (code, log) = output(agent_cmd(&data_home).arg("start").arg(&job)).await;
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("columns changed"), "{log}");

    pg_exec(
        &pool,
        &format!("ALTER TABLE {table} DROP COLUMN email; ALTER TABLE {table} ALTER COLUMN score TYPE TEXT; UPDATE {table} SET score = 'x';"),
    )
    .await;
    let (code, text) = output(agent_cmd(&data_home).args(["preview", "--json"]).arg(&job)).await;
    assert_eq!(code, 0, "{text}");
    let preview: Value = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
    let drift = &preview["operations"][0]["plan"]["schema_drift"];
    assert_eq!(drift["removed"], json!(["email"]), "{drift}");
    assert_eq!(drift["retyped"][0][0], json!("score"), "{drift}");

    // The same job with `on_schema_change: stop` (the record is per job file name).
    let stop_text = std::fs::read_to_string(&job).unwrap() + "on_schema_change: stop\n";
    std::fs::write(&job, stop_text).unwrap();
    let before = commits_received(&emu);
    let (code, log) = output(agent_cmd(&data_home).arg("start").arg(&job)).await;
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("The query's columns changed since the last successful run: removed \"email\"; retyped \"score\" (INT4 → TEXT)")
            && log.contains("on_schema_change: stop"),
        "{log}"
    );
    assert_eq!(commits_received(&emu), before, "nothing written");

    // Warn (the default): the run goes on, logs the drift, and records the new columns.
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("on_schema_change: stop\n", "");
    std::fs::write(&job, text).unwrap();
    let (code, log) = output(agent_cmd(&data_home).arg("start").arg(&job)).await;
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("WARN") && log.contains("removed \"email\""),
        "{log}"
    );
    let (code, log) = output(agent_cmd(&data_home).arg("start").arg(&job)).await;
    assert_eq!(code, 0, "{log}");
    assert!(
        !log.contains("columns changed"),
        "recorded after the run: {log}"
    );
    pg_exec(&pool, &format!("DROP TABLE {table}")).await;
}
