//! Smaller guard rails, through the binary: the log file's mode, schedules that never fire,
//! and previews that never show the query strings of file URLs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn agent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fliplet-agent"));
    c.env_remove("FLIPLET_API_URL")
        .env_remove("FLIPLET_LOG")
        .env_remove("FLIPLET_CA_FILE")
        .env("FLIPLET_AGENT_LOG", "off")
        .env("FLIPLET_RETRY_BASE_MS", "10")
        .env("XDG_DATA_HOME", common::data_home());
    c
}

/// A job that needs nothing: one push of inline rows, no schedule, not run at start.
const QUIET_JOB: &str = "auth_token: eu--1\noperations:\n  - source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 1\n";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_log_file_is_created_for_its_owner_only_and_never_widened() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("quiet.yml");
    std::fs::write(&job, QUIET_JOB).unwrap();
    let log = dir.path().join("agent.log");
    let out = agent()
        .arg("start")
        .arg(&job)
        .env("FLIPLET_AGENT_LOG", &log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("[quiet.yml] INFO  Agent started"), "{text}");
    assert_eq!(mode(&log), 0o600);

    // An existing file keeps its mode: not made wider, not changed.
    let existing = dir.path().join("existing.log");
    std::fs::write(&existing, "").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).unwrap();
    agent()
        .arg("start")
        .arg(&job)
        .env("FLIPLET_AGENT_LOG", &existing)
        .output()
        .unwrap();
    assert_eq!(mode(&existing), 0o640);
    assert!(
        std::fs::read_to_string(&existing)
            .unwrap()
            .contains("Agent started")
    );
}

#[test]
fn a_frequency_that_never_fires_is_a_warning_at_validate_and_logged_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("feb31.yml");
    std::fs::write(
        &legacy,
        "auth_token: eu--1\ndatasource_id: 1\ndatabase_driver: sqlite\ndatabase_name: x.sqlite\nquery: SELECT 1\nfrequency: '0 0 31 2 *'\n",
    )
    .unwrap();
    let out = agent().arg("validate").arg(&legacy).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: ")
            && err
                .contains("feb31.yml:6: `frequency`: `0 0 31 2 *` never fires: no date matches it"),
        "{err}"
    );

    let multi = dir.path().join("multi.yml");
    std::fs::write(
        &multi,
        "auth_token: eu--1\noperations:\n  - source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 1\n    frequency: '0 0 30 2 *'\n  - source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 2\n    frequency: '0 0 29 2 *'\n",
    )
    .unwrap();
    let out = agent().arg("validate").arg(&multi).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("multi.yml:5: `operations[0].frequency`: `0 0 30 2 *` never fires"),
        "{err}"
    );
    assert!(
        !err.contains("`0 0 29 2 *` never fires"),
        "29 February comes: {err}"
    );
    // The original counted months 0–11: it ran these in March. Said, with what to write.
    assert!(
        err.contains("multi.yml:8: `operations[1].frequency`: `0 0 29 2 *` is read as crontab reads it (months 1–12)")
            && err.contains("To keep the original's days, write '0 0 29 3 *'."),
        "{err}"
    );

    // start: the warning reaches the log file (the agent then waits for its schedules).
    let log = dir.path().join("agent.log");
    let mut child = agent()
        .arg("start")
        .arg(&multi)
        .env("FLIPLET_AGENT_LOG", &log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let expected = "[multi.yml] WARN  Operation 1: `frequency`: `0 0 30 2 *` never fires";
    let mut text = String::new();
    while started.elapsed() < Duration::from_secs(30) {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(expected) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(text.contains(expected), "{text}");
    assert!(!text.contains("Operation 2: `frequency`"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_never_show_the_query_strings_of_file_urls() {
    let env = Env::new().await;
    env.emu.insert_entries(
        env.ds(),
        vec![
            json!({"id": 2, "photo": "https://cdn.test/old.png?token=SECRET-OLD"}),
            json!({"id": 9, "photo": "https://cdn.test/gone.png?token=SECRET-GONE"}),
        ],
    );
    // Nothing listens on port 1: the files cannot be fetched, their rows are still listed.
    let text = format!(
        "{}operations:\n  - source:\n      type: rows\n      rows:\n        - {{id: 1, photo: 'http://127.0.0.1:1/a.jpg?X-Amz-Signature=SECRET-ONE'}}\n        - {{id: 2, photo: 'https://user:SECRET-PW@127.0.0.1:1/b.png?sig=SECRET-TWO#frag'}}\n    datasource_id: {}\n    primary_column: id\n    mode: replace\n    files:\n      - column: photo\n        type: remote\n",
        env.multi_header(),
        env.ds()
    );
    let path = env.dir.path().join("photos.yml");
    std::fs::write(&path, text).unwrap();

    let out = agent()
        .arg("preview")
        .arg("--json")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("SECRET"), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let plan = &v["operations"][0]["plan"];
    assert_eq!(
        plan["counts"],
        json!({"inserted": 1, "updated": 1, "deleted": 1, "unchanged": 0, "skipped": 0})
    );
    assert_eq!(
        plan["inserts"][0]["data"]["photo"],
        json!("http://127.0.0.1:1/a.jpg?…")
    );
    assert_eq!(
        plan["updates"][0]["data"]["photo"],
        json!("https://127.0.0.1:1/b.png?…")
    );
    let change = plan["updates"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "photo")
        .unwrap()
        .clone();
    assert_eq!(change["before"], json!("https://cdn.test/old.png?…"));
    assert_eq!(change["after"], json!("https://127.0.0.1:1/b.png?…"));
    assert_eq!(
        plan["deletes"][0]["data"]["photo"],
        json!("https://cdn.test/gone.png?…")
    );
    assert_eq!(
        plan["files"][0]["source"],
        json!("http://127.0.0.1:1/a.jpg?…")
    );
    assert_eq!(plan["files"][0]["action"], json!("failed"));

    let out = agent().arg("preview").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("SECRET"), "{stdout}");
    assert!(stdout.contains("a.jpg?…"), "{stdout}");
    assert!(env.writes().is_empty());
}
