//! One agent per user, across the desktop app's two processes.
//!
//! The desktop app runs in one of two modes: the window process (Tauri: GTK and WebKit) while
//! its window is open, and the light tray process (`fliplet-agent-tray`: no browser engine)
//! while it is closed or when started hidden at login. Whichever of them runs the schedules
//! holds the **agent lock**, an exclusive lock on [`LOCK_FILE`] in the data folder, with the
//! holder's process id written in it. The OS drops the lock when the process ends, so a crash
//! never leaves a stale lock behind.
//!
//! The light tray also listens on [`SOCKET_FILE`] next to it. A process that wants the agent
//! (the window process on Open, or a second launch of the app) calls [`acquire`], which asks
//! the holder to hand over: the holder refuses new runs, lets its runs in flight finish,
//! stops ([`crate::app::agent::Agent::release`]) and exits, releasing the lock, which the asking
//! process then takes. So there are never two schedulers, whichever process starts when.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::app::error::{AppError, ErrorCode};

/// The agent lock's file in the data folder.
pub const LOCK_FILE: &str = "agent.lock";
/// The light tray's handoff socket in the data folder (Unix).
pub const SOCKET_FILE: &str = "agent.sock";
/// What a process asking for the agent sends on the socket.
pub const HANDOFF_REQUEST: &str = "handoff";

/// The agent lock, held while this process runs the schedules. Dropping it releases it.
#[derive(Debug)]
pub struct AgentLock {
    _file: File,
    path: PathBuf,
}

impl AgentLock {
    /// Take the lock in `data_dir` if no other process holds it (`None` when one does).
    pub fn try_acquire(data_dir: &Path) -> io::Result<Option<AgentLock>> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        // Opened close-on-exec (Rust's default), so a child process never inherits the lock.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(Some(AgentLock { _file: file, path }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The process id written by the current holder of the lock in `data_dir`, if the lock is
/// held (by any process, this one included). For diagnostics and tests.
pub fn holder(data_dir: &Path) -> Option<u32> {
    let path = data_dir.join(LOCK_FILE);
    let mut file = File::open(&path).ok()?;
    let held = match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    };
    if !held {
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The handoff socket's path in `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Ask the process holding the agent to hand it over (Unix: a line on the handoff socket).
/// Returns once the request is sent; the holder releases the lock when its runs in flight
/// have finished.
pub fn request_handoff(data_dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let mut s = std::os::unix::net::UnixStream::connect(socket_path(data_dir))?;
        s.write_all(format!("{HANDOFF_REQUEST}\n").as_bytes())?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = data_dir;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no handoff socket on this platform",
        ))
    }
}

/// The agent, taken by [`acquire`].
#[derive(Debug)]
pub struct Acquired {
    pub lock: AgentLock,
    /// Whether another process held the agent and handed it over (a handoff, not a cold start:
    /// start-up jobs do not run again).
    pub handed_over: bool,
}

