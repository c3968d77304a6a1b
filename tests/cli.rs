//! The `fliplet-agent` binary as a user runs it: exit codes, output, the log file, the
//! schedule, and the original's sample YAML running unchanged.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use fliplet_emulator::{Fault, FaultAction};
use serde_json::{Value, json};

fn agent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fliplet-agent"));
    c.env_remove("FLIPLET_API_URL")
        .env_remove("FLIPLET_LOG")
        .env("FLIPLET_AGENT_LOG", "off")
        .env("FLIPLET_RETRY_BASE_MS", "10")
        .env("XDG_DATA_HOME", data_home());
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let out: Output = c.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const USERS: &str = "CREATE TABLE users (id INTEGER, email TEXT, updatedAt TEXT);
INSERT INTO users VALUES (1, 'ann@acme.test', '2024-03-01T10:00:00.000Z'), (2, 'bob@acme.test', '2024-03-01T10:00:00.000Z');";
const KEYS: &str =
    "query: SELECT * FROM users ORDER BY id\nprimary_column: id\ntimestamp_column: updatedAt";

#[test]
fn version_and_help_with_examples() {
    let (code, out, _) = run(agent().arg("--version"));
    assert_eq!(code, 0);
    // The version and the commit it was built from (the tests run in a git checkout).
    let expected = format!("fliplet-agent {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(out.starts_with(&expected), "{out}");
    let commit = out[expected.len()..].trim_end().trim_end_matches(')');
    assert!(
        commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );
    let (code, out, _) = run(agent().arg("--help"));
    assert_eq!(code, 0);
    assert!(
        out.contains("Examples:") && out.contains("start sample.yml --test"),
        "{out}"
    );
    assert!(out.contains("Exit codes:"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_valid_files_and_errors_with_exit_codes() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let good = env.write_job("good.yml", &db, KEYS);
    let (code, out, _) = run(agent().arg("validate").arg(&good));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid (1 operation"), "{out}");
    assert!(env.emu.journal().is_empty(), "validate connects to nothing");

    let bad = env.write_job(
        "bad.yml",
        &db,
        &format!("{KEYS}\nmode: replac\nbatch_sise: 10"),
    );
    let (code, _, err) = run(agent().arg("validate").arg(&bad));
    assert_eq!(code, 2);
    assert!(err.contains("bad.yml") && err.contains("mode"), "{err}");

    let js = env.dir.path().join("job.js");
    std::fs::write(&js, "module.exports.config = {}").unwrap();
    let (code, _, err) = run(agent().arg("start").arg(&js));
    assert_eq!(code, 2);
    assert!(err.contains("JavaScript"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_json_is_the_plan_and_writes_nothing() {
    let env = Env::new().await;
    env.emu.insert_entries(
        env.ds(),
        vec![
            json!({"id": 2, "email": "old@acme.test", "updatedAt": "2024-01-01T00:00:00.000Z"}),
            json!({"id": 9}),
        ],
    );
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.write_job("p.yml", &db, &format!("{KEYS}\nmode: replace"));
    let (code, out, err) = run(agent().arg("preview").arg(&job).arg("--json"));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("stdout is JSON");
    let plan = &v["operations"][0]["plan"];
    assert_eq!(
        plan["counts"],
        json!({"inserted": 1, "updated": 1, "deleted": 1, "unchanged": 0, "skipped": 0})
    );
    assert_eq!(plan["inserts"][0]["data"]["email"], json!("ann@acme.test"));
    let change = plan["updates"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "email")
        .unwrap()
        .clone();
    assert_eq!(change["before"], json!("old@acme.test"));
    assert_eq!(change["after"], json!("bob@acme.test"));
    assert_eq!(plan["deletes"][0]["data"], json!({"id": 9}));
    assert!(env.writes().is_empty());

    let (code, out, _) = run(agent().arg("preview").arg(&job));
    assert_eq!(code, 0);
    assert!(
        out.contains("1 to insert, 1 to update, 1 to DELETE"),
        "{out}"
    );
    assert!(
        out.contains("email: \"old@acme.test\" -> \"bob@acme.test\""),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_test_is_one_dry_run_then_exit() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.write_job("t.yml", &db, &format!("{KEYS}\nfrequency: '*/15 * * * *'"));
    let (code, _, err) = run(agent().arg("start").arg(&job).arg("--test"));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Dry run finished. Aborting process."), "{err}");
    assert!(env.writes().is_empty());
    assert!(env.data().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_sync_on_init_and_no_frequency_runs_once_and_exits() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.write_job("once.yml", &db, &format!("{KEYS}\nsync_on_init: true"));
    let log = env.dir.path().join("agent.log");
    let (code, _, err) = run(agent()
        .arg("start")
        .arg(&job)
        .env("FLIPLET_AGENT_LOG", &log));
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.data().len(), 2);
    let text = std::fs::read_to_string(&log).unwrap();
    // Each start begins with the version and the commit.
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(&format!("fliplet-agent {} started", fliplet_agent::VERSION)),
        "{first}"
    );
    assert!(text.contains("[once.yml] INFO  Sync finished."), "{text}");
    assert!(text.contains("You're logged in as Test User"), "{text}");
    assert!(
        !text.contains(&env.basic.token),
        "the token reached the log file"
    );
    // The file is appended to, never truncated.
    run(agent()
        .arg("start")
        .arg(&job)
        .env("FLIPLET_AGENT_LOG", &log));
    let again = std::fs::read_to_string(&log).unwrap();
    assert!(again.starts_with(&text) && again.len() > text.len());
    assert_eq!(
        again.matches(" started (pid ").count(),
        2,
        "one version line per start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_non_zero_with_the_reason() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    let job = env.write_job(
        "f.yml",
        &db,
        "query: SELECT nope FROM users\nprimary_column: id\nsync_on_init: true",
    );
    let (code, _, err) = run(agent().arg("start").arg(&job));
    assert_eq!(code, 1);
    assert!(err.contains("Cannot execute database query"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_runs_the_job_and_skips_overlapping_ticks() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, USERS).await;
    // Every second; each run is slowed to ~2.5 s by a delayed entries listing, so ticks
    // arrive while the previous run is still going and must be skipped.
    let job = env.write_job(
        "cron.yml",
        &db,
        &format!("{KEYS}\nfrequency: '* * * * * *'"),
    );
    env.emu.inject_fault(Fault {
        method: "GET".into(),
        path: format!("/v1/data-sources/{}/data", env.ds()),
        times: 1,
        after: 0,
        action: FaultAction::Delay(Duration::from_millis(2500)),
    });
    let mut child = agent()
        .arg("start")
        .arg(&job)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5500)).await;
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Scheduling complete."), "{err}");
    assert!(err.contains("this scheduled run is skipped"), "{err}");
    assert_eq!(
        env.data().len(),
        2,
        "the scheduled runs synced the rows once: {err}"
    );
    let listings = env
        .emu
        .journal()
        .iter()
        .filter(|j| j.method == "GET" && j.path.ends_with("/data"))
        .count();
    assert!(
        listings >= 2,
        "the schedule kept running after the slow run: {listings}"
    );
}

/// The reference document's sample YAML, with only the connection values changed, runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_sample_yaml_runs_unchanged() {
    let env = Env::new().await;
    let pool = mysql().await;
    let db = unique("fa_sample");
    mysql_exec(&pool, &format!("CREATE DATABASE {db}")).await;
    mysql_exec(
        &pool,
        &format!(
            "CREATE TABLE {db}.users (id int, email varchar(100), fullName varchar(100), updatedAt datetime(3));
             INSERT INTO {db}.users VALUES (1, 'ann@acme.test', 'Ann Lee', '2024-03-01 10:00:00'), (2, 'bob@acme.test', 'Bob Stone', '2024-03-01 10:00:00');"
        ),
    )
    .await;
    let sample =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample.yml"))
            .unwrap();
    let changed = sample
        .replace(
            "auth_token: eu--123456789",
            &format!("auth_token: {}", env.basic.token),
        )
        .replace(
            "datasource_id: 123",
            &format!("datasource_id: {}", env.ds()),
        )
        .replace("database_driver: mssql", "database_driver: mysql")
        .replace("database_host: localhost", "database_host: 127.0.0.1")
        .replace("database_username: sampleuser", "database_username: root")
        .replace("database_password: 123456", "database_password: ''")
        .replace("database_port: 5432", "database_port: 3306")
        .replace("database_name: eu", &format!("database_name: {db}"));
    assert_ne!(changed, sample);
    let path = env.dir.path().join("sample.yml");
    std::fs::write(&path, &changed).unwrap();
    let mut cmd = agent();
    cmd.env("FLIPLET_API_URL", env.emu.url());
    let (code, _, err) = run(cmd.arg("start").arg(&path).arg("--test"));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 inserted"), "{err}");
    assert!(env.writes().is_empty());

    // sync_on_init is false in the sample: a real run happens through the core here.
    unsafe { std::env::set_var("FLIPLET_API_URL", env.emu.url()) };
    let job = load(&path);
    let r = fliplet_agent::sync::run::run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        env.data(),
        vec![
            json!({"id": 1, "Email": "ann@acme.test", "Full Name": "Ann Lee", "updatedAt": "2024-03-01T10:00:00.000Z"}),
            json!({"id": 2, "Email": "bob@acme.test", "Full Name": "Bob Stone", "updatedAt": "2024-03-01T10:00:00.000Z"}),
        ]
    );
    mysql_exec(&pool, &format!("DROP DATABASE {db}")).await;
}
