//! Exactly once across processes: `kill -9` at each commit of a 20-commit run (with and
//! without a slow server) then an immediate restart; two processes started on one job at the
//! same moment; entries that share a key, found and (when asked) removed.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agent_cli::*;
use common::*;
use fliplet_agent::sync::run::{preview_job, run_job};
use fliplet_emulator::{Emulator, Fault, FaultAction};
use serde_json::{Value, json};

const ROWS: usize = 1000;
const BATCH: usize = 50; // 20 commits
const JOB_KEYS: &str = "batch_size: 50\nsync_on_init: true";

/// Key -> how many entries have it; the data must be the source row's.
fn check_equal(emu: &Emulator, ds: u64, rows: usize) -> Result<(), String> {
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for e in emu.entries(ds) {
        let id = e.data["id"].as_i64().ok_or("an entry without id")?;
        if e.data["name"] != json!(format!("row {id}")) {
            return Err(format!("entry {id} holds {}", e.data));
        }
        *seen.entry(id).or_default() += 1;
    }
    let dups: usize = seen.values().map(|n| n - 1).sum();
    let missing = (1..=rows as i64).filter(|i| !seen.contains_key(i)).count();
    if dups > 0 || missing > 0 || seen.len() != rows {
        return Err(format!(
            "{dups} duplicates, {missing} missing, {} keys",
            seen.len()
        ));
    }
    Ok(())
}

