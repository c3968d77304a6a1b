//! Running a job's operations on their cron schedules (`frequency`), in the local time zone
//! like crontab. A tick that arrives while the previous run of the same operation is still
//! going is skipped and logged, never queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_cron_scheduler::{Job as CronJob, JobScheduler};
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
    #[error("Cannot start the scheduler: {0}")]
    Start(String),
}

/// A started schedule; dropping it does not stop it, call [`Schedule::shutdown`].
pub struct Schedule {
    scheduler: JobScheduler,
    /// Number of operations scheduled.
    pub scheduled: usize,
    /// Each scheduled operation: its index in the job and the 6-field cron expression it
    /// runs on.
    pub entries: Vec<(usize, String)>,
}

impl Schedule {
    pub async fn shutdown(mut self) {
        let _ = self.scheduler.shutdown().await;
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
    let scheduler = JobScheduler::new()
        .await
        .map_err(|e| SchedulerError::Start(e.to_string()))?;
    let mut scheduled = 0;
    let mut entries = Vec::new();
    for (index, op) in job.operations.iter().enumerate() {
        let Some(expr) = op.frequency() else { continue };
        let six = schedule::to_six_field(expr).map_err(|e| SchedulerError::Frequency {
            index,
            expression: expr.to_string(),
            message: e.to_string(),
        })?;
        if let Some(note) = schedule::never_fires(expr) {
            crate::log::job_span(&job.name)
                .in_scope(|| warn!("Operation {}: `frequency`: {note}.", index + 1));
        }
        entries.push((index, six.clone()));
        let running = Arc::new(AtomicBool::new(false));
        let job = job.clone();
        let run = run.clone();
        let cron = CronJob::new_async_tz(six.as_str(), chrono::Local, move |_id, _sched| {
            let job = job.clone();
            let running = running.clone();
            let run = run.clone();
            Box::pin(async move {
                if running.swap(true, Ordering::SeqCst) {
                    crate::log::job_span(&job.name).in_scope(|| {
                        warn!("The previous run of this operation is still going: this scheduled run is skipped.")
                    });
                    return;
                }
                run(job, index).await;
                running.store(false, Ordering::SeqCst);
            })
        })
        .map_err(|e| SchedulerError::Frequency {
            index,
            expression: expr.to_string(),
            message: e.to_string(),
        })?;
        scheduler
            .add(cron)
            .await
            .map_err(|e| SchedulerError::Start(e.to_string()))?;
        scheduled += 1;
    }
    scheduler
        .start()
        .await
        .map_err(|e| SchedulerError::Start(e.to_string()))?;
    Ok(Schedule {
        scheduler,
        scheduled,
        entries,
    })
}
