//! What keeps a data source's writes single and known across processes:
//!
//! - the **data source lock** ([`DataSourceLock`]): one process at a time writes to a data
//!   source (the CLI, the service and the desktop app alike). A second one waits for it,
//!   within a bound, saying who holds it; the OS drops the lock when its holder ends, so a
//!   lock left by a killed process is taken over at once;
//! - the **pending-commit record** ([`PendingCommit`]): written before each commit request
//!   and removed once its answer is known, so the next run of a process that died mid-commit
//!   knows that a commit may still be landing and settles it first.
//!
//! Both live in `<data dir>/sync/`, named after the API base URL and the data source id.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// Environment variable: how long a run waits for another process's lock, in seconds
/// (default 600).
pub const LOCK_WAIT_ENV: &str = "FLIPLET_LOCK_WAIT_SECS";

/// Default bound of the wait for another process's lock.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(600);

/// The folder of lock files and pending-commit records.
pub fn sync_dir() -> PathBuf {
    crate::paths::data_dir().join("sync")
}

/// File stem of a data source on an API: `ds-<id>-<hash of the base URL>`.
pub(crate) fn stem(base_url: &str, data_source_id: u64) -> String {
    use md5::{Digest, Md5};
    let hash = Md5::digest(base_url.trim_end_matches('/').as_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("ds-{data_source_id}-{short}")
}

/// Who holds a data source lock (written in the lock file by its holder).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub pid: u32,
    pub job: String,
    pub since: DateTime<Utc>,
}

/// An exclusive lock on one data source, held while a run reads it and writes to it.
/// Dropping it releases it.
#[derive(Debug)]
pub struct DataSourceLock {
    _file: File,
    pub path: PathBuf,
}

/// Why a data source lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "Another fliplet-agent process ({}) is still syncing data source {data_source_id} after {} s: this run is stopped before writing anything. If no other agent should be running, look for it (`ps aux | grep fliplet-agent`); set {LOCK_WAIT_ENV} to wait longer.",
        holder.as_ref().map(describe).unwrap_or_else(|| "unknown process".into()),
        waited.as_secs()
    )]
    Busy {
        data_source_id: u64,
        holder: Option<Holder>,
        waited: Duration,
    },
    #[error(
        "Cannot lock data source {data_source_id} in {}: {message}. Check that the folder is writable.",
        path.display()
    )]
    Io {
        data_source_id: u64,
        path: PathBuf,
        message: String,
    },
}

fn describe(h: &Holder) -> String {
    format!(
        "pid {}, job \"{}\", since {}",
        h.pid,
        h.job,
        h.since.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// The wait bound: `$FLIPLET_LOCK_WAIT_SECS`, else [`DEFAULT_LOCK_WAIT`].
pub fn lock_wait() -> Duration {
    std::env::var(LOCK_WAIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LOCK_WAIT)
}

impl DataSourceLock {
    /// Take the lock of a data source, waiting up to `wait` while another process (or another
    /// run of this one) holds it.
    pub async fn acquire(
        dir: &Path,
        base_url: &str,
        data_source_id: u64,
        job: &str,
        wait: Duration,
    ) -> Result<DataSourceLock, LockError> {
        let path = dir.join(format!("{}.lock", stem(base_url, data_source_id)));
        let io = |e: std::io::Error| LockError::Io {
            data_source_id,
            path: path.clone(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let started = Instant::now();
        let mut told = false;
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {
                    let holder = Holder {
                        pid: std::process::id(),
                        job: job.to_string(),
                        since: Utc::now(),
                    };
                    file.set_len(0).map_err(io)?;
                    file.write_all(
                        serde_json::to_string(&holder)
                            .expect("a holder serialises")
                            .as_bytes(),
                    )
                    .map_err(io)?;
                    if told {
                        info!("The other process has finished: going on.");
                    }
                    return Ok(DataSourceLock { _file: file, path });
                }
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    if started.elapsed() >= wait {
                        return Err(LockError::Busy {
                            data_source_id,
                            holder,
                            waited: started.elapsed(),
                        });
                    }
                    if !told {
                        warn!(
                            "Another fliplet-agent process ({}) is syncing data source {data_source_id}: waiting for it to finish (up to {} s) so that the two never write the same entries.",
                            holder
                                .as_ref()
                                .map(describe)
                                .unwrap_or_else(|| "unknown process".into()),
                            wait.as_secs()
                        );
                        told = true;
                    }
                    drop(file);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// A commit request sent and not yet answered, recorded before sending it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingCommit {
    pub job: String,
    pub data_source_id: u64,
    pub pid: u32,
    pub sent_at: DateTime<Utc>,
    /// 1-based number of the commit in its run, and how many the run had planned.
    pub commit: usize,
    pub commits: usize,
    /// Canonical primary keys of the rows the commit inserts (empty without a primary key).
    pub insert_keys: Vec<String>,
    /// How many rows it inserts.
    pub inserts: usize,
    /// The highest entry id the run had seen before sending.
    pub max_known_id: u64,
}

/// Where a data source's pending-commit record lives.
#[derive(Debug, Clone)]
pub struct PendingFile {
    path: PathBuf,
}

impl PendingFile {
    pub fn new(dir: &Path, base_url: &str, data_source_id: u64) -> PendingFile {
        PendingFile {
            path: dir.join(format!("{}.pending.json", stem(base_url, data_source_id))),
        }
    }

    /// The record left by a run that did not learn the outcome of its last commit.
    pub fn read(&self) -> Option<PendingCommit> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        match serde_json::from_str(&text) {
            Ok(p) => Some(p),
            Err(e) => {
                warn!(
                    "Ignoring an unreadable pending-commit record {}: {e}",
                    self.path.display()
                );
                None
            }
        }
    }

    /// Record a commit about to be sent (written to disk and flushed before sending).
    pub fn write(&self, pending: &PendingCommit) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::atomic_file::write(
            &self.path,
            &serde_json::to_vec(pending).expect("a record serialises"),
            None,
        )
    }

    /// The outcome of the recorded commit is known: forget it.
    pub fn clear(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!(
                "Cannot remove the pending-commit record {}: {e}",
                self.path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_then_gets_a_message_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataSourceLock::acquire(
            dir.path(),
            "http://x",
            7,
            "first job",
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        let err = DataSourceLock::acquire(
            dir.path(),
            "http://x/",
            7,
            "second job",
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("first job"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        // Another data source, or another API, is not blocked.
        DataSourceLock::acquire(dir.path(), "http://x", 8, "j", Duration::ZERO)
            .await
            .unwrap();
        DataSourceLock::acquire(dir.path(), "http://y", 7, "j", Duration::ZERO)
            .await
            .unwrap();
        drop(first);
        DataSourceLock::acquire(dir.path(), "http://x", 7, "j", Duration::ZERO)
            .await
            .unwrap();
    }

    #[test]
    fn a_pending_record_round_trips_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let f = PendingFile::new(dir.path(), "http://x", 3);
        assert!(f.read().is_none());
        let p = PendingCommit {
            job: "j".into(),
            data_source_id: 3,
            pid: 1,
            sent_at: Utc::now(),
            commit: 2,
            commits: 3,
            insert_keys: vec!["a".into()],
            inserts: 1,
            max_known_id: 9,
        };
        f.write(&p).unwrap();
        assert_eq!(f.read(), Some(p));
        f.clear();
        assert!(f.read().is_none());
    }
}
