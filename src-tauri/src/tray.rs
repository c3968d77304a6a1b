//! The tray icon and its menu: each job with its last result and next run, Run all now,
//! Pause/Resume schedules, Open, Quit. Menu ids map to the same core calls as the commands.

use chrono::{DateTime, Local, Utc};
use fliplet_agent::agent::JobStatus;
use fliplet_agent::history::{Outcome, Trigger};
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};

use crate::state::AppState;

pub const TRAY_ID: &str = "main";

/// What the icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    Idle,
    Running,
    Error,
}

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
    } else {
        TrayState::Idle
    }
}

fn icon(state: TrayState) -> Image<'static> {
    let bytes: &'static [u8] = match state {
        TrayState::Idle => include_bytes!("../../icons/tray-idle.png"),
        TrayState::Running => include_bytes!("../../icons/tray-running.png"),
        TrayState::Error => include_bytes!("../../icons/tray-error.png"),
    };
    Image::from_bytes(bytes).expect("bundled tray icons are valid PNGs")
}

fn local_time(t: DateTime<Utc>) -> String {
    let t = t.with_timezone(&Local);
    if t.date_naive() == Local::now().date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%d %b %H:%M").to_string()
    }
}

/// "demo.yml: ✓ 10:02 (10 inserted) · next 10:15"
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
    let next = match (paused, j.file.next_run) {
        (true, Some(_)) => " · paused".to_string(),
        (false, Some(t)) => format!(" · next {}", local_time(t)),
        _ => String::new(),
    };
    format!("{}: {last}{next}", j.file.name)
}

fn build_menu(
    app: &AppHandle,
    jobs: &[JobStatus],
    paused: bool,
) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    if jobs.is_empty() {
        menu.append(&MenuItem::with_id(
            app,
            "none",
            "No jobs yet",
            false,
            None::<&str>,
        )?)?;
    }
    for j in jobs {
        let item = MenuItem::with_id(
            app,
            format!("job:{}", j.file.id),
            job_label(j, paused),
            true,
            None::<&str>,
        )?;
        menu.append(&item)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        "run_all",
        "Run all now",
        !jobs.is_empty(),
        None::<&str>,
    )?)?;
    let pause = if paused {
        "Resume schedules"
    } else {
        "Pause schedules"
    };
    menu.append(&MenuItem::with_id(app, "pause", pause, true, None::<&str>)?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        "open",
        "Open Fliplet Agent",
        true,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?)?;
    Ok(menu)
}

/// Create the tray icon (idle, empty menu until the first refresh).
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let menu = build_menu(app, &[], false)?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(TrayState::Idle))
        .tooltip("Fliplet Agent")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu)
        .build(app)?;
    Ok(())
}

/// Rebuild the menu and icon from the agent's jobs.
pub async fn refresh(app: &AppHandle) {
    let agent = app.state::<AppState>().agent.clone();
    let Ok(jobs) = agent.jobs().await else { return };
    let paused = agent.is_paused();
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let state = tray_state(&jobs);
    let app2 = app.clone();
    // Menus are built on the main thread (GTK).
    let _ = app.run_on_main_thread(move || {
        if let Ok(menu) = build_menu(&app2, &jobs, paused) {
            let _ = tray.set_menu(Some(menu));
        }
        let _ = tray.set_icon(Some(icon(state)));
        let tip = match state {
            TrayState::Idle if paused => "Fliplet Agent: schedules paused",
            TrayState::Idle => "Fliplet Agent: idle",
            TrayState::Running => "Fliplet Agent: running a job",
            TrayState::Error => "Fliplet Agent: a job failed",
        };
        let _ = tray.set_tooltip(Some(tip));
    });
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    let app = app.clone();
    let id = event.id().as_ref().to_owned();
    let agent = app.state::<AppState>().agent.clone();
    match id.as_str() {
        "run_all" => {
            tauri::async_runtime::spawn(async move {
                agent.run_all(Trigger::Manual).await;
            });
        }
        "pause" => agent.set_paused(!agent.is_paused()),
        "open" => crate::open_window(&app),
        "quit" => {
            tauri::async_runtime::spawn(async move { crate::quit(&app).await });
        }
        other if other.starts_with("job:") => {
            let job = other.trim_start_matches("job:").to_owned();
            crate::open_window_at(&app, &format!("#/history/{job}"));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fliplet_agent::history::{RunCounts, RunId, RunSummary};
    use fliplet_agent::jobs::JobFile;

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
        }
    }

    #[test]
    fn icon_state_running_beats_error_beats_idle() {
        assert_eq!(tray_state(&[]), TrayState::Idle);
        let ok = job("a", false, Some(Outcome::Success));
        let failed = job("b", false, Some(Outcome::Failed));
        let running = job("c", true, None);
        assert_eq!(tray_state(std::slice::from_ref(&ok)), TrayState::Idle);
        assert_eq!(tray_state(&[ok.clone(), failed.clone()]), TrayState::Error);
        assert_eq!(tray_state(&[ok, failed, running]), TrayState::Running);
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
    }
}
