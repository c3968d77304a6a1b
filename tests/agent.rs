//! The tray agent's use-cases (what the desktop app wraps): the jobs folder, the demo job,
//! recorded runs with counts and log lines, secrets moved out of job files, schedules.
//! The secret store here is the sealed file (the real keychain is exercised by
//! `secrets_keychain.rs` and the desktop app's end-to-end test).

use std::sync::Arc;

use fliplet_agent::app::agent::{Agent, AgentEvent};
use fliplet_agent::app::error::ErrorCode;
use fliplet_agent::app::history::{Outcome, Trigger};
use fliplet_agent::app::jobs;
use fliplet_agent::log::LogCapture;
use fliplet_agent::secret::Secret;
use fliplet_agent::secret_store::SecretStore;

struct Dirs {
    _tmp: tempfile::TempDir,
    jobs: std::path::PathBuf,
    data: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    Dirs {
        jobs: tmp.path().join("config/jobs"),
        data: tmp.path().join("data"),
        _tmp: tmp,
    }
}

/// One global subscriber with the capture layer for the whole test binary.
fn capture() -> LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let c = LogCapture::new();
            unsafe { std::env::set_var("FLIPLET_AGENT_LOG", "off") };
            std::mem::forget(fliplet_agent::log::init_with(
                fliplet_agent::config::Verbosity::Info,
                Some(c.layer()),
            ));
            c
        })
        .clone()
}

async fn agent(d: &Dirs) -> Arc<Agent> {
    Agent::open(
        &d.jobs,
        &d.data,
        SecretStore::sealed_file(&d.data),
        capture(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn demo_job_runs_and_is_recorded_with_counts_and_logs() {
    let d = dirs();
    let agent = agent(&d).await;
    assert!(agent.has_no_jobs());
    let mut events = agent.subscribe();
    let job = agent.create_demo().await.unwrap();
    assert_eq!(job.id, "demo");
    assert!(job.demo);
    assert_eq!(job.frequency.as_deref(), Some("*/15 * * * *"));
    assert!(job.next_run.is_some());
    // The token is a reference, not in the file.
    let text = std::fs::read_to_string(&job.path).unwrap();
    assert!(text.contains("auth_token: keychain:fliplet-agent/demo/auth_token"));
    assert!(!text.contains("eu--demo-token"));

    let r = agent.run_job("demo", Trigger::Manual).await.unwrap();
    assert_eq!(r.run.outcome, Outcome::Success, "{:?}", r.run.error);
    assert_eq!(r.run.counts.inserted, 10);
    assert_eq!(r.run.trigger, Trigger::Manual);
    let detail = agent.run_detail(r.run.id.0).await.unwrap();
    assert!(
        detail
            .logs
            .iter()
            .any(|l| l.message.contains("Authentication has been verified")),
        "{:?}",
        detail.logs
    );
    // Second run: nothing changed.
    let r2 = agent.run_job("demo", Trigger::DryRun).await.unwrap();
    assert_eq!(r2.run.counts.inserted, 0);
    assert_eq!(r2.run.counts.unchanged, 10);
    assert_eq!(r2.run.trigger, Trigger::DryRun);

    let statuses = agent.jobs().await.unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].last_run.as_ref().unwrap().id, r2.run.id);

    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        kinds.push(match e {
            AgentEvent::RunStarted { .. } => "started",
            AgentEvent::RunFinished { .. } => "finished",
            AgentEvent::JobsChanged => "jobs",
            AgentEvent::PausedChanged { .. } => "paused",
            AgentEvent::JobStale { .. } => "stale",
        });
    }
    assert_eq!(
        kinds,
        ["jobs", "started", "finished", "started", "finished"]
    );
    agent.shutdown().await;

    // A restart finds the history, and the demo again (on a new port).
    let agent = self::agent(&d).await;
    agent.resume_demo().await.unwrap();
    assert_eq!(agent.runs(Some("demo"), 10).await.unwrap().len(), 2);
    let r3 = agent.run_job("demo", Trigger::Manual).await.unwrap();
    assert_eq!(r3.run.outcome, Outcome::Success, "{:?}", r3.run.error);
    assert_eq!(r3.run.counts.unchanged, 10, "emulator state survived");
    agent.shutdown().await;
}

