//! Tauri commands: one-line wrappers over the core's [`Agent`] use-cases. Errors reach the
//! front end as the core's `{code, message}` ([`AppError`]).

use fliplet_agent::app::agent::{JobStatus, SavedJob, SettingsInfo};
use fliplet_agent::app::error::AppError;
use fliplet_agent::app::history::{RunDetail, RunSummary, Trigger};
use fliplet_agent::app::wizard::{self, JobDraft};
use fliplet_agent::sync::run::JobPreview;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use crate::state::AppState;

type Result<T> = std::result::Result<T, AppError>;

fn other(e: impl std::fmt::Display) -> AppError {
    AppError::new(fliplet_agent::app::error::ErrorCode::Other, e.to_string())
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

/// Run a job now, permitting once the deletes its preview showed past the delete gate.
#[tauri::command]
pub async fn run_job_allowing_deletes(
    state: State<'_, AppState>,
    id: String,
    deletes: usize,
) -> Result<RunSummary> {
    Ok(state
        .agent
        .run_job_allowing_deletes(&id, deletes)
        .await?
        .run)
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
pub async fn create_demo(state: State<'_, AppState>) -> Result<fliplet_agent::app::jobs::JobFile> {
    state.agent.create_demo().await
}

/// The agent's state plus the app's own settings.
#[tauri::command]
pub async fn agent_info(app: AppHandle, state: State<'_, AppState>) -> Result<SettingsInfo> {
    Ok(SettingsInfo {
        agent: state.agent.info().await,
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

#[tauri::command]
pub fn set_paused(state: State<'_, AppState>, paused: bool) {
    state.agent.set_paused(paused)
}

#[tauri::command]
pub fn set_autostart(app: AppHandle, enabled: bool) -> Result<bool> {
    let al = app.autolaunch();
    // The autostart plugin writes ~/.config/autostart/<app>.desktop but does not create
    // ~/.config (absent for a new user, or when XDG_CONFIG_HOME points elsewhere).
    #[cfg(target_os = "linux")]
    if enabled && let Some(home) = std::env::var_os("HOME") {
        let _ = std::fs::create_dir_all(std::path::Path::new(&home).join(".config/autostart"));
    }
    if enabled { al.enable() } else { al.disable() }.map_err(|e| {
        other(format!(
            "Cannot turn {} start at login: {e}",
            if enabled { "on" } else { "off" }
        ))
    })?;
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

// ---------------------------------------------------------------------------------------
// Setup wizard and preview: one-line wrappers over `fliplet_agent::app::wizard` and the agent.
// ---------------------------------------------------------------------------------------

#[tauri::command]
pub async fn preview_job(state: State<'_, AppState>, id: String) -> Result<JobPreview> {
    state.agent.preview_job(&id).await
}

#[tauri::command]
pub fn wizard_new() -> JobDraft {
    JobDraft::default()
}

#[tauri::command]
pub async fn wizard_load(state: State<'_, AppState>, id: String) -> Result<JobDraft> {
    state.agent.load_draft(&id).await
}

#[tauri::command]
pub async fn wizard_import(state: State<'_, AppState>, path: String) -> Result<JobDraft> {
    state.agent.import_draft(std::path::Path::new(&path)).await
}

#[tauri::command]
pub async fn wizard_verify_token(
    state: State<'_, AppState>,
    token: String,
    api_url: String,
    ca_file: String,
) -> Result<wizard::TokenCheck> {
    wizard::verify_token(state.agent.secrets(), &token, &api_url, &ca_file).await
}

#[tauri::command]
pub async fn wizard_data_sources(
    state: State<'_, AppState>,
    draft: JobDraft,
) -> Result<Vec<wizard::DataSourceItem>> {
    wizard::data_sources(&draft, state.agent.secrets()).await
}

#[tauri::command]
pub async fn wizard_data_source(
    state: State<'_, AppState>,
    draft: JobDraft,
    id: u64,
) -> Result<wizard::DataSourceInfo> {
    wizard::data_source(&draft, state.agent.secrets(), id).await
}

#[tauri::command]
pub async fn wizard_test_connection(
    state: State<'_, AppState>,
    draft: JobDraft,
    password: Option<String>,
) -> Result<wizard::ConnectionCheck> {
    wizard::test_connection(&draft, state.agent.secrets(), password.as_deref()).await
}

#[tauri::command]
pub async fn wizard_run_query(
    state: State<'_, AppState>,
    draft: JobDraft,
    limit: usize,
) -> Result<wizard::QueryResult> {
    wizard::run_query(&draft, state.agent.secrets(), limit).await
}

#[tauri::command]
pub fn wizard_store_secret(
    state: State<'_, AppState>,
    name: String,
    value: String,
) -> Result<String> {
    wizard::store_secret(state.agent.secrets(), &name, &value)
}

#[tauri::command]
pub fn describe_schedule(expr: String) -> Result<wizard::ScheduleInfo> {
    wizard::describe_schedule(&expr)
}

#[tauri::command]
pub async fn wizard_preview(state: State<'_, AppState>, draft: JobDraft) -> Result<JobPreview> {
    wizard::preview(&draft, state.agent.secrets()).await
}

#[tauri::command]
pub async fn wizard_save(
    state: State<'_, AppState>,
    draft: JobDraft,
    run_now: bool,
) -> Result<SavedJob> {
    state.agent.save_draft(&draft, run_now).await
}

/// The native file picker (`None` when cancelled).
#[tauri::command]
pub async fn pick_file(
    app: AppHandle,
    title: String,
    extensions: Vec<String>,
) -> Result<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let picked = tauri::async_runtime::spawn_blocking(move || {
        let mut dialog = app.dialog().file().set_title(title);
        if !extensions.is_empty() {
            let exts: Vec<&str> = extensions.iter().map(String::as_str).collect();
            dialog = dialog.add_filter("Files", &exts);
        }
        dialog.blocking_pick_file()
    })
    .await
    .map_err(other)?;
    Ok(picked.map(|p| p.to_string()))
}
