//! Exactly once under any fault: the reliability suite.
//!
//! A 3-batch push (2,500 rows, `batch_size: 1000`) into a data source that already holds
//! entries to update and to delete, with each request of the run failed in turn: `GET v1/user`,
//! the listing, and each of the three commits; with each fault (500, refused connection,
//! dropped before being applied, dropped after being applied, answer held past the client's
//! timeout after being applied, 429, and a `200` HTML page after being applied); once and on
//! every attempt; in `update` and `replace` mode with a primary key and in append mode (no
//! primary key) with either mode. After the faulted run and one clean rerun the data source
//! must equal the source exactly (append with `update`: after the faulted run, as every run
//! appends by design), with 0 duplicates and 0 missing, and a faulted run that exits 0 must
//! have done all its work.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::proxy::RefusingProxy;
use common::*;
use fliplet_agent::sync::commit::canonical_json;
use fliplet_agent::sync::run::run_job;
use fliplet_emulator::{Emulator, Fault, FaultAction};
use serde_json::{Value, json};

const ROWS: usize = 2500;
/// Seeded entries whose key is a source row (updated by the run).
const SEED_MATCHING: usize = 200;
/// Seeded entries whose key is not in the source (deleted in replace mode).
const SEED_OTHER: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Request {
    User,
    Listing,
    Commit(u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Status500,
    Refused,
    DropBeforeApply,
    DropAfterApply,
    TimeoutAfterApply,
    Status429,
    Html200AfterApply,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Update,
    Replace,
    Append,
    AppendReplace,
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    request: Request,
    kind: Kind,
    every: bool,
    mode: Mode,
}

fn set_env() {
    // SAFETY: every test of this binary sets the same values before starting anything.
    unsafe {
        // Retries 200 ms apart, doubling: the refusing proxy reopens 100 ms after refusing,
        // so "once" refuses exactly the first attempt.
        std::env::set_var("FLIPLET_RETRY_BASE_MS", "200");
        std::env::set_var("FLIPLET_RETRY_ATTEMPTS", "5");
        std::env::set_var("FLIPLET_HTTP_TIMEOUT_MS", "1500");
        std::env::set_var("FLIPLET_SETTLE_MS", "400");
        std::env::set_var("FLIPLET_AGENT_LOG", "off");
    }
}

/// The source table: 2,500 rows; its SQLite file is shared by every scenario (read only).
async fn source_db(dir: &Path) -> PathBuf {
    let path = dir.join("source.sqlite");
    let mut sql = String::from(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER NOT NULL);\n",
    );
    for chunk in (1..=ROWS).collect::<Vec<_>>().chunks(500) {
        sql.push_str("INSERT INTO people VALUES ");
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("({i}, 'person {i}', {})", i * 7 % 1000))
            .collect();
        sql.push_str(&values.join(","));
        sql.push_str(";\n");
    }
    sqlite_exec(&path, &sql).await;
    path
}

fn source_rows() -> Vec<Value> {
    (1..=ROWS)
        .map(|i| json!({"id": i, "name": format!("person {i}"), "score": i * 7 % 1000}))
        .collect()
}

fn seeds() -> Vec<Value> {
    let mut v: Vec<Value> = (1..=SEED_MATCHING)
        .map(|i| json!({"id": i, "name": format!("old name {i}"), "score": 0}))
        .collect();
    v.extend(
        (0..SEED_OTHER)
            .map(|i| json!({"id": 100_001 + i, "name": format!("gone {i}"), "score": 1})),
    );
    v
}

fn multiset(values: impl IntoIterator<Item = Value>) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for v in values {
        *m.entry(canonical_json(&v)).or_default() += 1;
    }
    m
}

/// What the data source must hold once the work is done.
fn expected(mode: Mode) -> HashMap<String, usize> {
    match mode {
        Mode::Update => multiset(
            source_rows()
                .into_iter()
                .chain(seeds().into_iter().skip(SEED_MATCHING)),
        ),
        Mode::Replace | Mode::AppendReplace => multiset(source_rows()),
        Mode::Append => multiset(seeds().into_iter().chain(source_rows())),
    }
}