/// Take the agent lock in `data_dir`, asking its holder to hand over while another process
/// holds it (again every second, in case it was still starting). Blocks until the holder's
/// runs in flight finish; gives up after `timeout`.
pub fn acquire(data_dir: &Path, timeout: Duration) -> Result<Acquired, AppError> {
    let start = Instant::now();
    let mut asked: Option<Instant> = None;
    loop {
        let lock = AgentLock::try_acquire(data_dir).map_err(|e| {
            AppError::new(
                ErrorCode::Other,
                format!("Cannot lock {}: {e}", data_dir.join(LOCK_FILE).display()),
            )
        })?;
        if let Some(lock) = lock {
            return Ok(Acquired {
                lock,
                handed_over: asked.is_some(),
            });
        }
        if asked.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            if asked.is_none() {
                tracing::info!(
                    "The tray agent runs the schedules; asking it to hand over (runs in flight finish first)."
                );
            }
            let _ = request_handoff(data_dir);
            asked = Some(Instant::now());
        }
        if start.elapsed() >= timeout {
            return Err(AppError::new(
                ErrorCode::Other,
                format!(
                    "Another Fliplet Agent process (pid {}) runs the schedules and did not hand over within {} s.",
                    holder(data_dir).map_or_else(|| "?".into(), |p| p.to_string()),
                    timeout.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the process handing the agent over passes to the next one (written before it
/// releases the lock, read by the process that took it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HandoffState {
    /// Schedules paused by the user stay paused in the other process.
    pub paused: bool,
}

const STATE_FILE: &str = "handoff.json";

/// Write the handoff state in `data_dir` (by the holder, before it releases the lock).
pub fn save_state(data_dir: &Path, state: &HandoffState) -> io::Result<()> {
    let text = serde_json::to_string(state).map_err(io::Error::other)?;
    std::fs::write(data_dir.join(STATE_FILE), text)
}

/// Read and remove the handoff state in `data_dir` (by the new holder; `None` when absent).
pub fn take_state(data_dir: &Path) -> Option<HandoffState> {
    let path = data_dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    serde_json::from_str(&text).ok()
}

/// The light tray's end of the handoff socket (Unix). Bind it only while holding the lock:
/// a socket file left by a process that died is then stale and replaced.
#[cfg(unix)]
pub struct HandoffListener {
    listener: tokio::net::UnixListener,
    path: PathBuf,
}

#[cfg(unix)]
impl HandoffListener {
    pub fn bind(_lock: &AgentLock, data_dir: &Path) -> io::Result<HandoffListener> {
        let path = socket_path(data_dir);
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path)?;
        Ok(HandoffListener { listener, path })
    }

    /// Wait for a handoff request (other lines and failed connections are ignored).
    pub async fn requested(&self) {
        use tokio::io::AsyncBufReadExt;
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                continue;
            };
            let mut line = String::new();
            let mut reader = tokio::io::BufReader::new(stream);
            let read =
                tokio::time::timeout(Duration::from_secs(2), reader.read_line(&mut line)).await;
            if matches!(read, Ok(Ok(_))) && line.trim() == HANDOFF_REQUEST {
                return;
            }
        }
    }
}

#[cfg(unix)]
impl Drop for HandoffListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_its_pid_is_readable() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path()), None);
        let lock = AgentLock::try_acquire(dir.path())
            .unwrap()
            .expect("free lock");
        // flock locks belong to the open file, so a second open in this process is refused
        // like another process would be.
        assert!(AgentLock::try_acquire(dir.path()).unwrap().is_none());
        assert_eq!(holder(dir.path()), Some(std::process::id()));
        drop(lock);
        assert_eq!(holder(dir.path()), None);
        assert!(AgentLock::try_acquire(dir.path()).unwrap().is_some());
    }

    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acquire_asks_the_holder_to_hand_over() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let lock = AgentLock::try_acquire(&data).unwrap().unwrap();
        let listener = HandoffListener::bind(&lock, &data).unwrap();
        // The holder: waits for the request, then releases (as the tray does after its runs
        // in flight).
        let holder_task = tokio::spawn(async move {
            listener.requested().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(listener);
            drop(lock);
        });
        let d = data.clone();
        let acquired = tokio::task::spawn_blocking(move || acquire(&d, Duration::from_secs(20)))
            .await
            .unwrap()
            .unwrap();
        assert!(acquired.handed_over);
        holder_task.await.unwrap();
        assert_eq!(holder(&data), Some(std::process::id()));
        assert!(!socket_path(&data).exists(), "the socket file is removed");
    }

    #[test]
    fn handoff_state_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(take_state(dir.path()), None);
        save_state(dir.path(), &HandoffState { paused: true }).unwrap();
        assert_eq!(take_state(dir.path()), Some(HandoffState { paused: true }));
        assert_eq!(take_state(dir.path()), None);
    }

    #[test]
    fn acquire_gives_up_when_the_holder_does_not_answer() {
        let dir = tempfile::tempdir().unwrap();
        let _lock = AgentLock::try_acquire(dir.path()).unwrap().unwrap();
        let e = acquire(dir.path(), Duration::from_millis(300)).unwrap_err();
        assert!(e.message.contains("did not hand over"), "{}", e.message);
        assert!(e.message.contains(&std::process::id().to_string()));
    }

    #[test]
    fn acquire_without_a_holder_is_a_cold_start() {
        let dir = tempfile::tempdir().unwrap();
        let a = acquire(dir.path(), Duration::from_secs(1)).unwrap();
        assert!(!a.handed_over);
        assert!(a.lock.path().ends_with(LOCK_FILE));
    }
}
