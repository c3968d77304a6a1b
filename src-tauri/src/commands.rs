//! Tauri commands: one-line wrappers over the core's [`Agent`] use-cases. Errors reach the
//! front end as the core's `{code, message}` ([`AppError`]).

use fliplet_agent::agent::{AgentInfo, JobStatus};
use fliplet_agent::error::AppError;
use fliplet_agent::history::{RunDetail, RunSummary, Trigger};
use serde::Serialize;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use crate::state::AppState;

type Result<T> = std::result::Result<T, AppError>;

fn other(e: impl std::fmt::Display) -> AppError {
    AppError::new(fliplet_agent::error::ErrorCode::Other, e.to_string())
}

#[tauri::command]
pub async fn list_jobs(state: State<'_, AppState>) -> Result<Vec<JobStatus>> {
    state.agent.jobs().await
}

#[tauri::command]
pub async fn run_job(state: State<'_, AppState>, id: String, dry_run: bool) -> Result<RunSummary> {
    let trigger = if dry_run {
        Trigger::DryRun
    } else {
        Trigger::Manual
    };
    Ok(state.agent.run_job(&id, trigger).await?.run)
}

#[tauri::command]
pub async fn run_all(state: State<'_, AppState>) -> Result<Vec<RunSummary>> {
    Ok(state
        .agent
        .run_all(Trigger::Manual)
        .await
        .into_iter()
        .map(|r| r.run)
        .collect())
}

#[tauri::command]
pub async fn list_runs(
    state: State<'_, AppState>,
    job: Option<String>,
    limit: u32,
) -> Result<Vec<RunSummary>> {
    state.agent.runs(job.as_deref(), limit).await
}

#[tauri::command]
pub async fn get_run(state: State<'_, AppState>, id: i64) -> Result<RunDetail> {
    state.agent.run_detail(id).await
}

#[tauri::command]
pub async fn set_secret(
    state: State<'_, AppState>,
    job: String,
    key: String,
    value: String,
) -> Result<String> {
    state.agent.set_secret(&job, &key, &value).await
}

#[tauri::command]
pub async fn create_demo(state: State<'_, AppState>) -> Result<fliplet_agent::jobs::JobFile> {
    state.agent.create_demo().await
}

/// The agent's state plus the shell's own settings.
#[derive(Serialize)]
pub struct InfoView {
    #[serde(flatten)]
    agent: AgentInfo,
    autostart: bool,
    version: &'static str,
}

#[tauri::command]
pub async fn agent_info(app: AppHandle, state: State<'_, AppState>) -> Result<InfoView> {
    Ok(InfoView {
        agent: state.agent.info().await,
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[tauri::command]
pub fn set_paused(state: State<'_, AppState>, paused: bool) {
    state.agent.set_paused(paused)
}

#[tauri::command]
pub fn set_autostart(app: AppHandle, enabled: bool) -> Result<bool> {
    let al = app.autolaunch();
    if enabled { al.enable() } else { al.disable() }.map_err(other)?;
    al.is_enabled().map_err(other)
}

/// Called by the front end once its first screen has data: milliseconds since the process
/// started (logged; the README's launch-to-interactive number).
#[tauri::command]
pub fn ui_ready(state: State<'_, AppState>) -> u128 {
    let ms = state.started.elapsed().as_millis();
    tracing::info!("Window interactive {ms} ms after launch.");
    ms
}

/// Close the window to the tray (same as the window manager's close button): the webview is
/// destroyed, the agent keeps running.
#[tauri::command]
pub fn close_window(window: tauri::WebviewWindow) {
    let _ = window.close();
}

#[tauri::command]
pub async fn quit(app: AppHandle) {
    crate::quit(&app).await
}