fn job_text(token: &str, url: &str, ds: u64, db: &Path, mode: Mode) -> String {
    let keys = match mode {
        Mode::Update => "primary_column: id\nmode: update",
        Mode::Replace => "primary_column: id\nmode: replace",
        Mode::Append => "mode: update",
        Mode::AppendReplace => "mode: replace",
    };
    format!(
        "auth_token: {token}\napi_url: {url}\ndatasource_id: {ds}\ndatabase_driver: sqlite\ndatabase_name: {}\nquery: SELECT id, name, score FROM people ORDER BY id\nbatch_size: 1000\n{keys}\n",
        db.display()
    )
}

fn fault_path(request: Request, ds: u64) -> (String, String, u32) {
    match request {
        Request::User => ("GET".into(), "/v1/user".into(), 0),
        Request::Listing => ("GET".into(), format!("/v1/data-sources/{ds}/data"), 0),
        Request::Commit(k) => (
            "POST".into(),
            format!("/v1/data-sources/{ds}/commit"),
            k - 1,
        ),
    }
}

fn fault_action(kind: Kind) -> FaultAction {
    match kind {
        Kind::Status500 => FaultAction::Respond {
            status: 500,
            body: json!({"message": "Internal server error"}),
        },
        Kind::Status429 => FaultAction::Respond {
            status: 429,
            body: json!({
                "message": "You've made too many attempts in a short period of time. Please try again later.",
                "nextValidRequestDate": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            }),
        },
        Kind::DropBeforeApply => FaultAction::Drop,
        Kind::DropAfterApply => FaultAction::ApplyThenDrop,
        Kind::TimeoutAfterApply => FaultAction::ApplyThenDelay(Duration::from_millis(2500)),
        Kind::Html200AfterApply => FaultAction::RespondText {
            status: 200,
            content_type: "text/html".into(),
            body: "<html><body><h1>Gateway</h1>Your request is being processed.</body></html>"
                .into(),
            apply: true,
        },
        Kind::Refused => unreachable!("refusals come from the proxy"),
    }
}

/// The request number (1-based) in a clean run's order: user, listing, commits.
fn request_number(r: Request) -> usize {
    match r {
        Request::User => 1,
        Request::Listing => 2,
        Request::Commit(k) => 2 + k as usize,
    }
}

