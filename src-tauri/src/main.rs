//! Fliplet Agent desktop app: a tray agent over the headless core. It runs every job of the
//! jobs folder on its schedule (also with the window closed), records each run in the
//! history, keeps secrets in the OS keychain, and notifies failures, recoveries and stale
//! data.
//!
//! `--hidden` (what autostart passes) starts in the tray without a window; `--demo` creates
//! the demo job on a first launch with no jobs (what `npm run app` does). On Linux the tray
//! without a window is the light `fliplet-agent-tray` process (no WebKit): closing the window
//! hands the agent over to it and this process exits; its Open starts this process again
//! (see `handoff.rs`).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod handoff;
mod state;
mod tray;

use std::time::Instant;

use fliplet_agent::app::agent::Agent;
use fliplet_agent::config::Verbosity;
use fliplet_agent::log::LogCapture;
use fliplet_agent::paths;
use fliplet_agent::secret_store::SecretStore;
use tauri::{AppHandle, Emitter, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder};
#[cfg(not(target_os = "linux"))]
use tauri_plugin_notification::NotificationExt;

use crate::state::AppState;

const WINDOW: &str = "main";

/// Show the window, creating it (and its webview) when it was closed.
pub fn open_window(app: &AppHandle) {
    open_window_at(app, "");
}

/// [`open_window`] on a route of the front end (`#/history/demo`).
pub fn open_window_at(app: &AppHandle, hash: &str) {
    if let Some(w) = app.get_webview_window(WINDOW) {
        if !hash.is_empty() {
            let _ = w.eval(format!(
                "location.hash = {}",
                serde_json::to_string(hash).unwrap_or_default()
            ));
        }
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    let url = WebviewUrl::App(format!("index.html{hash}").into());
    if let Err(e) = WebviewWindowBuilder::new(app, WINDOW, url)
        .title("Fliplet Agent")
        .inner_size(980.0, 700.0)
        .min_inner_size(640.0, 420.0)
        .build()
    {
        tracing::error!("Cannot open the window: {e}");
    }
}

/// Stop the schedules and the demo emulator, then exit.
pub async fn quit(app: &AppHandle) {
    handoff::set_quitting();
    let agent = app.state::<AppState>().agent.clone();
    agent.shutdown().await;
    app.exit(0);
}

fn notify(app: &AppHandle, title: String, body: String) {
    tracing::info!("Notification: {title}: {body}");
    // On Linux tauri-plugin-notification shows a notification from a task of the async
    // runtime, where notify-rust's blocking D-Bus call panics ("Cannot start a runtime from
    // within a runtime") and nothing is shown: speak D-Bus directly (`app::notify`, which the
    // light tray uses too).
    #[cfg(target_os = "linux")]
    {
        let _ = app;
        tauri::async_runtime::spawn(fliplet_agent::app::notify::desktop(title, body));
    }
    #[cfg(not(target_os = "linux"))]
    plugin_notify(app, title, body);
}

#[cfg(not(target_os = "linux"))]
fn plugin_notify(app: &AppHandle, title: String, body: String) {
    let app = app.clone();
    // Notification daemons answer over D-Bus; never block the runtime on them.
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(e) = app
            .notification()
            .builder()
            .title(&title)
            .body(&body)
            .show()
        {
            tracing::warn!("Cannot show a desktop notification: {e}");
        }
    });
}

/// Follow the agent: window events, tray, notifications.
async fn follow(app: AppHandle) {
    let agent = app.state::<AppState>().agent.clone();
    let mut rx = agent.subscribe();
    while let Some(event) = fliplet_agent::app::tray::next_event(&mut rx).await {
        if let Some((title, body)) = fliplet_agent::app::tray::event_notification(&event) {
            notify(&app, title, body);
        }
        let _ = app.emit("agent-event", &event);
        tray::refresh(&app).await;
    }
}

fn main() {
    let started = Instant::now();
    let hidden = std::env::args().any(|a| a == "--hidden");
    let demo = std::env::args().any(|a| a == "--demo");
    handoff::exec_tray_if_hidden(hidden);
    let capture = LogCapture::new();
    let _log = fliplet_agent::log::init_with(Verbosity::Info, Some(capture.layer()));

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if !handoff::second_launch_while_handing_over() {
                open_window(app)
            }
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--hidden"]),
        ))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(tauri::generate_handler![
            commands::list_jobs,
            commands::run_job,
            commands::run_job_allowing_deletes,
            commands::run_all,
            commands::list_runs,
            commands::get_run,
            commands::set_secret,
            commands::create_demo,
            commands::agent_info,
            commands::set_paused,
            commands::set_autostart,
            commands::ui_ready,
            commands::close_window,
            commands::quit,
            commands::preview_job,
            commands::wizard_new,
            commands::wizard_load,
            commands::wizard_import,
            commands::wizard_verify_token,
            commands::wizard_data_sources,
            commands::wizard_data_source,
            commands::wizard_test_connection,
            commands::wizard_run_query,
            commands::wizard_store_secret,
            commands::describe_schedule,
            commands::wizard_preview,
            commands::wizard_save,
            commands::pick_file,
        ])
        .setup(move |app| {
            let data_dir = paths::data_dir();
            let handed_over = handoff::take_agent(app.handle(), &data_dir)?;
            let store = SecretStore::open(&data_dir);
            tracing::info!("Secrets are kept in the {}.", store.describe());
            let agent = tauri::async_runtime::block_on(Agent::open(
                &paths::jobs_dir(),
                &data_dir,
                store,
                capture.clone(),
            ))?;
            agent.take_over(handed_over);
            app.manage(AppState {
                agent: agent.clone(),
                started,
            });
            let handle = app.handle().clone();
            if let Err(e) = tray::create(&handle) {
                tracing::warn!("No tray icon ({e}); the app runs until its window's Quit.");
            }
            if !hidden {
                open_window_at(&handle, &handoff::route_arg().unwrap_or_default());
            }
            tauri::async_runtime::spawn(follow(handle.clone()));
            tauri::async_runtime::spawn(async move {
                let demo_started = if demo && agent.has_no_jobs() {
                    agent.create_demo().await.map(|_| ())
                } else {
                    agent.resume_demo().await
                };
                if let Err(e) = demo_started {
                    tracing::warn!("{e}");
                }
                agent.reload_schedules().await;
                tray::refresh(&handle).await;
                if !handed_over {
                    agent.run_startup_jobs().await;
                }
                agent.spawn_watchdog();
            });
            Ok(())
        })
        .build(tauri::generate_context!())
        .expect("cannot start the app");
    app.run(|app, event| match event {
        // Closing the last window hands the agent to the light tray process (or keeps it
        // running in this process's tray without one); only Quit exits.
        RunEvent::ExitRequested {
            api, code: None, ..
        } => {
            api.prevent_exit();
            handoff::on_last_window_closed(app);
        }
        RunEvent::WindowEvent {
            event: tauri::WindowEvent::Destroyed,
            ..
        } => release_memory(),
        _ => {}
    });
}

/// After the window (and its webview) is destroyed, give the freed heap back to the OS, so
/// the tray agent's resident memory drops instead of staying at its window-open peak.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(2));
        // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
        unsafe {
            libc::malloc_trim(0);
        }
    });
}
