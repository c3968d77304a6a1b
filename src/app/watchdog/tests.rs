use super::*;
use chrono::{TimeDelta, TimeZone};

use crate::app::history::RunCounts;
use crate::config::{Operation, PushOperation};
use crate::schedule::parse_duration;

/// A local time (cron schedules run in local time), as UTC.
fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Local
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("an unambiguous local time")
        .with_timezone(&Utc)
}

const MIN: TimeDelta = TimeDelta::minutes(1);
const SEC: TimeDelta = TimeDelta::seconds(1);
const DAY: TimeDelta = TimeDelta::days(1);

#[test]
fn the_staleness_rule() {
    // 2026-01-08 is a Thursday. Times are local, far from any DST change.
    struct Case {
        what: &'static str,
        stale_after: Option<u64>,
        frequency: Option<&'static str>,
        /// Last success (or, never succeeded, the anchor).
        since: DateTime<Utc>,
        /// `None`: never stale.
        stale_at: Option<DateTime<Utc>>,
    }
    let thu_0900 = local(2026, 1, 8, 9, 0, 30);
    let cases = [
        Case {
            what: "every 15 minutes: 3 intervals is under a day, so the one-day floor",
            stale_after: None,
            frequency: Some("*/15 * * * *"),
            since: local(2026, 1, 5, 10, 0, 20),
            stale_at: Some(local(2026, 1, 6, 10, 0, 20)),
        },
        Case {
            what: "every 6 hours: 18 h, floored to a day",
            stale_after: None,
            frequency: Some("0 */6 * * *"),
            since: local(2026, 1, 5, 6, 0, 5),
            stale_at: Some(local(2026, 1, 6, 6, 0, 5)),
        },
        Case {
            what: "daily at 02:00: stale when the third run after the success is due",
            stale_after: None,
            frequency: Some("0 2 * * *"),
            since: local(2026, 1, 5, 2, 0, 30),
            stale_at: Some(local(2026, 1, 8, 2, 0, 0)),
        },
        Case {
            what: "weekdays at 09:00, last success Thursday: Friday, Monday, Tuesday missed",
            stale_after: None,
            frequency: Some("0 9 * * 1-5"),
            since: thu_0900,
            stale_at: Some(local(2026, 1, 13, 9, 0, 0)),
        },
        Case {
            what: "weekdays at 09:00, last success Friday: not stale over the weekend",
            stale_after: None,
            frequency: Some("0 9 * * 1-5"),
            since: local(2026, 1, 9, 9, 0, 30),
            stale_at: Some(local(2026, 1, 14, 9, 0, 0)),
        },
        Case {
            what: "weekly: three weeks",
            stale_after: None,
            frequency: Some("@weekly"),
            since: local(2026, 1, 4, 0, 1, 0),
            stale_at: Some(local(2026, 1, 25, 0, 0, 0)),
        },
        Case {
            what: "monthly (rare): three months",
            stale_after: None,
            frequency: Some("0 0 1 * *"),
            since: local(2026, 1, 1, 0, 0, 40),
            stale_at: Some(local(2026, 4, 1, 0, 0, 0)),
        },
        Case {
            what: "stale_after wins over the schedule",
            stale_after: Some(36 * 3600),
            frequency: Some("*/15 * * * *"),
            since: thu_0900,
            stale_at: Some(thu_0900 + TimeDelta::hours(36)),
        },
        Case {
            what: "stale_after shorter than a day has no floor",
            stale_after: Some(5),
            frequency: Some("@daily"),
            since: thu_0900,
            stale_at: Some(thu_0900 + SEC * 5),
        },
        Case {
            what: "stale_after without a frequency",
            stale_after: Some(3600),
            frequency: None,
            since: thu_0900,
            stale_at: Some(thu_0900 + TimeDelta::hours(1)),
        },
        Case {
            what: "stale_after: 0 turns the watchdog off",
            stale_after: Some(0),
            frequency: Some("*/15 * * * *"),
            since: thu_0900,
            stale_at: None,
        },
        Case {
            what: "no frequency, no stale_after: never stale",
            stale_after: None,
            frequency: None,
            since: thu_0900,
            stale_at: None,
        },
        Case {
            what: "a schedule that never fires is never stale by default",
            stale_after: None,
            frequency: Some("0 0 31 2 *"),
            since: thu_0900,
            stale_at: None,
        },
    ];
    for c in cases {
        let b = bound(c.stale_after, c.frequency);
        assert_eq!(stale_at(&b, c.since), c.stale_at, "{}", c.what);
        match c.stale_at {
            Some(at) => {
                assert_eq!(is_stale(&b, c.since, at - SEC), Some(false), "{}", c.what);
                assert_eq!(is_stale(&b, c.since, at), Some(true), "{}", c.what);
                assert_eq!(is_stale(&b, c.since, at + DAY), Some(true), "{}", c.what);
            }
            None => assert_eq!(
                is_stale(&b, c.since, c.since + DAY * 3650),
                None,
                "{}",
                c.what
            ),
        }
    }
}

