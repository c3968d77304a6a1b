//! What the tray shows, for both tray shells (the window process's Tauri tray and the light
//! tray process): the icon's state, the tooltip and each job's menu label. Pure functions of
//! the agent's [`JobStatus`]es.

use chrono::{DateTime, Local, Utc};

use tokio::sync::broadcast;

use crate::app::agent::{AgentEvent, JobStatus};
use crate::app::history::{Outcome, RunSummary};

/// What the icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    Idle,
    Running,
    Error,
    /// A job's data is stale (see [`crate::app::watchdog`]).
    Stale,
}

/// Running beats error beats stale beats idle.
pub fn tray_state(jobs: &[JobStatus]) -> TrayState {
    if jobs.iter().any(|j| j.running) {
        TrayState::Running
    } else if jobs.iter().any(|j| {
        j.file.error.is_some()
            || j.last_run
                .as_ref()
                .is_some_and(|r| r.outcome == Outcome::Failed)
    }) {
        TrayState::Error
    } else if jobs.iter().any(is_stale) {
        TrayState::Stale
    } else {
        TrayState::Idle
    }
}

fn is_stale(j: &JobStatus) -> bool {
    j.freshness.as_ref().is_some_and(|f| f.stale)
}

/// The tooltip of the tray icon.
pub fn tooltip(state: TrayState, paused: bool) -> &'static str {
    match state {
        TrayState::Idle if paused => "Fliplet Agent: schedules paused",
        TrayState::Idle => "Fliplet Agent: idle",
        TrayState::Running => "Fliplet Agent: running a job",
        TrayState::Error => "Fliplet Agent: a job failed",
        TrayState::Stale => "Fliplet Agent: a job's data is stale",
    }
}

