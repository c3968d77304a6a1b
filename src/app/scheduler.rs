//! Running a job's operations on their cron schedules (`frequency`), in the local time zone
//! like crontab. A tick that arrives while the previous run of the same operation is still
//! going is skipped and logged, never queued.
//!
//! No polling: each scheduled operation has one task that sleeps until its next time (at
//! most [`MAX_SLEEP`] at once, then it looks at the wall clock again, so a laptop waking from
//! suspend, or a clock change, is noticed within that bound). A time that passed while the
//! machine slept runs once at wake-up, however many times it was missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Local};
use tracing::{Instrument, error, info, warn};

use crate::config::Job;
use crate::schedule;
use crate::sync::run;

/// Errors setting up the schedule.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("Cannot schedule operation {index} (`frequency: {expression}`): {message}")]
    Frequency {
        index: usize,
        expression: String,
        message: String,
    },
}

/// The longest single sleep: the bound on how late a run starts after the machine wakes from
/// suspend (the monotonic clock a sleep counts on stops during suspend) or the wall clock
/// jumps. One wake-up per operation every 5 minutes when idle.
pub const MAX_SLEEP: Duration = Duration::from_secs(300);

/// A started schedule; dropping it does not stop it, call [`Schedule::shutdown`].
pub struct Schedule {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Number of operations scheduled.
    pub scheduled: usize,
    /// Each scheduled operation: its index in the job and the 6-field cron expression it
    /// runs on.
    pub entries: Vec<(usize, String)>,
}

impl Schedule {
    /// Stop scheduling. A run in flight goes on to its end.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// What a tick runs: the job and the index of the operation whose schedule fired.
pub type TickRunner = Arc<
    dyn Fn(Arc<Job>, usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// Schedule every operation of `job` that has a `frequency`. Each tick runs that operation
/// (with its own authentication check) and logs the outcome.
pub async fn start(job: Arc<Job>) -> Result<Schedule, SchedulerError> {
    let runner: TickRunner = Arc::new(|job: Arc<Job>, index: usize| {
        Box::pin(async move {
            let span = crate::log::job_span(&job.name);
            let report = run::run_job(&job, false, Some(&[index])).await;
            async {
                if report.succeeded() {
                    info!("Scheduled run finished.");
                } else {
                    error!("Scheduled run failed.");
                }
            }
            .instrument(span)
            .await;
        })
    });
    start_with(job, runner).await
}

/// Schedule every operation of `job` that has a `frequency`; each tick calls `run` (the
/// desktop app records the run in its history there). A tick that arrives while the previous
/// run of the same operation is still going is skipped and logged.
pub async fn start_with(job: Arc<Job>, run: TickRunner) -> Result<Schedule, SchedulerError> {
    let mut plans = Vec::new();
    for (index, op) in job.operations.iter().enumerate() {
        let Some(expr) = op.frequency() else { continue };
        let failed = |e: schedule::ScheduleError| SchedulerError::Frequency {
            index,
            expression: expr.to_string(),
            message: e.to_string(),
        };
        let six = schedule::to_six_field(expr).map_err(failed)?;
        let cron = schedule::parse(expr).map_err(failed)?;
        if let Some(note) = schedule::never_fires(expr) {
            crate::log::job_span(&job.name)
                .in_scope(|| warn!("Operation {}: `frequency`: {note}.", index + 1));
        }
        plans.push((index, six, cron));
    }
    let entries = plans.iter().map(|(i, six, _)| (*i, six.clone())).collect();
    let tasks = plans
        .into_iter()
        .map(|(index, _, cron)| {
            tokio::spawn(fire_on_schedule(job.clone(), index, cron, run.clone()))
        })
        .collect::<Vec<_>>();
    Ok(Schedule {
        scheduled: tasks.len(),
        tasks,
        entries,
    })
}

/// One operation's schedule: sleep until its next time, start the run (unless the previous
/// one is still going), repeat.
async fn fire_on_schedule(job: Arc<Job>, index: usize, cron: croner::Cron, run: TickRunner) {
    let running = Arc::new(AtomicBool::new(false));
    let mut after = Local::now();
    loop {
        let Some(due) = next_after(&cron, after) else {
            return; // Never fires again (reported at start).
        };
        wait_until(due).await;
        // The next time is counted from now: times missed while the machine slept run once.
        after = Local::now().max(due);
        if running.swap(true, Ordering::SeqCst) {
            crate::log::job_span(&job.name).in_scope(|| {
                warn!("The previous run of this operation is still going: this scheduled run is skipped.")
            });
            continue;
        }
        let (job, run, running) = (job.clone(), run.clone(), running.clone());
        tokio::spawn(async move {
            run(job, index).await;
            running.store(false, Ordering::SeqCst);
        });
    }
}

/// The first time strictly after `after`.
fn next_after(cron: &croner::Cron, after: DateTime<Local>) -> Option<DateTime<Local>> {
    cron.find_next_occurrence(&after, false).ok()
}

/// Sleep until the wall clock reaches `due`, in sleeps of at most [`MAX_SLEEP`].
async fn wait_until(due: DateTime<Local>) {
    loop {
        let left = (due - Local::now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(MAX_SLEEP)).await;
    }
}