#[test]
fn durations_parse_and_print() {
    for (text, secs) in [
        ("3600", 3600),
        ("0", 0),
        ("45s", 45),
        ("90m", 5400),
        ("36h", 129_600),
        ("2d", 172_800),
        ("1w", 604_800),
        ("1d12h", 129_600),
        (" 1d 12h 30m ", 131_400),
    ] {
        assert_eq!(parse_duration(text), Ok(secs), "{text}");
    }
    for bad in ["", "h", "12x", "1.5h", "-1h", "3d4", "99999w"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    for (secs, text) in [(0, "0"), (5, "5s"), (5400, "1h30m"), (129_600, "1d12h")] {
        assert_eq!(format_duration(secs), text);
        assert_eq!(parse_duration(text), Ok(secs));
    }
    assert_eq!(age_text(TimeDelta::days(3) + TimeDelta::hours(5)), "3 days");
    assert_eq!(age_text(TimeDelta::hours(1) + MIN * 59), "1 hour");
    assert_eq!(age_text(SEC * 7), "7 seconds");
}

fn job(stale_after: Option<u64>, frequencies: &[Option<&str>]) -> Job {
    Job {
        path: None,
        name: "sales.yml".into(),
        auth_token: crate::secret::Secret::new("t"),
        api_url: None,
        ca_file: None,
        sync_on_init: false,
        log_verbosity: Default::default(),
        run_timeout: crate::config::DEFAULT_RUN_TIMEOUT,
        format: Default::default(),
        stale_after,
        operations: frequencies
            .iter()
            .map(|f| {
                Operation::Push(PushOperation {
                    frequency: f.map(str::to_owned),
                    ..PushOperation::with_source(1, crate::config::PushSource::Rows(Vec::new()))
                })
            })
            .collect(),
    }
}

async fn record(h: &History, trigger: Trigger, op: Option<u32>, outcome: Outcome) -> RunSummary {
    let id = h
        .start_run("sales", "sales.yml", trigger, op)
        .await
        .unwrap();
    h.finish_run(id, outcome, RunCounts::default(), None)
        .await
        .unwrap();
    h.run(id).await.unwrap().unwrap().summary
}

#[tokio::test]
async fn freshness_comes_from_the_real_runs_in_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&dir.path().join("history.sqlite"))
        .await
        .unwrap();
    let every_15 = job(None, &[Some("*/15 * * * *")]);

    // No run and no file: not stale yet, counting from now.
    let now = Utc::now();
    let f = freshness(&h, "sales", &every_15, now)
        .await
        .unwrap()
        .unwrap();
    assert!(!f.stale && f.last_success.is_none() && f.since == now);

    // Never succeeded: counts from the first recorded run (a failure).
    let failed = record(&h, Trigger::Scheduled, Some(0), Outcome::Failed).await;
    let later = failed.started_at + DAY + MIN;
    let f = freshness(&h, "sales", &every_15, later)
        .await
        .unwrap()
        .unwrap();
    assert!(f.stale, "{f:?}");
    assert_eq!(f.since, failed.started_at);
    let m = f.message.unwrap();
    assert!(
        m.starts_with("No successful run for 1 day — it has never succeeded (counted from "),
        "{m}"
    );

    // A dry run that succeeded is not a success of the job.
    record(&h, Trigger::DryRun, None, Outcome::Success).await;
    let f = freshness(&h, "sales", &every_15, later)
        .await
        .unwrap()
        .unwrap();
    assert!(f.stale && f.last_success.is_none());

    // A real success: fresh for a day, then stale with its time in the message.
    let ok = record(&h, Trigger::Manual, None, Outcome::Success).await;
    let ok_at = ok.finished_at.unwrap();
    let f = freshness(&h, "sales", &every_15, ok_at + DAY - SEC)
        .await
        .unwrap()
        .unwrap();
    assert!(!f.stale && f.message.is_none());
    assert_eq!(f.last_success, Some(ok_at));
    let f = freshness(&h, "sales", &every_15, ok_at + DAY * 3)
        .await
        .unwrap()
        .unwrap();
    assert!(f.stale);
    assert!(
        f.message
            .unwrap()
            .starts_with("No successful run for 3 days — last success "),
    );

    // stale_after overrides the schedule; 0 turns the watchdog off; without a frequency a
    // job is not watched.
    let short = job(Some(5), &[Some("*/15 * * * *")]);
    let f = freshness(&h, "sales", &short, ok_at + SEC * 6)
        .await
        .unwrap()
        .unwrap();
    assert!(f.stale);
    assert_eq!(f.stale_at, ok_at + SEC * 5);
    for unwatched in [job(Some(0), &[Some("*/15 * * * *")]), job(None, &[None])] {
        assert_eq!(
            freshness(&h, "sales", &unwatched, ok_at + DAY * 3650)
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn each_operation_must_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&dir.path().join("history.sqlite"))
        .await
        .unwrap();
    let two = job(Some(3600), &[Some("*/15 * * * *"), Some("0 * * * *")]);
    // A run of the whole job covers both operations.
    let whole = record(&h, Trigger::Startup, None, Outcome::Success).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Later, only operation 0 succeeds on its own.
    let op0 = record(&h, Trigger::Scheduled, Some(0), Outcome::Success).await;
    let now = whole.finished_at.unwrap() + TimeDelta::minutes(61);
    let f = freshness(&h, "sales", &two, now).await.unwrap().unwrap();
    // Operation 1 last succeeded with the whole job: it goes stale first.
    assert_eq!(f.operation, 1);
    assert_eq!(f.last_success, whole.finished_at);
    assert!(f.stale);
    // Operation 0's own success is newer.
    assert!(op0.finished_at.unwrap() >= whole.finished_at.unwrap());
}

#[test]
fn job_ids_of_paths() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    let inside = jobs.join("sales.yml");
    std::fs::write(&inside, "x").unwrap();
    assert_eq!(job_id_for_path(&inside, &jobs), "sales");
    let outside = dir.path().join("sales.yml");
    std::fs::write(&outside, "x").unwrap();
    let id = job_id_for_path(&outside, &jobs);
    assert!(
        Path::new(&id).is_absolute() && id.ends_with("/sales.yml"),
        "{id}"
    );
}
