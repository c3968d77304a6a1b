//! The light tray process: the agent, the handoff socket, the tray icon and its menu.

use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fliplet_agent::app::agent::{Agent, JobStatus};
use fliplet_agent::app::history::Trigger;
use fliplet_agent::app::instance::{self, AgentLock, HandoffListener};
use fliplet_agent::app::notify;
use fliplet_agent::app::tray::{
    TrayState, event_notification, job_label, next_event, tooltip, tray_state,
};
use fliplet_agent::config::Verbosity;
use fliplet_agent::log::LogCapture;
use fliplet_agent::paths;
use fliplet_agent::secret_store::SecretStore;
use ksni::TrayMethods;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// The window process's binary, next to this one.
const WINDOW_BIN: &str = "fliplet-agent-app";
/// How long a `--handoff` start waits for the window process to release the agent (it first
/// lets its runs in flight finish).
const HANDOFF_WAIT: Duration = Duration::from_secs(6 * 3600);

/// What the menu asks the main loop to do.
#[derive(Debug)]
enum Action {
    RunAll,
    TogglePause,
    /// Open the window, on a route of the front end (`#/history/demo`) or its start.
    Open(String),
    Quit,
}

pub fn main() -> ExitCode {
    let handoff = std::env::args().skip(1).any(|a| a == "--handoff");
    let open = std::env::args().skip(1).any(|a| a == "--open");
    let capture = LogCapture::new();
    let _log = fliplet_agent::log::init_with(Verbosity::Info, Some(capture.layer()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("Cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(handoff, open, capture))
}

/// Take the agent lock: at once, or (after the window process closed) once it is released.
fn take_lock(handoff: bool) -> Option<AgentLock> {
    let data_dir = paths::data_dir();
    let start = Instant::now();
    loop {
        match AgentLock::try_acquire(&data_dir) {
            Ok(Some(lock)) => return Some(lock),
            Ok(None) if handoff && start.elapsed() < HANDOFF_WAIT => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Ok(None) => {
                tracing::info!(
                    "Fliplet Agent already runs (pid {}); this launch exits.",
                    instance::holder(&data_dir).map_or_else(|| "?".into(), |p| p.to_string())
                );
                return None;
            }
            Err(e) => {
                tracing::error!("Cannot lock {}: {e}", data_dir.display());
                return None;
            }
        }
    }
}

async fn run(handoff: bool, open: bool, capture: LogCapture) -> ExitCode {
    let Some(lock) = tokio::task::spawn_blocking(move || take_lock(handoff))
        .await
        .ok()
        .flatten()
    else {
        return ExitCode::SUCCESS;
    };
    let data_dir = paths::data_dir();
    let store = SecretStore::open(&data_dir);
    let agent = match Agent::open(&paths::jobs_dir(), &data_dir, store, capture).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("Cannot start the agent: {}", e.message);
            return ExitCode::FAILURE;
        }
    };
    agent.take_over(handoff);
    let listener = match HandoffListener::bind(&lock, &data_dir) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!("No handoff socket ({e}); Open waits until Quit.");
            None
        }
    };
    tracing::info!(
        "Tray agent started (pid {}, no window{}).",
        std::process::id(),
        if handoff {
            ", taken over from the window"
        } else {
            ""
        }
    );

    let (tx, mut actions) = unbounded_channel();
    let tray = LightTray {
        jobs: Vec::new(),
        paused: agent.is_paused(),
        tx: tx.clone(),
        icons: Icons::load(),
    };
    // Registers with the StatusNotifierWatcher when there is one (now or later); without one
    // the agent still runs its schedules.
    let tray = match tray.assume_sni_available(true).spawn().await {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!("No tray icon ({e}); the agent runs without one.");
            None
        }
    };
    tokio::spawn(follow(agent.clone(), tray.clone()));
    {
        let agent = agent.clone();
        let tray = tray.clone();
        tokio::spawn(async move {
            if let Err(e) = agent.resume_demo().await {
                tracing::warn!("{}", e.message);
            }
            agent.reload_schedules().await;
            refresh(&agent, &tray).await;
            if !handoff {
                agent.run_startup_jobs().await;
            }
            agent.spawn_watchdog();
        });
    }

    if open {
        open_window("");
    }
    let handing_over = {
        let handoff_requested = async {
            match &listener {
                Some(l) => l.requested().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(handoff_requested);
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(terminated);
        loop {
            tokio::select! {
                _ = &mut handoff_requested => break true,
                _ = &mut terminated => break false,
                _ = tokio::signal::ctrl_c() => break false,
                Some(action) = actions.recv() => match action {
                    Action::RunAll => {
                        let agent = agent.clone();
                        tokio::spawn(async move { agent.run_all(Trigger::Manual).await; });
                    }
                    Action::TogglePause => agent.set_paused(!agent.is_paused()),
                    Action::Open(route) => open_window(&route),
                    Action::Quit => break false,
                },
            }
        }
    };
    if handing_over {
        tracing::info!("Handing the agent over to the window.");
        agent.release().await;
    } else {
        agent.shutdown().await;
    }
    if let Some(t) = &tray {
        t.shutdown().await;
    }
    drop(listener);
    drop(lock);
    tracing::info!(
        "Tray agent stopped{}.",
        if handing_over { " (handed over)" } else { "" }
    );
    ExitCode::SUCCESS
}

/// Start the window process. It asks this process to hand the agent over (see
/// [`instance::acquire`]); when it cannot start, this process keeps the agent.
fn open_window(route: &str) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let bin = exe.with_file_name(WINDOW_BIN);
    let mut cmd = Command::new(&bin);
    if !route.is_empty() {
        cmd.arg(format!("--route={route}"));
    }
    // Its own process group: it outlives this process.
    use std::os::unix::process::CommandExt;
    cmd.process_group(0).stdin(Stdio::null());
    match cmd.spawn() {
        Ok(mut child) => {
            tracing::info!("Opening the window (pid {}).", child.id());
            // Reap it if it exits while this process still runs (a second launch does).
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::error!("Cannot open the window ({}): {e}", bin.display()),
    }
}

/// Follow the agent: tray updates and notifications.
async fn follow(agent: Arc<Agent>, tray: Option<ksni::Handle<LightTray>>) {
    let mut rx = agent.subscribe();
    while let Some(event) = next_event(&mut rx).await {
        if let Some((title, body)) = event_notification(&event) {
            tracing::info!("Notification: {title}: {body}");
            tokio::spawn(notify::desktop(title, body));
        }
        refresh(&agent, &tray).await;
    }
}

async fn refresh(agent: &Agent, tray: &Option<ksni::Handle<LightTray>>) {
    let Some(tray) = tray else { return };
    let Ok(jobs) = agent.jobs().await else { return };
    let paused = agent.is_paused();
    tray.update(move |t| {
        t.jobs = jobs;
        t.paused = paused;
    })
    .await;
}

/// The icons, decoded once (ARGB32, as StatusNotifierItem wants them).
struct Icons {
    idle: Vec<ksni::Icon>,
    running: Vec<ksni::Icon>,
    error: Vec<ksni::Icon>,
    stale: Vec<ksni::Icon>,
}

impl Icons {
    fn load() -> Icons {
        Icons {
            idle: argb(include_bytes!("../../icons/tray-idle.png")),
            running: argb(include_bytes!("../../icons/tray-running.png")),
            error: argb(include_bytes!("../../icons/tray-error.png")),
            stale: argb(include_bytes!("../../icons/tray-stale.png")),
        }
    }
}

/// A PNG as a StatusNotifierItem pixmap (empty when it cannot be decoded).
fn argb(png_bytes: &[u8]) -> Vec<ksni::Icon> {
    let decode = || -> Result<ksni::Icon, String> {
        let mut decoder = png::Decoder::new(png_bytes);
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
        let px = &buf[..info.buffer_size()];
        let mut data = Vec::with_capacity((info.width * info.height * 4) as usize);
        match info.color_type {
            png::ColorType::Rgba => {
                for p in px.chunks_exact(4) {
                    data.extend_from_slice(&[p[3], p[0], p[1], p[2]]);
                }
            }
            png::ColorType::Rgb => {
                for p in px.chunks_exact(3) {
                    data.extend_from_slice(&[255, p[0], p[1], p[2]]);
                }
            }
            other => return Err(format!("unsupported colour type {other:?}")),
        }
        Ok(ksni::Icon {
            width: info.width as i32,
            height: info.height as i32,
            data,
        })
    };
    match decode() {
        Ok(icon) => vec![icon],
        Err(e) => {
            tracing::warn!("Cannot decode a tray icon: {e}");
            Vec::new()
        }
    }
}

/// The tray icon's state and menu (same items as the window process's tray).
struct LightTray {
    jobs: Vec<JobStatus>,
    paused: bool,
    tx: UnboundedSender<Action>,
    icons: Icons,
}

impl LightTray {
    fn state(&self) -> TrayState {
        tray_state(&self.jobs)
    }
}

impl ksni::Tray for LightTray {
    fn id(&self) -> String {
        "fliplet-agent".into()
    }

    fn title(&self) -> String {
        "Fliplet Agent".into()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        match self.state() {
            TrayState::Idle => self.icons.idle.clone(),
            TrayState::Running => self.icons.running.clone(),
            TrayState::Error => self.icons.error.clone(),
            TrayState::Stale => self.icons.stale.clone(),
        }
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: tooltip(self.state(), self.paused).into(),
            ..Default::default()
        }
    }

    /// A left click opens the window.
    fn activate(&mut self, _x: i32, _y: i32) {
        let _ = self.tx.send(Action::Open(String::new()));
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::{MenuItem, StandardItem};
        let item = |label: String, enabled: bool, action: fn(&mut Self)| -> MenuItem<Self> {
            StandardItem {
                label,
                enabled,
                activate: Box::new(action),
                ..Default::default()
            }
            .into()
        };
        let mut menu = Vec::new();
        if self.jobs.is_empty() {
            menu.push(item("No jobs yet".into(), false, |_| {}));
        }
        for j in &self.jobs {
            let route = format!("#/history/{}", j.file.id);
            menu.push(
                StandardItem {
                    label: job_label(j, self.paused),
                    activate: Box::new(move |t: &mut Self| {
                        let _ = t.tx.send(Action::Open(route.clone()));
                    }),
                    ..Default::default()
                }
                .into(),
            );
        }
        menu.push(MenuItem::Separator);
        menu.push(item("Run all now".into(), !self.jobs.is_empty(), |t| {
            let _ = t.tx.send(Action::RunAll);
        }));
        let pause = if self.paused {
            "Resume schedules"
        } else {
            "Pause schedules"
        };
        menu.push(item(pause.into(), true, |t| {
            let _ = t.tx.send(Action::TogglePause);
        }));
        menu.push(MenuItem::Separator);
        menu.push(item("Open Fliplet Agent".into(), true, |t| {
            let _ = t.tx.send(Action::Open(String::new()));
        }));
        menu.push(item("Quit".into(), true, |t| {
            let _ = t.tx.send(Action::Quit);
        }));
        menu
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksni::Tray;

    #[test]
    fn bundled_icons_decode_to_argb_pixmaps() {
        let icons = Icons::load();
        for set in [&icons.idle, &icons.running, &icons.error, &icons.stale] {
            assert_eq!(set.len(), 1);
            let i = &set[0];
            assert_eq!(i.data.len(), (i.width * i.height * 4) as usize);
        }
    }

    #[test]
    fn menu_has_the_window_trays_items_and_sends_actions() {
        let (tx, mut rx) = unbounded_channel();
        let mut tray = LightTray {
            jobs: Vec::new(),
            paused: true,
            tx,
            icons: Icons::load(),
        };
        let labels: Vec<String> = tray
            .menu()
            .iter()
            .filter_map(|m| match m {
                ksni::MenuItem::Standard(s) => Some(s.label.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            labels,
            [
                "No jobs yet",
                "Run all now",
                "Resume schedules",
                "Open Fliplet Agent",
                "Quit"
            ]
        );
        for m in tray.menu() {
            if let ksni::MenuItem::Standard(s) = m
                && s.label == "Quit"
            {
                (s.activate)(&mut tray);
            }
        }
        assert!(matches!(rx.try_recv(), Ok(Action::Quit)));
        tray.activate(0, 0);
        assert!(matches!(rx.try_recv(), Ok(Action::Open(r)) if r.is_empty()));
    }
}
