//! What a caller controls of a run while it goes: a one-time permission past the delete gate,
//! and stopping it (Ctrl+C / SIGTERM for the whole process, or the run's time bound).
//!
//! A run stops only at a safe point: while it reads (the source, the entries) it is abandoned
//! at once, as nothing has been written yet; once commits have begun it finishes the commit in
//! flight and stops before the next one. A commit is never cut in half.

use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The process-wide stop: Ctrl+C or SIGTERM (see [`stop_process`]).
fn process() -> &'static (CancellationToken, Mutex<Option<String>>) {
    static P: OnceLock<(CancellationToken, Mutex<Option<String>>)> = OnceLock::new();
    P.get_or_init(|| (CancellationToken::new(), Mutex::new(None)))
}

/// Stop every run of this process at its next safe point (Ctrl+C, SIGTERM, service stop).
pub fn stop_process(reason: &str) {
    let (token, why) = process();
    why.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(|| reason.to_string());
    token.cancel();
}

/// Wait until the process is asked to stop.
pub async fn process_stopped() {
    process().0.cancelled().await
}

/// Whether the process has been asked to stop.
pub fn process_stopping() -> bool {
    process().0.is_cancelled()
}

static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static CUT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Held while a run goes (see [`wait_idle`]).
pub struct InFlight(());

impl InFlight {
    pub fn enter() -> InFlight {
        IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(())
    }

    /// The run ended because it was stopped, with work left undone.
    pub fn cut(&self) {
        CUT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Wait until no run of this process is going (after [`stop_process`], each one ends at its
/// next safe point). Returns how many runs were stopped with work left undone.
pub async fn wait_idle() -> usize {
    while IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    CUT.load(std::sync::atomic::Ordering::SeqCst)
}

/// How a caller steers one run.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// Deletes this run may make past the delete gate and the empty-source rule: a one-time
    /// permission for exactly the number a preview showed (`--allow-deletes N`, the app's
    /// "Allow once"). A run that would delete more is stopped as usual.
    pub allow_deletes: Option<usize>,
    /// The run's own stop (its time bound).
    own: CancellationToken,
    own_reason: std::sync::Arc<Mutex<Option<String>>>,
}

impl RunControl {
    pub fn new() -> RunControl {
        RunControl::default()
    }

    /// Permit up to `n` deletes past the delete gate, once.
    pub fn allowing_deletes(mut self, n: usize) -> RunControl {
        self.allow_deletes = Some(n);
        self
    }

    /// Stop the run at its next safe point once `bound` has passed (`run_timeout`).
    pub fn with_time_bound(self, bound: Option<Duration>) -> RunControl {
        if let Some(bound) = bound {
            let token = self.own.clone();
            let reason = self.own_reason.clone();
            let secs = bound.as_secs();
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(bound) => {
                        *reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                            "it took longer than run_timeout ({secs} s). Make the query faster or raise run_timeout in the job file"
                        ));
                        token.cancel();
                    }
                    _ = token.cancelled() => {}
                }
            });
        }
        self
    }

    /// Why the run must stop, if it must.
    pub fn stopped(&self) -> Option<String> {
        if self.own.is_cancelled() {
            return Some(
                self.own_reason
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .unwrap_or_else(|| "it was stopped".into()),
            );
        }
        let (token, why) = process();
        token.is_cancelled().then(|| {
            why.lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| "the agent is stopping".into())
        })
    }

    /// Run a read (nothing written yet) unless the run is stopped first; `Err(reason)` when
    /// it was stopped.
    pub async fn read<T>(&self, work: impl Future<Output = T>) -> Result<T, String> {
        if let Some(r) = self.stopped() {
            return Err(r);
        }
        tokio::select! {
            v = work => Ok(v),
            _ = self.own.cancelled() => Err(self.stopped().unwrap_or_default()),
            _ = process().0.cancelled() => Err(self.stopped().unwrap_or_default()),
        }
    }

    /// Ends the time-bound task of a finished run.
    pub fn finish(&self) {
        if self.own_reason.lock().map(|r| r.is_none()).unwrap_or(true) {
            // Not stopped by its bound: cancel the timer quietly.
            *self.own_reason.lock().unwrap_or_else(|e| e.into_inner()) =
                Some("the run has finished".into());
            self.own.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_time_bound_stops_reads_and_says_why() {
        let c = RunControl::new().with_time_bound(Some(Duration::from_millis(50)));
        assert!(c.stopped().is_none());
        let r = c
            .read(tokio::time::sleep(Duration::from_secs(30)))
            .await
            .unwrap_err();
        assert!(r.contains("run_timeout (0 s)"), "{r}");
        assert!(c.stopped().is_some());
        let quick = RunControl::new().with_time_bound(Some(Duration::from_secs(30)));
        assert_eq!(quick.read(async { 7 }).await, Ok(7));
        quick.finish();
    }
}
