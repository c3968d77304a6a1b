//! Bounded waits on the source database (`query_timeout`, `stall_timeout`) against the real
//! PostgreSQL and MariaDB of this machine, and SQLite: a query that runs too long, and a
//! result that stops arriving half-way (through a stalling TCP proxy), fail the run before
//! any write to Fliplet, with a message naming the key to change — and the query is no
//! longer running on the server afterwards.
//!
//! Jobs run the way the agent runs them (`sync::run::run_job` against the Fliplet emulator), or
//! through `source::fetch_source` with the source of a loaded job file.

mod common;
#[path = "common/stall_proxy.rs"]
mod stall_proxy;

use std::time::{Duration, Instant};

use common::agent_cli::*;
use common::*;
use fliplet_agent::config::Job;
use fliplet_agent::source::{self, Cancelled, SourceError};
use fliplet_agent::sync::run::run_job;
use stall_proxy::StallProxy;

/// Generous upper bound for a run that must fail within a few seconds.
const QUICK: Duration = Duration::from_secs(30);

// ---------- What runs on the servers ----------

/// Sessions (other than the asking one) whose current or last query contains `marker`,
/// as `state: query`.
async fn pg_sessions(pool: &sqlx::PgPool, marker: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT coalesce(state, '?') || ': ' || left(query, 120) FROM pg_stat_activity \
         WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()",
    )
    .bind(marker)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Threads executing a statement that contains `marker`, as `command/state: info`.
async fn mysql_running(pool: &sqlx::MySqlPool, marker: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT CONCAT(COMMAND, '/', COALESCE(STATE, ''), ': ', LEFT(INFO, 120)) \
         FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE CONCAT('%', ?, '%') AND ID <> CONNECTION_ID()",
    )
    .bind(marker)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Poll `check` until it returns nothing (true) or `within` passes (false).
