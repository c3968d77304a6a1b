//! The tray icon and its menu: each job with its last result and next run, Run all now,
//! Pause/Resume schedules, Open, Quit. Menu ids map to the same core calls as the commands.

use fliplet_agent::app::agent::JobStatus;
use fliplet_agent::app::history::Trigger;
use fliplet_agent::app::tray::{TrayState, job_label, tooltip, tray_state};
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};

use crate::state::AppState;

pub const TRAY_ID: &str = "main";

fn icon(state: TrayState) -> Image<'static> {
    let bytes: &'static [u8] = match state {
        TrayState::Idle => include_bytes!("../../icons/tray-idle.png"),
        TrayState::Running => include_bytes!("../../icons/tray-running.png"),
        TrayState::Error => include_bytes!("../../icons/tray-error.png"),
        TrayState::Stale => include_bytes!("../../icons/tray-stale.png"),
    };
    Image::from_bytes(bytes).expect("bundled tray icons are valid PNGs")
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
        let _ = tray.set_tooltip(Some(tooltip(state, paused)));
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