/// Kill the agent while commit `k` is in flight, restart it at once, check the result.
async fn kill_at(db: PathBuf, k: u32, slow: bool) -> Result<(), String> {
    let emu = Emulator::start().await;
    let basic = emu.setup_basic();
    let ds = basic.data_source_id;
    let dir = tempfile::tempdir().unwrap();
    let data_home = dir.path().join("data");
    emu.inject_fault(Fault {
        method: "POST".into(),
        path: format!("/v1/data-sources/{ds}/commit"),
        times: 1,
        after: k - 1,
        action: if slow {
            // Held 3 s, then applied although its client is gone.
            FaultAction::Delay(Duration::from_millis(3000))
        } else {
            // Applied at once; the answer never comes back before the kill.
            FaultAction::ApplyThenDelay(Duration::from_secs(30))
        },
    });
    let job = numbered_job(dir.path(), &emu, &basic.token, ds, &db, JOB_KEYS);
    let mut child = agent_cmd(&data_home)
        .arg("start")
        .arg(&job)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while commits_received(&emu) < k as usize {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill().await;
            return Err(format!("commit {k} never came"));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the agent ended before commit {k}: {status}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().await.unwrap(); // SIGKILL
    let out = agent_cmd(&data_home)
        .arg("start")
        .arg(&job)
        .output()
        .await
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("the restart failed: {log}"));
    }
    if !log.contains("stopped while its commit") {
        return Err(format!(
            "the restart did not notice the commit in flight: {log}"
        ));
    }
    // A held commit lands whatever happens; give a late one the time to show.
    if slow {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check_equal(&emu, ds, ROWS).map_err(|e| format!("{e}\n{log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_each_commit_then_restart_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = numbered_rows(dir.path(), ROWS).await;
    let limit = Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for slow in [false, true] {
        for k in 1..=20u32 {
            let (db, limit) = (db.clone(), limit.clone());
            tasks.spawn(async move {
                let _p = limit.acquire_owned().await.unwrap();
                (k, slow, kill_at(db, k, slow).await)
            });
        }
    }
    let mut failures = Vec::new();
    let mut n = 0;
    while let Some(r) = tasks.join_next().await {
        let (k, slow, r) = r.unwrap();
        n += 1;
        if let Err(e) = r {
            failures.push(format!("commit {k}, slow server {slow}: {e}"));
        }
    }
    println!(
        "kill -9 at each commit of a 20-commit run: {n} scenarios, {} passed, {} failed",
        n - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_job_write_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = numbered_rows(dir.path(), ROWS).await;
    let emu = Emulator::start().await;
    let basic = emu.setup_basic();
    let ds = basic.data_source_id;
    let data_home = dir.path().join("data");
    // Slow commits, so that the two runs would overlap.
    emu.inject_fault(Fault {
        method: "POST".into(),
        path: format!("/v1/data-sources/{ds}/commit"),
        times: 0,
        after: 0,
        action: FaultAction::Delay(Duration::from_millis(100)),
    });
    let job = numbered_job(dir.path(), &emu, &basic.token, ds, &db, JOB_KEYS);
    // Each process logs into a file (a pipe left unread would block its writer).
    let spawn = |name: &str| {
        let log = dir.path().join(name);
        let out = std::fs::File::create(&log).unwrap();
        let child = agent_cmd(&data_home)
            .arg("start")
            .arg(&job)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        (child, log)
    };
    let ((mut a, log_a), (mut b, log_b)) = (spawn("a.log"), spawn("b.log"));
    let (sa, sb) = (a.wait().await.unwrap(), b.wait().await.unwrap());
    let logs: Vec<String> = [log_a, log_b]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(sa.success() && sb.success(), "{logs:#?}");
    check_equal(&emu, ds, ROWS).unwrap();
    let waited = logs
        .iter()
        .filter(|l| l.contains("Another fliplet-agent process (pid"))
        .count();
    assert_eq!(waited, 1, "exactly one run waited for the other: {logs:#?}");
    assert!(
        logs.iter().any(|l| l.contains("Nothing to commit")),
        "the second run found everything done: {logs:#?}"
    );
    assert_eq!(
        commits_received(&emu),
        ROWS / BATCH,
        "the second run sent nothing"
    );

    // With a short wait bound, the second process gives up before writing, non-zero.
    let emu2 = Emulator::start().await;
    let basic2 = emu2.setup_basic();
    let ds2 = basic2.data_source_id;
    emu2.inject_fault(Fault {
        method: "POST".into(),
        path: format!("/v1/data-sources/{ds2}/commit"),
        times: 0,
        after: 0,
        action: FaultAction::Delay(Duration::from_millis(200)),
    });
    let job2 = numbered_job(dir.path(), &emu2, &basic2.token, ds2, &db, JOB_KEYS);
    let first = agent_cmd(&data_home)
        .arg("start")
        .arg(&job2)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while commits_received(&emu2) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = agent_cmd(&data_home)
        .env("FLIPLET_LOCK_WAIT_SECS", "1")
        .arg("start")
        .arg(&job2)
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&second.stdout).into_owned()
        + &String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{log}");
    assert!(
        log.contains("is still syncing data source") && log.contains("FLIPLET_LOCK_WAIT_SECS"),
        "{log}"
    );
    assert!(first.wait_with_output().await.unwrap().status.success());
    check_equal(&emu2, ds2, ROWS).unwrap();
    assert_eq!(commits_received(&emu2), ROWS / BATCH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_sharing_a_key_are_reported_and_removed_only_when_asked() {
    let env = Env::new().await;
    let db = numbered_rows(env.dir.path(), 5).await;
    let ds = env.ds();
    // Key 1 three times, key 2 twice, key 4 once with other data; key 9 not in the source.
    let ids = env.emu.insert_entries(
        ds,
        vec![
            json!({"id": 1, "name": "row 1"}),
            json!({"id": 2, "name": "row 2"}),
            json!({"id": 1, "name": "copy a"}),
            json!({"id": 2, "name": "row 2"}),
            json!({"id": 1, "name": "copy b"}),
            json!({"id": 4, "name": "old"}),
            json!({"id": 9, "name": "other"}),
        ],
    );
    let extras = vec![ids[2], ids[3], ids[4]];
    let base = format!(
        "auth_token: {}\napi_url: {}\ndatasource_id: {ds}\ndatabase_driver: sqlite\ndatabase_name: {}\nquery: SELECT id, name FROM t ORDER BY id\nprimary_column: id\n",
        env.basic.token,
        env.emu.url(),
        db.display()
    );
    let write = |name: &str, extra: &str| {
        let p = env.dir.path().join(name);
        std::fs::write(&p, format!("{base}{extra}")).unwrap();
        load(&p)
    };

    // Reported, left alone.
    let job = write("report.yml", "");
    let preview = preview_job(&job, None).await;
    let plan = preview.operations[0].plan.clone().expect("a plan");
    assert_eq!(plan.duplicate_count, 3);
    let listed: Vec<u64> = plan.duplicates.iter().map(|d| d.entry_id).collect();
    assert_eq!(listed, extras);
    assert!(plan.duplicates.iter().all(|d| !d.deleted));
    assert!(plan.duplicates[0].kept == ids[0] && plan.duplicates[1].kept == ids[1]);
    let warning = plan
        .warnings
        .iter()
        .find(|w| w.contains("share"))
        .expect("a warning about shared keys");
    assert!(
        warning.contains(&format!("{}, {}, {}", extras[0], extras[1], extras[2]))
            && warning.contains("remove_duplicate_entries"),
        "{warning}"
    );
    assert!(plan.deletes.is_empty());
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        env.emu.entries(ds).len(),
        7 + 2,
        "rows 3 and 5 inserted, nothing deleted"
    );

    // Removed when asked: the preview shows exactly those deletes, the run does exactly them.
    let job = write("dedupe.yml", "remove_duplicate_entries: true\n");
    let preview = preview_job(&job, None).await;
    let plan = preview.operations[0].plan.clone().expect("a plan");
    let mut deletes: Vec<(u64, &str)> = plan
        .deletes
        .iter()
        .map(|d| (d.entry_id, d.reason))
        .collect();
    deletes.sort();
    assert_eq!(
        deletes,
        extras
            .iter()
            .map(|&i| (i, "duplicate_key"))
            .collect::<Vec<_>>()
    );
    assert_eq!(plan.counts.deleted, 3);
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let left: Vec<u64> = env.emu.entries(ds).iter().map(|e| e.id).collect();
    for id in &extras {
        assert!(!left.contains(id), "extra copy {id} removed");
    }
    for id in [ids[0], ids[1], ids[5], ids[6]] {
        assert!(left.contains(&id), "entry {id} kept");
    }
    assert_eq!(left.len(), 6, "5 keys of the source and key 9");
    let data: Vec<Value> = env.emu.entries(ds).into_iter().map(|e| e.data).collect();
    assert!(data.contains(&json!({"id": 1, "name": "row 1"})));
}