#[tokio::test]
async fn failure_then_recovery_is_reported() {
    let d = dirs();
    let agent = agent(&d).await;
    agent.create_demo().await.unwrap();
    let good = std::fs::read_to_string(d.jobs.join("demo.yml")).unwrap();
    // Break the job: the query names a missing table.
    std::fs::write(
        d.jobs.join("demo.yml"),
        good.replace("FROM staff", "FROM no_such_table"),
    )
    .unwrap();
    let f1 = agent.run_job("demo", Trigger::Manual).await.unwrap();
    assert_eq!(f1.run.outcome, Outcome::Failed);
    assert!(f1.run.error.as_deref().unwrap().contains("no_such_table"));
    // A job file that does not load is a failed run too.
    std::fs::write(d.jobs.join("demo.yml"), "datasource_id: x\n").unwrap();
    let f2 = agent.run_job("demo", Trigger::Scheduled).await.unwrap();
    assert_eq!(f2.run.outcome, Outcome::Failed);
    std::fs::write(d.jobs.join("demo.yml"), &good).unwrap();
    let ok = agent.run_job("demo", Trigger::Manual).await.unwrap();
    assert_eq!(ok.run.outcome, Outcome::Success, "{:?}", ok.run.error);
    assert_eq!(ok.failures_before, 2);
    agent.shutdown().await;
}

#[tokio::test]
async fn set_secret_moves_the_value_to_the_store_and_the_cli_loader_resolves_it() {
    let d = dirs();
    let agent = agent(&d).await;
    agent.create_demo().await.unwrap();
    let reference = agent
        .set_secret("demo", "database_password", "pa55-w0rd-xyz")
        .await
        .unwrap();
    assert_eq!(reference, "keychain:fliplet-agent/demo/database_password");
    let path = d.jobs.join("demo.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("pa55-w0rd-xyz"));
    assert!(text.contains("database_password: keychain:fliplet-agent/demo/database_password"));
    // Set again: the line is replaced, not duplicated.
    agent
        .set_secret("demo", "database_password", "second")
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("database_password:").count(), 1);
    let store = SecretStore::sealed_file(&d.data);
    assert_eq!(
        store
            .get("fliplet-agent/demo/database_password")
            .unwrap()
            .expose(),
        "second"
    );
    // SQLite has no login: the Jobs screen offers only the token.
    let listed = jobs::list(&d.jobs);
    let keys: Vec<&str> = listed[0].secrets.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["auth_token"]);
    assert_eq!(
        listed[0].secrets[0].reference.as_deref(),
        Some("fliplet-agent/demo/auth_token")
    );
    // A new token: stored, referenced, resolved by the loader the CLI uses, and a run with
    // it fails without the token showing in the history.
    agent
        .set_secret("demo", "auth_token", "eu--wrong-token-e2e")
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("eu--wrong-token-e2e"));
    let loaded = jobs::load_resolved(&path, &store).unwrap();
    assert_eq!(loaded.job.auth_token.expose(), "eu--wrong-token-e2e");
    let failed = agent.run_job("demo", Trigger::Manual).await.unwrap();
    assert_eq!(failed.run.outcome, Outcome::Failed);
    let detail = agent.run_detail(failed.run.id.0).await.unwrap();
    let all = format!("{:?}", detail);
    assert!(!all.contains("eu--wrong-token-e2e"), "{all}");
    agent
        .set_secret("demo", "auth_token", fliplet_agent::app::demo::DEMO_TOKEN)
        .await
        .unwrap();
    let r = agent.run_job("demo", Trigger::Manual).await.unwrap();
    assert_eq!(r.run.outcome, Outcome::Success, "{:?}", r.run.error);
    assert_eq!(r.failures_before, 1);
    // Unknown key, unknown job.
    let e = agent.set_secret("demo", "query", "x").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Secrets);
    let e = agent
        .set_secret("nope", "auth_token", "x")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    agent.shutdown().await;
}

#[test]
fn set_job_secret_keeps_comments_and_replaces_plain_values() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sales.yml");
    std::fs::write(
        &path,
        "# my job\r\nauth_token: 'eu--plain'   # token\r\ndatasource_id: 1\r\n",
    )
    .unwrap();
    let store = SecretStore::sealed_file(tmp.path());
    let r = fliplet_agent::secret_store::set_job_secret(
        &path,
        &store,
        "sales",
        "auth_token",
        &Secret::new("eu--new"),
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!("# my job\r\nauth_token: {r}   # token\r\ndatasource_id: 1\r\n")
    );
    assert_eq!(
        store
            .get("fliplet-agent/sales/auth_token")
            .unwrap()
            .expose(),
        "eu--new"
    );
}

