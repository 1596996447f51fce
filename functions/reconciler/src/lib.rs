//! The reconciler: a scheduled sweep that guarantees no job stays `pending` or `running`
//! forever.
//!
//! Every job that is alive is updated often: `submit` writes it, each attempt starts and
//! finishes it, heartbeats renew a running attempt's lease every few seconds, a retry's
//! backoff is at most `RETRY_CAP_MS`. So an unfinished job not updated for `STALE_AFTER_SECONDS`
//! (longer than all of those) has lost its message — `submit` died between the write and
//! the send, or a message was lost — or its worker died. The sweep then:
//!
//! * fails it with `deadline_exceeded` when it is older than `MAX_JOB_AGE_HOURS`, the bound
//!   on how long any job may stay unfinished;
//! * otherwise enqueues it again. A duplicate message is harmless: a job only starts from
//!   `pending`, or from `running` once the dead attempt's lease expired.
//!
//! The sweep is the backstop. A job whose `submit` died between the write and the send is
//! found sooner, by its dispatch check ([`checks`]), which this function also consumes.

pub mod checks;
mod lambda;
pub use checks::{check_dispatch, Checked};
pub use lambda::run;

use std::sync::Arc;
use std::time::Duration;

use accepted_core::{
    Config, JobError, JobMessage, JobQueue, JobStatus, JobStore, StoreError, Timestamp, Transition,
    TransitionError,
};
use serde::Serialize;
use tracing::{info, warn};

pub struct Reconciler {
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    pub stale_after: Duration,
    pub max_job_age: Duration,
    /// Jobs examined per sweep; the next sweep continues with the rest.
    pub batch_limit: usize,
}

impl Reconciler {
    pub fn new(store: Arc<dyn JobStore>, queue: Arc<dyn JobQueue>, config: &Config) -> Self {
        Self {
            store,
            queue,
            stale_after: config.stale_after,
            max_job_age: config.max_job_age,
            batch_limit: 500,
        }
    }
}

/// What one sweep did; also the function's response, for the logs of the schedule.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Sweep {
    pub examined: usize,
    pub reenqueued: usize,
    pub expired: usize,
    /// Jobs whose cancel was requested but whose attempt died: concluded as cancelled.
    pub cancelled: usize,
    /// Jobs that finished between the query and our write.
    pub skipped: usize,
    /// Jobs left for the next sweep because the store or the queue failed.
    pub errors: usize,
}

pub async fn sweep(reconciler: &Reconciler, now: Timestamp) -> Result<Sweep, StoreError> {
    let stale_before =
        Timestamp::from_millis(now.as_millis() - reconciler.stale_after.as_millis() as i64);
    let stale = reconciler
        .store
        .find_stale(stale_before, reconciler.batch_limit)
        .await?;
    let mut report = Sweep {
        examined: stale.len(),
        ..Sweep::default()
    };
    for job in stale {
        // Whose cancel was requested but whose attempt died: conclude the cancel. Older than
        // the bound: fail it. Otherwise its message was lost: enqueue it again.
        let ending = if job.cancel_requested_at.is_some() {
            Some(Transition::ConcludeCancel { now })
        } else if now.since(job.created_at) > reconciler.max_job_age {
            let error = JobError::new(
                "deadline_exceeded",
                format!(
                    "unfinished {} h after it was accepted ({} attempts); jobs are bounded to {} h",
                    now.since(job.created_at).as_secs() / 3600,
                    job.attempts,
                    reconciler.max_job_age.as_secs() / 3600
                ),
                false,
            );
            Some(Transition::Abandon { now, error })
        } else {
            None
        };
        if let Some(transition) = ending {
            match reconciler.store.transition(&job.id, &transition).await {
                Ok(ended) if ended.status == JobStatus::Cancelled => {
                    info!(job_id = %job.id, correlation_id = %job.correlation_id,
                          "job cancelled: its attempt stopped without concluding the cancel");
                    report.cancelled += 1;
                }
                Ok(_) => {
                    warn!(job_id = %job.id, correlation_id = %job.correlation_id,
                          "job failed: it outlived the bound on unfinished jobs");
                    report.expired += 1;
                }
                Err(TransitionError::Conflict(_)) | Err(TransitionError::NotFound) => {
                    report.skipped += 1
                }
                Err(TransitionError::Store(err)) => {
                    warn!(job_id = %job.id, error = %err, transition = transition.name(),
                          "could not end a stale job");
                    report.errors += 1;
                }
            }
            continue;
        }
        let message = JobMessage::new(job.id.clone(), job.correlation_id.clone());
        match reconciler.queue.send(&message, &job.owner).await {
            Ok(()) => {
                info!(job_id = %job.id, correlation_id = %job.correlation_id,
                      status = job.status.as_str(), idle_s = now.since(job.updated_at).as_secs(),
                      "stale job enqueued again");
                report.reenqueued += 1;
            }
            Err(err) => {
                warn!(job_id = %job.id, error = %err, "could not enqueue stale job");
                report.errors += 1;
            }
        }
    }
    info!(
        examined = report.examined,
        reenqueued = report.reenqueued,
        expired = report.expired,
        cancelled = report.cancelled,
        skipped = report.skipped,
        errors = report.errors,
        "reconciliation sweep done"
    );
    Ok(report)
}