/// The next event of the agent for a shell following it (a slow follower skips what it
/// missed: it reloads the whole state on any event); `None` once the agent is gone.
pub async fn next_event(rx: &mut broadcast::Receiver<AgentEvent>) -> Option<AgentEvent> {
    loop {
        match rx.recv().await {
            Ok(e) => return Some(e),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// The desktop notification an agent event calls for (see [`notification`]).
pub fn event_notification(event: &AgentEvent) -> Option<(String, String)> {
    match event {
        AgentEvent::RunFinished {
            run,
            recovered_after,
        } => notification(run, *recovered_after),
        AgentEvent::JobStale {
            job_name, message, ..
        } => Some((format!("{job_name} has stale data"), format!("{message}."))),
        _ => None,
    }
}

/// The desktop notification for a finished run, if any: a failure, or the first success
/// after failed runs (`recovered_after`). Title and body.
pub fn notification(run: &RunSummary, recovered_after: Option<u32>) -> Option<(String, String)> {
    if run.outcome == Outcome::Failed {
        Some((
            format!("{} failed", run.job_name),
            run.error
                .clone()
                .unwrap_or_else(|| "See its history for the log.".into()),
        ))
    } else {
        recovered_after.map(|n| {
            (
                format!("{} recovered", run.job_name),
                format!(
                    "It ran successfully after {n} failed run{}.",
                    if n == 1 { "" } else { "s" }
                ),
            )
        })
    }
}

fn local_time(t: DateTime<Utc>) -> String {
    let t = t.with_timezone(&Local);
    if t.date_naive() == Local::now().date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%d %b %H:%M").to_string()
    }
}

/// "demo.yml: ✓ 10:02 · next 10:15"; a stale job: "demo.yml: ✗ failed 10:02 · ⚠ stale: no
/// success for 3 days · next 10:15".
pub fn job_label(j: &JobStatus, paused: bool) -> String {
    let last = if j.running {
        "running…".to_string()
    } else if let Some(e) = &j.file.error {
        let first = e.lines().next().unwrap_or_default();
        format!("invalid: {}", first.chars().take(60).collect::<String>())
    } else {
        match &j.last_run {
            None => "never run".to_string(),
            Some(r) => {
                let mark = match r.outcome {
                    Outcome::Success => "✓",
                    Outcome::Failed => "✗ failed",
                    Outcome::Running => "…",
                    Outcome::Skipped => "skipped",
                };
                format!("{mark} {}", local_time(r.started_at))
            }
        }
    };
    let stale = match j.freshness.as_ref().filter(|f| f.stale) {
        Some(f) => format!(
            " · ⚠ stale: no success for {}",
            crate::app::watchdog::age_text(Utc::now() - f.since)
        ),
        None => String::new(),
    };
    let next = match (paused, j.file.next_run) {
        (true, Some(_)) => " · paused".to_string(),
        (false, Some(t)) => format!(" · next {}", local_time(t)),
        _ => String::new(),
    };
    format!("{}: {last}{stale}{next}", j.file.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::history::{RunCounts, RunId, Trigger};
    use crate::app::jobs::JobFile;

    fn job(id: &str, running: bool, outcome: Option<Outcome>) -> JobStatus {
        JobStatus {
            file: JobFile {
                id: id.into(),
                path: format!("/jobs/{id}.yml").into(),
                name: format!("{id}.yml"),
                description: None,
                frequency: Some("*/15 * * * *".into()),
                schedule: None,
                next_run: Some(Utc::now() + chrono::Duration::minutes(5)),
                sync_on_init: false,
                error: None,
                demo: false,
                secrets: Vec::new(),
            },
            running,
            last_run: outcome.map(|outcome| RunSummary {
                id: RunId(1),
                job: id.into(),
                job_name: format!("{id}.yml"),
                operation: None,
                trigger: Trigger::Scheduled,
                started_at: Utc::now(),
                finished_at: Some(Utc::now()),
                outcome,
                counts: RunCounts::default(),
                error: None,
            }),
            freshness: None,
        }
    }

    fn stale(mut j: JobStatus) -> JobStatus {
        let since = Utc::now() - chrono::Duration::days(3) - chrono::Duration::minutes(5);
        j.freshness = Some(crate::app::watchdog::Freshness {
            stale: true,
            last_success: Some(since),
            since,
            stale_at: since + chrono::Duration::days(1),
            operation: 0,
            message: Some("No successful run for 3 days — last success 28 Nov 10:02".into()),
        });
        j
    }

    #[test]
    fn icon_state_running_beats_error_beats_idle() {
        assert_eq!(tray_state(&[]), TrayState::Idle);
        let ok = job("a", false, Some(Outcome::Success));
        let failed = job("b", false, Some(Outcome::Failed));
        let running = job("c", true, None);
        assert_eq!(tray_state(std::slice::from_ref(&ok)), TrayState::Idle);
        assert_eq!(tray_state(&[ok.clone(), failed.clone()]), TrayState::Error);
        assert_eq!(
            tray_state(&[ok.clone(), failed.clone(), running]),
            TrayState::Running
        );
        let stale_ok = stale(ok.clone());
        assert_eq!(tray_state(&[ok, stale_ok.clone()]), TrayState::Stale);
        assert_eq!(tray_state(&[stale_ok, failed]), TrayState::Error);
        // Watched but fresh is idle.
        let mut fresh = stale(job("d", false, Some(Outcome::Success)));
        fresh.freshness.as_mut().unwrap().stale = false;
        assert_eq!(tray_state(&[fresh]), TrayState::Idle);
        assert_eq!(
            tooltip(TrayState::Stale, false),
            "Fliplet Agent: a job's data is stale"
        );
    }

    #[test]
    fn menu_labels_show_last_result_and_next_run() {
        let l = job_label(&job("sales", false, None), false);
        assert!(l.starts_with("sales.yml: never run · next "), "{l}");
        let l = job_label(&job("sales", false, Some(Outcome::Failed)), false);
        assert!(l.starts_with("sales.yml: ✗ failed "), "{l}");
        let l = job_label(&job("sales", false, Some(Outcome::Success)), true);
        assert!(
            l.starts_with("sales.yml: ✓ ") && l.ends_with(" · paused"),
            "{l}"
        );
        assert_eq!(
            job_label(&job("sales", true, None), false)
                .split(" · ")
                .next(),
            Some("sales.yml: running…")
        );
        let l = job_label(&stale(job("sales", false, Some(Outcome::Failed))), false);
        let parts: Vec<&str> = l.split(" · ").collect();
        assert!(parts[0].starts_with("sales.yml: ✗ failed "), "{l}");
        assert_eq!(parts[1], "⚠ stale: no success for 3 days", "{l}");
        assert!(parts[2].starts_with("next "), "{l}");
    }

    #[test]
    fn a_stale_job_is_notified_with_its_message() {
        let e = AgentEvent::JobStale {
            job: "sales".into(),
            job_name: "sales.yml".into(),
            message: "No successful run for 3 days — last success 28 Nov 10:02".into(),
        };
        assert_eq!(
            event_notification(&e),
            Some((
                "sales.yml has stale data".into(),
                "No successful run for 3 days — last success 28 Nov 10:02.".into()
            ))
        );
        assert_eq!(event_notification(&AgentEvent::JobsChanged), None);
    }

    #[test]
    fn failures_and_recoveries_are_notified_plain_successes_are_not() {
        let failed = job("sales", false, Some(Outcome::Failed)).last_run.unwrap();
        let (title, body) = notification(&failed, None).unwrap();
        assert_eq!(title, "sales.yml failed");
        assert_eq!(body, "See its history for the log.");
        let ok = job("sales", false, Some(Outcome::Success))
            .last_run
            .unwrap();
        assert_eq!(notification(&ok, None), None);
        let (title, body) = notification(&ok, Some(2)).unwrap();
        assert_eq!(title, "sales.yml recovered");
        assert_eq!(body, "It ran successfully after 2 failed runs.");
    }
}