#[test]
fn job_ids_come_from_safe_file_names() {
    use std::path::Path;
    assert_eq!(
        jobs::job_id_of(Path::new("a/sales-sync.yml")).as_deref(),
        Some("sales-sync")
    );
    assert_eq!(jobs::job_id_of(Path::new("x.YAML")).as_deref(), Some("x"));
    assert_eq!(jobs::job_id_of(Path::new("bad name.yml")), None);
    assert_eq!(jobs::job_id_of(Path::new(".hidden.yml")), None);
    assert_eq!(jobs::job_id_of(Path::new("job.js")), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_schedules_do_not_run_and_resumed_ones_do() {
    let d = dirs();
    let agent = agent(&d).await;
    agent.create_demo().await.unwrap();
    let path = d.jobs.join("demo.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Every second (6-field crontab with seconds).
    std::fs::write(&path, text.replace("'*/15 * * * *'", "'* * * * * *'")).unwrap();
    agent.set_paused(true);
    agent.reload_schedules().await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(agent.runs(Some("demo"), 10).await.unwrap().is_empty());
    agent.set_paused(false);
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    let runs = agent.runs(Some("demo"), 50).await.unwrap();
    assert!(!runs.is_empty());
    assert!(runs.iter().all(|r| r.trigger == Trigger::Scheduled));
    agent.shutdown().await;
}

/// Issue 4 (handoff between the window process and the light tray): `release` lets the run in
/// flight finish and be recorded, stops the schedules and refuses new runs; the next process
/// opening the same data folder finds no run cut short, keeps the schedules paused if they
/// were, and schedules again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_finishes_the_run_in_flight_then_the_next_process_takes_over() {
    let d = dirs();
    let agent = agent(&d).await;
    agent.create_demo().await.unwrap();
    let path = d.jobs.join("demo.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("'*/15 * * * *'", "'* * * * * *'")).unwrap();
    let mut events = agent.subscribe();
    agent.reload_schedules().await;
    // Release while a scheduled run is in flight.
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if let Ok(AgentEvent::RunStarted { .. }) = events.recv().await {
                break;
            }
        }
    })
    .await
    .expect("a scheduled run starts");
    // Paused by the user: stays paused in the next process.
    agent.set_paused(true);
    agent.release().await;
    assert!(agent.is_releasing());
    assert!(agent.running_jobs().is_empty());
    let e = agent.run_job("demo", Trigger::Manual).await.unwrap_err();
    assert!(e.message.contains("handing over"), "{}", e.message);
    drop(agent);

    // The next process: same folders, nothing was left `running` (no "app stopped" failure),
    // and its schedules fire.
    let next = self::agent(&d).await;
    let runs = next.runs(Some("demo"), 50).await.unwrap();
    assert!(!runs.is_empty());
    assert!(
        runs.iter().all(|r| r.outcome != Outcome::Running
            && !r
                .error
                .as_deref()
                .unwrap_or("")
                .contains("stopped during this run")),
        "{runs:?}"
    );
    assert!(
        runs.iter().any(|r| r.outcome == Outcome::Success),
        "{runs:?}"
    );
    let before = runs.len();
    next.take_over(true);
    assert!(next.is_paused(), "the paused state is handed over");
    next.set_paused(false);
    next.resume_demo().await.unwrap();
    next.reload_schedules().await;
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    assert!(next.runs(Some("demo"), 50).await.unwrap().len() > before);
    next.shutdown().await;
}

/// The app's "review and allow once" path: a run stopped by the delete gate is recorded as
/// failed, its preview says how many deletes to permit, and the permitted run applies them.
#[tokio::test]
async fn a_run_stopped_by_the_delete_gate_is_allowed_once_from_its_preview() {
    let d = dirs();
    let agent = agent(&d).await;
    let emu = fliplet_emulator::Emulator::start().await;
    let basic = emu.setup_basic();
    let ds = basic.data_source_id;
    emu.insert_entries(
        ds,
        (1..=300)
            .map(|i| serde_json::json!({"id": i, "name": format!("row {i}")}))
            .collect(),
    );
    let db = d.data.join("src.sqlite");
    std::fs::create_dir_all(&d.data).unwrap();
    std::fs::create_dir_all(&d.jobs).unwrap();
    {
        use sqlx::ConnectOptions;
        let mut c = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE t (id INTEGER, name TEXT); INSERT INTO t VALUES (1,'row 1'),(2,'row 2');",
        )
        .execute(&mut c)
        .await
        .unwrap();
    }
    std::fs::write(
        d.jobs.join("gated.yml"),
        format!(
            "auth_token: {}\napi_url: {}\ndatasource_id: {ds}\ndatabase_driver: sqlite\ndatabase_name: {}\nquery: SELECT * FROM t\nprimary_column: id\nmode: replace\n",
            basic.token,
            emu.url(),
            db.display()
        ),
    )
    .unwrap();
    let r = agent.run_job("gated", Trigger::Manual).await.unwrap();
    assert_eq!(r.run.outcome, Outcome::Failed);
    assert!(
        r.run
            .error
            .as_deref()
            .unwrap_or("")
            .contains("would delete 298"),
        "{:?}",
        r.run.error
    );
    assert_eq!(emu.entries(ds).len(), 300);

    let preview = agent.preview_job("gated").await.unwrap();
    let blocked = preview.operations[0]
        .plan
        .as_ref()
        .and_then(|p| p.blocked_deletes);
    assert_eq!(blocked, Some(298));

    let r = agent.run_job_allowing_deletes("gated", 298).await.unwrap();
    assert_eq!(r.run.outcome, Outcome::Success, "{:?}", r.run.error);
    assert_eq!(r.run.counts.deleted, 298);
    assert_eq!(emu.entries(ds).len(), 2);
}
