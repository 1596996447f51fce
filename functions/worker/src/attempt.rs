//! One attempt of a job's handler, supervised: heartbeats keep the lease alive, reported
//! progress is written at most once per interval, and a cancel request recorded on the job
//! reaches the handler. A panic, an overrun or a lost lease becomes a failure.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, SystemTime};

use accepted_core::{AttemptSignals, JobContext, JobFailure, JobHandler};
use accepted_core::{Job, Timestamp, Transition, TransitionError};
use futures::FutureExt;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::Worker;

/// How an attempt ended.
pub(crate) struct Attempt {
    pub result: Result<Value, JobFailure>,
    /// The owner asked for the job to be cancelled while it ran.
    pub cancelled: bool,
}

/// Runs the handler within `budget`, or the type's own time limit if that is shorter.
pub(crate) async fn execute(
    worker: &Worker,
    handler: &dyn JobHandler,
    job: &Job,
    budget: Duration,
) -> Attempt {
    let budget = handler
        .time_limit()
        .map_or(budget, |limit| limit.min(budget));
    let (ctx, mut signals) =
        JobContext::new(job.id.clone(), job.attempts, job.correlation_id.clone());
    let ctx = ctx.with_deadline(SystemTime::now() + budget);
    let run = AssertUnwindSafe(handler.run(&ctx, &job.input)).catch_unwind();
    let guarded = async {
        tokio::select! {
            result = run => match result {
                Ok(result) => result,
                Err(_panic) => Err(JobFailure::permanent(
                    "handler_panicked",
                    "the job handler panicked",
                )),
            },
            lost = supervise(worker, job, &mut signals) => Err(lost),
        }
    };
    let result = match tokio::time::timeout(budget, guarded).await {
        Ok(result) => result,
        Err(_elapsed) => Err(JobFailure::retryable(
            "timeout",
            format!(
                "attempt exceeded its time budget of {} ms",
                budget.as_millis()
            ),
        )),
    };
    Attempt {
        result,
        cancelled: signals.is_cancelled(),
    }
}

/// Heartbeats every third of the lease and writes the latest progress at most once per
/// progress interval, the first one interval after the start. Every write returns the job, so a cancel request is noticed at
/// the next one. Returns only when the lease is lost.
async fn supervise(worker: &Worker, job: &Job, signals: &mut AttemptSignals) -> JobFailure {
    let every = (worker.lease / 3).max(Duration::from_millis(100));
    let mut next_beat = Instant::now() + every;
    let mut unwritten = None;
    // The first progress write waits one interval too: a job that ends sooner never pays
    // for one, since its completion write says more.
    let mut next_progress_write = Instant::now() + worker.progress_interval;
    loop {
        let transition = tokio::select! {
            () = tokio::time::sleep_until(next_beat) => {
                next_beat = Instant::now() + every;
                let now = Timestamp::now();
                Transition::Heartbeat { attempt: job.attempts, now, lease_until: now.plus(worker.lease) }
            }
            progress = signals.next_progress() => {
                unwritten = Some(progress);
                continue;
            }
            () = tokio::time::sleep_until(next_progress_write), if unwritten.is_some() => {
                next_progress_write = Instant::now() + worker.progress_interval;
                let Some(progress) = unwritten.take() else { continue };
                Transition::Progress { attempt: job.attempts, now: Timestamp::now(), progress }
            }
        };
        match worker.store.transition(&job.id, &transition).await {
            Ok(current) => {
                if current.cancel_requested_at.is_some() && !signals.is_cancelled() {
                    info!("cancel requested; telling the handler");
                    signals.cancel();
                }
            }
            Err(TransitionError::Conflict(current)) => {
                warn!(
                    status = current.status.as_str(),
                    attempts = current.attempts,
                    "lease lost; abandoning this attempt"
                );
                return JobFailure::retryable("lease_lost", "another attempt took over the job");
            }
            // A missed heartbeat is not fatal: the lease has two more thirds to run. Missed
            // progress is superseded by the next report.
            Err(err) => {
                warn!(error = %err, transition = transition.name(), "supervision write failed")
            }
        }
    }
}