async fn eventually_empty<F, Fut>(within: Duration, mut check: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let end = Instant::now() + within;
    loop {
        let left = check().await;
        if left.is_empty() || Instant::now() > end {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Poll `check` until it returns something.
async fn eventually_some<F, Fut>(within: Duration, mut check: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let end = Instant::now() + within;
    loop {
        let found = check().await;
        if !found.is_empty() || Instant::now() > end {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The connection block of a job file going through the proxy on `port`.
fn via_proxy(yaml: &str, port: u16) -> String {
    yaml.lines()
        .map(|l| {
            if l.starts_with("database_host:") {
                "database_host: 127.0.0.1".to_string()
            } else if l.starts_with("database_port:") {
                format!("database_port: {port}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run `job` in the background and return once `running` shows its query on the server
/// (so that the test proves the query was there before the agent stopped it).
async fn run_until_seen<F, Fut>(
    job: Job,
    running: F,
) -> (
    tokio::task::JoinHandle<fliplet_agent::sync::run::JobReport>,
    Instant,
)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let started = Instant::now();
    let run = tokio::spawn(async move { run_job(&job, false, None).await });
    let seen = eventually_some(Duration::from_secs(20), running).await;
    assert!(
        !seen.is_empty(),
        "the query never showed on the server (or the run already ended: {})",
        run.is_finished()
    );
    (run, started)
}

// ---------- query_timeout ----------

#[tokio::test]
async fn pg_query_timeout_stops_a_long_query_before_any_write() {
    let env = Env::new().await;
    let pool = pg().await;
    let marker = unique("qt_pg_sleep");
    let job = env.job(
        &pg_yaml(),
        &format!("query: SELECT pg_sleep(60) AS s, '{marker}' AS m\nquery_timeout: 2"),
    );
    let (run, started) = run_until_seen(job, || async {
        pg_sessions(&pool, &marker)
            .await
            .into_iter()
            .filter(|s| s.starts_with("active"))
            .collect()
    })
    .await;
    let report = run.await.unwrap();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert!(!report.succeeded());
    let err = report.first_error().unwrap();
    assert!(
        err.contains("The query did not finish within 2 s (query_timeout)")
            && err.contains("cancelled on the database server")
            && err.contains("raise query_timeout in the job file"),
        "{err}"
    );
    assert!(env.writes().is_empty(), "wrote: {:?}", env.writes());
    assert!(env.data().is_empty());
    let left = eventually_empty(Duration::from_secs(10), || pg_sessions(&pool, &marker)).await;
    assert!(left.is_empty(), "still on the server: {left:?}");
}

#[tokio::test]
async fn mysql_query_timeout_stops_a_long_query_before_any_write() {
    let env = Env::new().await;
    let pool = mysql().await;
    let marker = unique("qt_my_sleep");
    let job = env.job(
        &mysql_yaml(),
        &format!("query: SELECT SLEEP(60) AS s, '{marker}' AS m\nquery_timeout: 2"),
    );
    let (run, started) = run_until_seen(job, || mysql_running(&pool, &marker)).await;
    let report = run.await.unwrap();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert!(!report.succeeded());
    let err = report.first_error().unwrap();
    assert!(
        err.contains("The query did not finish within 2 s (query_timeout)")
            && err.contains("cancelled on the database server")
            && err.contains("raise query_timeout in the job file"),
        "{err}"
    );
    assert!(env.writes().is_empty(), "wrote: {:?}", env.writes());
    let left = eventually_empty(Duration::from_secs(10), || mysql_running(&pool, &marker)).await;
    assert!(left.is_empty(), "still on the server: {left:?}");
}

#[tokio::test]
async fn sqlite_query_timeout_interrupts_a_long_query() {
    let env = Env::new().await;
    let (db, _) = sqlite(&env, "CREATE TABLE t (x INTEGER);").await;
    // Never ends: counts an endless recursive sequence.
    let job = env.job(
        &db,
        "query: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c\nquery_timeout: 1",
    );
    let started = Instant::now();
    let report = run_job(&job, false, None).await;
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    let err = report.first_error().unwrap();
    assert!(
        err.contains("did not finish within 1 s (query_timeout); it was interrupted"),
        "{err}"
    );
    assert!(env.writes().is_empty(), "wrote: {:?}", env.writes());
}

#[tokio::test]
async fn the_limits_are_set_on_the_server() {
    let env = Env::new().await;
    let pg_job = env.job(
        &pg_yaml(),
        "query: SELECT current_setting('statement_timeout') AS t\nquery_timeout: 7",
    );
    let t = source::fetch_source(push_source(&pg_job)).await.unwrap();
    assert_eq!(t.rows, vec![vec![serde_json::json!("7s")]]);

    let my_job = env.job(
        &mysql_yaml(),
        "query: SELECT @@max_statement_time AS t\nquery_timeout: 7",
    );
    let t = source::fetch_source(push_source(&my_job)).await.unwrap();
    assert_eq!(t.rows, vec![vec![serde_json::json!(7)]]);

    // 0: no limit from the agent (the server's own setting is left as it is).
    let pg_job = env.job(
        &pg_yaml(),
        "query: SELECT current_setting('statement_timeout') AS t\nquery_timeout: 0",
    );
    let t = source::fetch_source(push_source(&pg_job)).await.unwrap();
    assert_eq!(t.rows, vec![vec![serde_json::json!("0")]]);
}

// ---------- A result that stops arriving (stalling proxy) ----------

/// Many wide rows: far more than the kernel buffers between the server and the agent hold,
/// so that the server is still writing when the proxy stops reading.
fn pg_many_rows(marker: &str) -> String {
    format!(
        "SELECT g AS n, repeat('x', 100) AS pad, '{marker}' AS m FROM generate_series(1, 500000) g"
    )
}

fn mysql_many_rows(marker: &str) -> String {
    format!("SELECT seq AS n, REPEAT('x', 100) AS pad, '{marker}' AS m FROM seq_1_to_500000")
}

const STALL_AFTER: u64 = 256 * 1024;

#[tokio::test]
async fn pg_a_stalled_result_fails_on_stall_timeout_and_the_backend_is_stopped() {
    let env = Env::new().await;
    let pool = pg().await;
    let proxy = StallProxy::start(pg_upstream()).await;
    proxy.stall_after(STALL_AFTER);
    let marker = unique("stall_pg");
    let job = env.job(
        &via_proxy(&pg_yaml(), proxy.port),
        &format!(
            "query: {}\nstall_timeout: 2\nquery_timeout: 600",
            pg_many_rows(&marker)
        ),
    );
    let (run, started) = run_until_seen(job, || pg_sessions(&pool, &marker)).await;
    let report = run.await.unwrap();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert!(proxy.stalled() >= 1, "the proxy never stalled");
    let err = report.first_error().unwrap();
    assert!(
        err.starts_with("The database stopped sending rows: none arrived for 2 s after row ")
            && err.contains("(stall_timeout); it was cancelled on the database server")
            && err.contains("raise stall_timeout in the job file"),
        "{err}"
    );
    assert!(env.writes().is_empty(), "wrote: {:?}", env.writes());
    // The proxy still holds the server's socket open: only the agent's
    // pg_terminate_backend can have ended the backend.
    let left = eventually_empty(Duration::from_secs(10), || pg_sessions(&pool, &marker)).await;
    assert!(left.is_empty(), "still on the server: {left:?}");
    drop(proxy);
}

#[tokio::test]
async fn pg_a_stalled_result_is_bounded_by_query_timeout_without_stall_timeout() {
    let env = Env::new().await;
    let pool = pg().await;
    let proxy = StallProxy::start(pg_upstream()).await;
    proxy.stall_after(STALL_AFTER);
    let marker = unique("stall_pg_qt");
    let job = env.job(
        &via_proxy(&pg_yaml(), proxy.port),
        &format!(
            "query: {}\nstall_timeout: 0\nquery_timeout: 3",
            pg_many_rows(&marker)
        ),
    );
    let (run, started) = run_until_seen(job, || pg_sessions(&pool, &marker)).await;
    let report = run.await.unwrap();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert!(proxy.stalled() >= 1, "the proxy never stalled");
    let err = report.first_error().unwrap();
    assert!(
        err.contains("The query did not finish within 3 s (query_timeout); it was cancelled on the database server"),
        "{err}"
    );
    assert!(env.writes().is_empty(), "wrote: {:?}", env.writes());
    let left = eventually_empty(Duration::from_secs(10), || pg_sessions(&pool, &marker)).await;
    assert!(left.is_empty(), "still on the server: {left:?}");
}

#[tokio::test]
async fn mysql_a_stalled_result_fails_on_stall_timeout_and_the_query_is_killed() {
    let env = Env::new().await;
    let pool = mysql().await;
    let proxy = StallProxy::start(mysql_upstream()).await;
    proxy.stall_after(STALL_AFTER);
    let marker = unique("stall_my");
    let job = env.job(
        &via_proxy(&mysql_yaml(), proxy.port),
        &format!(
            "query: {}\nstall_timeout: 2\nquery_timeout: 600",
            mysql_many_rows(&marker)
        ),
    );
    let (run, started) = run_until_seen(job, || mysql_running(&pool, &marker)).await;
    let report = run.await.unwrap();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert!(proxy.stalled() >= 1, "the proxy never stalled");
    let err = report.first_error().unwrap();
    assert!(
        err.starts_with("The database stopped sending rows: none arrived for 2 s after row ")
            && err.contains("(stall_timeout); it was cancelled on the database server"),
        "{err}"
    );
    assert!(env.writes().is_empty(), "wrote: {:?}", env.writes());
    let left = eventually_empty(Duration::from_secs(10), || mysql_running(&pool, &marker)).await;
    assert!(left.is_empty(), "still on the server: {left:?}");
}

#[tokio::test]
async fn mysql_a_stalled_result_is_bounded_by_query_timeout_without_stall_timeout() {
    let env = Env::new().await;
    let pool = mysql().await;
    let proxy = StallProxy::start(mysql_upstream()).await;
    proxy.stall_after(STALL_AFTER);
    let marker = unique("stall_my_qt");
    let job = env.job(
        &via_proxy(&mysql_yaml(), proxy.port),
        &format!(
            "query: {}\nstall_timeout: 0\nquery_timeout: 3",
            mysql_many_rows(&marker)
        ),
    );
    let (run, started) = run_until_seen(job, || mysql_running(&pool, &marker)).await;
    let report = run.await.unwrap();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert!(proxy.stalled() >= 1, "the proxy never stalled");
    let err = report.first_error().unwrap();
    assert!(
        err.contains("The query did not finish within 3 s (query_timeout); it was cancelled on the database server"),
        "{err}"
    );
    assert!(env.writes().is_empty(), "wrote: {:?}", env.writes());
    let left = eventually_empty(Duration::from_secs(10), || mysql_running(&pool, &marker)).await;
    assert!(left.is_empty(), "still on the server: {left:?}");
}

/// Through `fetch_source` (the function a run uses): the error is the typed one.
#[tokio::test]
async fn the_source_error_says_what_happened_to_the_query() {
    let env = Env::new().await;
    let proxy = StallProxy::start(pg_upstream()).await;
    proxy.stall_after(STALL_AFTER);
    let marker = unique("stall_pg_typed");
    let job = env.job(
        &via_proxy(&pg_yaml(), proxy.port),
        &format!("query: {}\nstall_timeout: 1", pg_many_rows(&marker)),
    );
    let err = source::fetch_source(push_source(&job)).await.unwrap_err();
    match err {
        SourceError::Stalled {
            seconds,
            rows,
            cancelled,
        } => {
            assert_eq!(seconds, 1);
            assert!(rows > 0 && rows < 500_000, "{rows}");
            assert_eq!(cancelled, Cancelled::OnServer);
        }
        other => panic!("{other}"),
    }
}

// ---------- A killed agent ----------

/// Start `fliplet-agent start <job> --test` and kill it (SIGKILL) once `running` shows its
/// query on the server.
async fn kill_agent_while_running<F, Fut>(job: &std::path::Path, running: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let mut child = agent_cmd(data_home())
        .arg("start")
        .arg(job)
        .arg("--test")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let seen = eventually_some(Duration::from_secs(20), running).await;
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().await.unwrap();
    assert!(
        !seen.is_empty() && still_running,
        "the agent's query never showed on the server"
    );
}

/// PostgreSQL 14+: `client_connection_check_interval` ends the query of a killed agent
/// within seconds, even with no `query_timeout`.
#[tokio::test]
async fn pg_a_killed_agent_leaves_no_query_behind() {
    let env = Env::new().await;
    let pool = pg().await;
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&pool)
        .await
        .unwrap();
    if version < 140_000 {
        eprintln!("PostgreSQL {version}: no client_connection_check_interval, test skipped");
        return;
    }
    let marker = unique("killed_pg");
    let job = env.write_job(
        &format!("{marker}.yml"),
        &pg_yaml(),
        &format!("query: SELECT pg_sleep(120) AS s, '{marker}' AS m\nquery_timeout: 0"),
    );
    kill_agent_while_running(&job, || async {
        pg_sessions(&pool, &marker)
            .await
            .into_iter()
            .filter(|s| s.starts_with("active"))
            .collect()
    })
    .await;
    let left = eventually_empty(Duration::from_secs(20), || pg_sessions(&pool, &marker)).await;
    assert!(left.is_empty(), "still on the server: {left:?}");
}

/// MariaDB: `max_statement_time` ends the query of a killed agent at `query_timeout`.
#[tokio::test]
async fn mysql_a_killed_agent_leaves_no_query_behind() {
    let env = Env::new().await;
    let pool = mysql().await;
    let marker = unique("killed_my");
    let job = env.write_job(
        &format!("{marker}.yml"),
        &mysql_yaml(),
        &format!("query: SELECT SLEEP(120) AS s, '{marker}' AS m\nquery_timeout: 3"),
    );
    kill_agent_while_running(&job, || mysql_running(&pool, &marker)).await;
    let left = eventually_empty(Duration::from_secs(20), || mysql_running(&pool, &marker)).await;
    assert!(left.is_empty(), "still on the server: {left:?}");
}
