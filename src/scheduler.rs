//! Running a job's operations on their cron schedules (`frequency`), in the local time zone
//! like crontab. A tick that arrives while the previous run of the same operation is still
//! going is skipped and logged, never queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_cron_scheduler::{Job as CronJob, JobScheduler};
use tracing::{Instrument, error, info, warn};

use crate::api;
use crate::config::Job;
use crate::schedule;

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

/// Schedule every operation of `job` that has a `frequency`. Each tick runs that operation
/// (with its own authentication check) and logs the outcome.
pub async fn start(job: Arc<Job>) -> Result<Schedule, SchedulerError> {
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
        entries.push((index, six.clone()));
        let running = Arc::new(AtomicBool::new(false));
        let job = job.clone();
        let cron = CronJob::new_async_tz(six.as_str(), chrono::Local, move |_id, _sched| {
            let job = job.clone();
            let running = running.clone();
            Box::pin(async move {
                let span = crate::log::job_span(&job.name);
                if running.swap(true, Ordering::SeqCst) {
                    span.in_scope(|| {
                        warn!("The previous run of this operation is still going: this scheduled run is skipped.")
                    });
                    return;
                }
                let report = api::run_job(&job, false, Some(&[index])).await;
                async {
                    if report.succeeded() {
                        info!("Scheduled run finished.");
                    } else {
                        error!("Scheduled run failed.");
                    }
                }
                .instrument(span)
                .await;
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