/// Play one scenario; `Err` says what went wrong.
async fn play(db: PathBuf, dir: PathBuf, s: Scenario) -> Result<(), String> {
    let emu = Emulator::start().await;
    let basic = emu.setup_basic();
    let ds = basic.data_source_id;
    emu.insert_entries(ds, seeds());
    let upstream: SocketAddr = emu.url().trim_start_matches("http://").parse().unwrap();
    let proxy = if s.kind == Kind::Refused {
        let reopen = (!s.every).then_some(Duration::from_millis(100));
        Some(RefusingProxy::start(upstream, request_number(s.request), reopen).await)
    } else {
        let (method, path, after) = fault_path(s.request, ds);
        emu.inject_fault(Fault {
            method,
            path,
            times: if s.every { 0 } else { 1 },
            after,
            action: fault_action(s.kind),
        });
        None
    };
    let url = proxy.as_ref().map(|p| p.url()).unwrap_or_else(|| emu.url());
    let path = dir.join(format!("{}.yml", unique("job")));
    std::fs::write(&path, job_text(&basic.token, &url, ds, &db, s.mode)).unwrap();
    let job = load(&path);

    let state = |emu: &Emulator| multiset(emu.entries(ds).into_iter().map(|e| e.data));
    let want = expected(s.mode);

    let faulted = run_job(&job, false, None).await;
    let after_fault = state(&emu);
    if faulted.succeeded() && after_fault != want {
        return Err(format!(
            "false success: exit 0 but the data source differs ({})",
            diff(&after_fault, &want)
        ));
    }
    if s.mode == Mode::Append {
        // Every run appends all rows by design: check the faulted run alone.
        let base = multiset(seeds());
        for (k, n) in &after_fault {
            let allowed = want.get(k).copied().unwrap_or(0);
            if *n > allowed {
                return Err(format!(
                    "duplicates after the faulted run: {k} {n} times (want at most {allowed})"
                ));
            }
        }
        for (k, n) in &base {
            if after_fault.get(k) != Some(n) {
                return Err(format!("a seeded entry was lost: {k}"));
            }
        }
        if !faulted.succeeded() {
            let err = faulted.first_error().unwrap_or_default();
            if err.contains("the next run will send the rest") {
                return Err(format!("append mode promises a resumable rerun: {err}"));
            }
        }
        return Ok(());
    }
    drop(proxy);
    emu.clear_faults();
    let clean_path = dir.join(format!("{}.yml", unique("job")));
    std::fs::write(
        &clean_path,
        job_text(&basic.token, &emu.url(), ds, &db, s.mode),
    )
    .unwrap();
    let rerun = run_job(&load(&clean_path), false, None).await;
    if !rerun.succeeded() {
        return Err(format!("the clean rerun failed: {:?}", rerun.first_error()));
    }
    let end = state(&emu);
    if end != want {
        return Err(format!(
            "after the clean rerun: {} (faulted run succeeded: {}, error: {:?})",
            diff(&end, &want),
            faulted.succeeded(),
            faulted.first_error()
        ));
    }
    Ok(())
}

fn diff(got: &HashMap<String, usize>, want: &HashMap<String, usize>) -> String {
    let dups: usize = got
        .iter()
        .map(|(k, n)| n.saturating_sub(want.get(k).copied().unwrap_or(0)))
        .sum();
    let missing: usize = want
        .iter()
        .map(|(k, n)| n.saturating_sub(got.get(k).copied().unwrap_or(0)))
        .sum();
    format!("{dups} extra, {missing} missing")
}

fn matrix(modes: &[Mode]) -> Vec<Scenario> {
    let requests = [
        Request::User,
        Request::Listing,
        Request::Commit(1),
        Request::Commit(2),
        Request::Commit(3),
    ];
    let kinds = [
        Kind::Status500,
        Kind::Refused,
        Kind::DropBeforeApply,
        Kind::DropAfterApply,
        Kind::TimeoutAfterApply,
        Kind::Status429,
        Kind::Html200AfterApply,
    ];
    let mut out = Vec::new();
    for &mode in modes {
        for request in requests {
            for kind in kinds {
                for every in [false, true] {
                    out.push(Scenario {
                        request,
                        kind,
                        every,
                        mode,
                    });
                }
            }
        }
    }
    out
}

async fn play_all(name: &str, scenarios: Vec<Scenario>) {
    set_env();
    let dir = tempfile::tempdir().unwrap();
    let db = source_db(dir.path()).await;
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    let n = scenarios.len();
    for s in scenarios {
        let (db, d, limit) = (db.clone(), dir.path().to_path_buf(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            (s, play(db, d, s).await)
        });
    }
    let mut failures = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (s, r) = r.expect("a scenario task panicked");
        if let Err(e) = r {
            failures.push(format!("{s:?}: {e}"));
        }
    }
    println!(
        "exactly-once fault matrix ({name}): {n} scenarios, {} passed, {} failed",
        n - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The whole matrix: 5 requests x 7 faults x once/every attempt x 4 modes = 280 scenarios,
/// reported as one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_every_request_every_fault_every_mode() {
    play_all(
        "update, replace, append, append+replace",
        matrix(&[
            Mode::Update,
            Mode::Replace,
            Mode::Append,
            Mode::AppendReplace,
        ]),
    )
    .await;
}
