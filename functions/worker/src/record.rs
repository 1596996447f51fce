//! One SQS record: decode, start the job, run its handler, record the outcome.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use accepted_core::jobs::{JobContext, JobFailure};
use accepted_core::{Job, JobError, JobMessage, JobStatus, Timestamp, Transition, TransitionError};
use aws_lambda_events::event::sqs::SqsMessage;
use futures::FutureExt;
use serde_json::Value;
use tracing::{error, info, info_span, warn, Instrument};

use crate::Worker;

/// What happens to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delete it: the job reached a state this message can no longer change.
    Done(&'static str),
    /// Deliver it again later (and eventually to the dead-letter queue).
    Retry(&'static str),
}

pub(crate) async fn process(worker: &Worker, message: SqsMessage, budget: Duration) -> Outcome {
    let message_id = message.message_id.clone().unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
    let job_message = match JobMessage::decode(body) {
        Ok(m) => m,
        Err(err) => {
            // Retried until the queue's redrive policy moves it to the dead-letter queue,
            // where it stays as evidence; it never holds up the rest of the batch.
            error!(message_id, error = %err, body_bytes = body.len(), "undecodable message");
            return Outcome::Retry("undecodable");
        }
    };
    let span = info_span!(
        "job",
        job_id = %job_message.job_id,
        correlation_id = %job_message.correlation_id,
        message_id,
    );
    let outcome = run(worker, &job_message, budget)
        .instrument(span.clone())
        .await;
    span.in_scope(|| info!(outcome = ?outcome, "record finished"));
    outcome
}

async fn run(worker: &Worker, message: &JobMessage, budget: Duration) -> Outcome {
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now.plus(worker.lease),
    };
    let job = match worker.store.transition(&message.job_id, &start).await {
        Ok(job) => job,
        Err(TransitionError::NotFound) => {
            warn!("message names a job that does not exist; dropping it");
            return Outcome::Done("unknown_job");
        }
        Err(TransitionError::Conflict(current)) if current.status.is_terminal() => {
            info!(
                status = current.status.as_str(),
                "job already finished; duplicate delivery"
            );
            return Outcome::Done("duplicate");
        }
        Err(TransitionError::Conflict(current)) => {
            info!(
                status = current.status.as_str(),
                "job is held by another attempt"
            );
            return Outcome::Retry("leased");
        }
        Err(TransitionError::Store(err)) => {
            warn!(error = %err, "could not start job");
            return Outcome::Retry("store_unavailable");
        }
    };
    let attempt = job.attempts;
    info!(attempt, job_type = %job.job_type, "job started");

    if attempt > worker.max_attempts {
        // Only reachable through lease take-overs (crashed attempts), which never released.
        let error = JobError::new(
            "retries_exhausted",
            format!("{} attempts did not finish", attempt - 1),
            false,
        );
        return finish(
            worker,
            &job,
            Transition::Fail {
                attempt,
                now,
                error,
            },
        )
        .await;
    }

    let result = execute(worker, &job, budget).await;
    let now = Timestamp::now();
    let transition = match result {
        Ok(result) => Transition::Complete {
            attempt,
            now,
            result,
        },
        Err(failure) if failure.is_retryable() && attempt < worker.max_attempts => {
            warn!(attempt, error = %failure, "attempt failed; will retry");
            Transition::Release {
                attempt,
                now,
                error: failure.to_job_error(),
            }
        }
        Err(failure) if failure.is_retryable() => {
            let last = failure.to_job_error();
            Transition::Fail {
                attempt,
                now,
                error: JobError::new(
                    "retries_exhausted",
                    format!(
                        "gave up after {attempt} attempts; last error: {}: {}",
                        last.code, last.message
                    ),
                    false,
                ),
            }
        }
        Err(failure) => Transition::Fail {
            attempt,
            now,
            error: failure.to_job_error(),
        },
    };
    finish(worker, &job, transition).await
}

/// Runs the job's handler within `budget`, turning a panic or an overrun into a failure.
async fn execute(worker: &Worker, job: &Job, budget: Duration) -> Result<Value, JobFailure> {
    let Some(handler) = worker.registry.get(&job.job_type) else {
        return Err(JobFailure::permanent(
            "unknown_job_type",
            format!("no handler for job type {:?}", job.job_type),
        ));
    };
    let ctx = JobContext {
        job_id: job.id.clone(),
        attempt: job.attempts,
        correlation_id: job.correlation_id.clone(),
    };
    let run = AssertUnwindSafe(handler.run(&ctx, &job.input)).catch_unwind();
    match tokio::time::timeout(budget, run).await {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => Err(JobFailure::permanent(
            "handler_panicked",
            "the job handler panicked",
        )),
        Err(_elapsed) => Err(JobFailure::retryable(
            "timeout",
            format!(
                "attempt exceeded its time budget of {} ms",
                budget.as_millis()
            ),
        )),
    }
}

async fn finish(worker: &Worker, job: &Job, transition: Transition) -> Outcome {
    let name = transition.name();
    match worker.store.transition(&job.id, &transition).await {
        Ok(updated) => {
            info!(
                status = updated.status.as_str(),
                transition = name,
                "job updated"
            );
            if updated.status == JobStatus::Pending {
                Outcome::Retry("retryable_failure")
            } else {
                Outcome::Done("finished")
            }
        }
        Err(TransitionError::Conflict(current)) => {
            // Our lease was taken over (or the job cancelled): the current holder decides.
            warn!(
                status = current.status.as_str(),
                transition = name,
                "lost the job to another attempt"
            );
            Outcome::Done("fenced")
        }
        Err(err) => {
            error!(error = %err, transition = name, "could not record the attempt's outcome");
            Outcome::Retry("store_unavailable")
        }
    }
}
