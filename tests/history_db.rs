//! Run history against a real SQLite file (each test in its own temp folder).

use fliplet_agent::app::history::{
    History, KEEP_RUNS_PER_JOB, Outcome, RunCounts, RunId, SCHEMA_VERSION, Trigger, redact,
};
use fliplet_agent::log::{LogCapture, LogLevel};
use fliplet_agent::secret::Secret;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

async fn open() -> (tempfile::TempDir, History) {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&dir.path().join("data").join("history.sqlite"))
        .await
        .unwrap();
    (dir, h)
}

fn counts(n: u64) -> RunCounts {
    RunCounts {
        inserted: n,
        updated: n + 1,
        deleted: n + 2,
        unchanged: n + 3,
        skipped: n + 4,
    }
}

#[tokio::test]
async fn schema_is_versioned_and_wal() {
    let (dir, h) = open().await;
    assert_eq!(h.schema_version().await.unwrap(), SCHEMA_VERSION);
    h.close().await;
    let path = dir.path().join("data").join("history.sqlite");
    // Reopening an existing file keeps the data and the version.
    let h = History::open(&path).await.unwrap();
    assert_eq!(h.schema_version().await.unwrap(), SCHEMA_VERSION);
    let id = h
        .start_run("j", "j.yml", Trigger::Manual, None)
        .await
        .unwrap();
    assert!(dir.path().join("data").join("history.sqlite-wal").exists());
    h.close().await;
    let h = History::open(&path).await.unwrap();
    assert!(h.run(id).await.unwrap().is_some());
    h.close().await;

    // A file from a newer version is refused with an actionable message.
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&opts)
        .await
        .unwrap();
    sqlx::raw_sql("PRAGMA user_version = 99")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let err = History::open(&path).await.unwrap_err().to_string();
    assert!(err.contains("newer version"), "{err}");
}

#[tokio::test]
async fn run_lifecycle_with_logs() {
    let (_dir, h) = open().await;
    let id = h
        .start_run("sales", "sales.yml", Trigger::Scheduled, Some(0))
        .await
        .unwrap();
    let running = h.last_run("sales").await.unwrap().unwrap();
    assert_eq!(running.id, id);
    assert_eq!(running.outcome, Outcome::Running);
    assert_eq!(running.finished_at, None);
    assert_eq!(running.operation, Some(0));
    assert_eq!(running.trigger, Trigger::Scheduled);

    h.append_log(id, LogLevel::Info, "Fetched 3 rows")
        .await
        .unwrap();
    h.append_log(id, LogLevel::Warn, "one row skipped")
        .await
        .unwrap();
    h.finish_run(id, Outcome::Success, counts(1), None)
        .await
        .unwrap();

    let detail = h.run(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.outcome, Outcome::Success);
    assert_eq!(detail.summary.counts, counts(1));
    assert!(detail.summary.finished_at.unwrap() >= detail.summary.started_at);
    assert!(detail.summary.duration().is_some());
    let logs: Vec<_> = detail
        .logs
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert_eq!(
        logs,
        vec![
            (LogLevel::Info, "Fetched 3 rows"),
            (LogLevel::Warn, "one row skipped")
        ]
    );
    assert!(h.run(RunId(9999)).await.unwrap().is_none());
    assert!(h.last_run("other").await.unwrap().is_none());

    // Serialises for the desktop app with snake_case enums and flattened summary.
    let json = serde_json::to_value(&detail).unwrap();
    assert_eq!(json["trigger"], "scheduled");
    assert_eq!(json["outcome"], "success");
    assert_eq!(json["counts"]["deleted"], 3);
    assert_eq!(json["logs"][1]["level"], "warn");
}

/// The history is bounded: every finished run prunes each job to its newest
/// `KEEP_RUNS_PER_JOB` runs, yet a job's last success survives a long failure streak.
#[tokio::test]
async fn history_is_pruned_at_the_end_of_each_run_keeping_the_last_success() {
    let (_dir, h) = open().await;
    let keep = KEEP_RUNS_PER_JOB as usize;
    let first = h
        .start_run("a", "a.yml", Trigger::Scheduled, None)
        .await
        .unwrap();
    h.finish_run(first, Outcome::Success, counts(1), None)
        .await
        .unwrap();
    h.append_log(first, LogLevel::Info, "the success")
        .await
        .unwrap();
    // a dry run succeeding later does not count as the job's success
    let dry = h
        .start_run("a", "a.yml", Trigger::DryRun, None)
        .await
        .unwrap();
    h.finish_run(dry, Outcome::Success, counts(0), None)
        .await
        .unwrap();
    let mut last = dry;
    for _ in 0..keep + 10 {
        last = h
            .start_run("a", "a.yml", Trigger::Scheduled, None)
            .await
            .unwrap();
        h.finish_run(last, Outcome::Failed, RunCounts::default(), Some("down"))
            .await
            .unwrap();
    }
    let runs = h.runs("a", 10 * keep as u32).await.unwrap();
    assert_eq!(
        runs.len(),
        keep + 1,
        "the newest {keep} runs and the last success"
    );
    assert_eq!(runs[0].id, last);
    assert_eq!(runs.last().unwrap().id, first);
    assert!(h.run(dry).await.unwrap().is_none(), "old dry runs go");
    let kept = h.run(first).await.unwrap().unwrap();
    assert_eq!(kept.logs.len(), 1, "the kept run keeps its log");
    let success = h.last_real_run("a", Outcome::Success, None).await.unwrap();
    assert_eq!(success.map(|r| r.id), Some(first));
}

