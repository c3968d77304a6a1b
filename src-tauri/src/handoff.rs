//! The window process's side of the two-mode app (Linux; see `fliplet_agent::app::instance`).
//!
//! A browser engine is loaded only while the window is open. When the window closes, this
//! process hands the agent to the light tray process (`fliplet-agent-tray`, no WebKit) and
//! exits: the agent stops taking new runs, its runs in flight finish, the agent lock is
//! released and the light tray takes it. Started `--hidden` (autostart), this process becomes
//! the light tray at once (exec, same process id) and never initialises GTK or WebKit. The
//! light tray's Open starts this process again, which takes the agent back.
//!
//! Without the light tray binary next to this one (and on other systems) the app keeps its
//! former behaviour: the agent stays in this process and closing the window leaves it in the
//! tray.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fliplet_agent::app::error::AppError;
use fliplet_agent::app::instance::{self, AgentLock};
use tauri::{AppHandle, Manager};

use crate::state::AppState;

/// The light tray's binary, next to this one.
pub const TRAY_BIN: &str = "fliplet-agent-tray";
/// How long to wait for the light tray to hand the agent over (its runs in flight finish
/// first).
const TAKE_WAIT: Duration = Duration::from_secs(15 * 60);

static QUITTING: AtomicBool = AtomicBool::new(false);
static HANDING_OVER: AtomicBool = AtomicBool::new(false);
/// A second launch arrived while handing over: the tray opens the window again once started.
static REOPEN: AtomicBool = AtomicBool::new(false);

/// The agent lock while this process runs the agent.
pub struct Owner(Mutex<Option<AgentLock>>);

/// The light tray binary, when this system has one.
pub fn tray_binary() -> Option<PathBuf> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let bin = std::env::current_exe().ok()?.with_file_name(TRAY_BIN);
    bin.is_file().then_some(bin)
}

/// `--hidden`: become the light tray (exec: same process, no window toolkit initialised).
/// Returns only when that is not possible; the app then starts hidden as before.
pub fn exec_tray_if_hidden(hidden: bool) {
    if !hidden {
        return;
    }
    #[cfg(unix)]
    if let Some(bin) = tray_binary() {
        use std::os::unix::process::CommandExt;
        let e = std::process::Command::new(&bin).exec();
        eprintln!("Cannot start {}: {e}", bin.display());
    }
}

/// The `--route=#/history/job` argument (the light tray's job items open on a route).
pub fn route_arg() -> Option<String> {
    std::env::args().find_map(|a| a.strip_prefix("--route=").map(str::to_owned))
}

/// Take the agent lock before opening the agent: at once, or after the light tray handed
/// over. Returns whether it was handed over (then start-up jobs do not run again).
pub fn take_agent(app: &AppHandle, data_dir: &std::path::Path) -> Result<bool, AppError> {
    let acquired = instance::acquire(data_dir, TAKE_WAIT)?;
    if acquired.handed_over {
        tracing::info!("Took the agent over from the tray agent.");
    }
    app.manage(Owner(Mutex::new(Some(acquired.lock))));
    Ok(acquired.handed_over)
}

/// Quit (not a handoff): the agent stops with the app.
pub fn set_quitting() {
    QUITTING.store(true, Ordering::SeqCst);
}

/// A second launch of the app: `true` when it is handled here (a handoff to the tray is under
/// way: the window is started again once it is done), else the caller opens the window.
pub fn second_launch_while_handing_over() -> bool {
    if HANDING_OVER.load(Ordering::SeqCst) {
        REOPEN.store(true, Ordering::SeqCst);
        return true;
    }
    false
}

/// The last window closed: hand the agent to the light tray and exit. Returns `false` when
/// there is no light tray (the caller keeps the app running in its own tray).
pub fn on_last_window_closed(app: &AppHandle) -> bool {
    if QUITTING.load(Ordering::SeqCst) {
        return false;
    }
    let Some(tray) = tray_binary() else {
        return false;
    };
    if HANDING_OVER.swap(true, Ordering::SeqCst) {
        return true;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tracing::info!("Window closed: handing the agent over to the tray agent.");
        let agent = app.state::<AppState>().agent.clone();
        agent.release().await;
        if let Some(owner) = app.try_state::<Owner>() {
            drop(owner.0.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
        let mut cmd = std::process::Command::new(&tray);
        cmd.arg("--handoff").stdin(std::process::Stdio::null());
        if REOPEN.load(Ordering::SeqCst) {
            // The tray takes the agent, then starts the window again, which takes it back.
            cmd.arg("--open");
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        match cmd.spawn() {
            Ok(child) => tracing::info!("Started the tray agent (pid {}).", child.id()),
            Err(e) => tracing::error!(
                "Cannot start {}: {e}; the schedules run again at the next launch.",
                tray.display()
            ),
        }
        app.exit(0);
    });
    true
}