#[tokio::test]
async fn runs_are_newest_first_per_job_and_failures_are_counted() {
    let (_dir, h) = open().await;
    let mut ids = Vec::new();
    // a: success, failed, skipped, failed, failed, success, failed
    for outcome in [
        Outcome::Success,
        Outcome::Failed,
        Outcome::Skipped,
        Outcome::Failed,
        Outcome::Failed,
        Outcome::Success,
        Outcome::Failed,
    ] {
        let id = h
            .start_run("a", "a.yml", Trigger::Scheduled, None)
            .await
            .unwrap();
        // interleave another job's failures: they must not count for `a`
        let other = h
            .start_run("b", "b.yml", Trigger::Manual, None)
            .await
            .unwrap();
        h.finish_run(
            other,
            Outcome::Failed,
            RunCounts::default(),
            Some("b failed"),
        )
        .await
        .unwrap();
        let err = (outcome == Outcome::Failed).then_some("boom");
        h.finish_run(id, outcome, RunCounts::default(), err)
            .await
            .unwrap();
        ids.push(id);
    }
    let runs = h.runs("a", 3).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[6], ids[5], ids[4]]
    );
    assert_eq!(runs[0].error.as_deref(), Some("boom"));
    assert_eq!(h.recent_runs(2).await.unwrap().len(), 2);

    assert_eq!(h.consecutive_failures_before(ids[0]).await.unwrap(), 0);
    assert_eq!(h.consecutive_failures_before(ids[1]).await.unwrap(), 0);
    // the success at index 5 recovered after 3 failures (the skipped run is ignored)
    assert_eq!(h.consecutive_failures_before(ids[5]).await.unwrap(), 3);
    assert_eq!(h.consecutive_failures_before(ids[6]).await.unwrap(), 0);
    assert_eq!(
        h.consecutive_failures_before(RunId(12345)).await.unwrap(),
        0
    );

    // prune keeps the newest N per job (and the latest success and failure), and removes the
    // logs of what it deletes
    h.append_log(ids[0], LogLevel::Info, "old").await.unwrap();
    let running = h
        .start_run("a", "a.yml", Trigger::Manual, None)
        .await
        .unwrap();
    let deleted = h.prune(2).await.unwrap();
    // a: 8 runs, keep the newest 2 (one is running, the other its latest failure) and its
    // latest success -> 5 deleted; b: 7 runs -> 5 deleted
    assert_eq!(deleted, 10);
    let left: Vec<_> = h
        .runs("a", 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![running, ids[6], ids[5]]);
    assert!(h.run(ids[0]).await.unwrap().is_none());
    assert_eq!(h.runs("b", 10).await.unwrap().len(), 2);

    // a run left running by a crash is marked failed at start-up
    assert_eq!(
        h.abandon_running("the agent stopped during this run")
            .await
            .unwrap(),
        1
    );
    let r = h.run(running).await.unwrap().unwrap().summary;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.finished_at.is_some());
}

#[tokio::test]
async fn captured_span_logs_are_stored() {
    let (_dir, h) = open().await;
    let capture = LogCapture::new();
    let subscriber = tracing_subscriber::registry().with(capture.layer());
    let _default = tracing::subscriber::set_default(subscriber);

    let id = h
        .start_run("j", "j.yml", Trigger::DryRun, None)
        .await
        .unwrap();
    let span = tracing::info_span!("job", job = "j.yml");
    let watch = capture.watch(&span);
    async {
        tracing::info!("Fetching data via query");
        tokio::task::yield_now().await;
        tracing::error!(status = 401, "Unauthorized");
    }
    .instrument(span)
    .await;
    tracing::info!("not part of the run");
    h.append_logs(id, &watch.finish()).await.unwrap();
    h.finish_run(
        id,
        Outcome::Failed,
        RunCounts::default(),
        Some("Unauthorized"),
    )
    .await
    .unwrap();
    let logs = h.run(id).await.unwrap().unwrap().logs;
    let got: Vec<_> = logs.iter().map(|l| (l.level, l.message.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (LogLevel::Info, "Fetching data via query"),
            (LogLevel::Error, "Unauthorized status=401")
        ]
    );
}

/// Secrets never reach the history: callers redact text built from a job before storing it.
#[tokio::test]
async fn secrets_do_not_reach_the_history() {
    let (dir, h) = open().await;
    let token = Secret::new("eu--super-secret-token-123");
    let password = Secret::new("db-pass-456");
    // An error text that (wrongly) embeds the token, e.g. from a library error message.
    let raw_error = format!(
        "request to https://api.fliplet.com?auth_token={} failed; password={}",
        token.expose(),
        password.expose()
    );
    let id = h
        .start_run("j", "j.yml", Trigger::Manual, None)
        .await
        .unwrap();
    h.append_log(
        id,
        LogLevel::Error,
        &redact(&raw_error, &[&token, &password]),
    )
    .await
    .unwrap();
    // Formatting the Secret itself never shows it either.
    h.append_log(id, LogLevel::Info, &format!("token: {token} {token:?}"))
        .await
        .unwrap();
    h.finish_run(
        id,
        Outcome::Failed,
        RunCounts::default(),
        Some(&redact(&raw_error, &[&token, &password])),
    )
    .await
    .unwrap();

    let detail = h.run(id).await.unwrap().unwrap();
    let json = serde_json::to_string(&detail).unwrap();
    assert!(!json.contains(token.expose()));
    assert!(!json.contains(password.expose()));
    assert!(json.contains("<redacted>"));
    h.close().await;

    // Nor anywhere in the database files. (SQLite may delete its -wal/-shm files between the
    // listing and the read: a file gone by then holds nothing.)
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let bytes = match std::fs::read(entry.unwrap().path()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{e}"),
        };
        for s in [token.expose(), password.expose()] {
            assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()));
        }
    }
}
