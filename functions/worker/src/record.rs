//! One SQS record: decode, start the job, run its handler under heartbeats, record the
//! outcome, and say when the message should come back if it must.

use std::time::{Duration, Instant};

use accepted_core::batch::receive_count;
use accepted_core::fingerprint::fingerprint;
use accepted_core::inbound::{self, Inbound, JobRequest};
use accepted_core::metrics::{name, Sample};
use accepted_core::request::validate_job;
use accepted_core::retry::RetryPolicy;
use accepted_core::JobFailure;
use accepted_core::{
    CorrelationId, CreateOutcome, Job, JobError, JobMessage, JobStatus, NewJob, StoreError,
    Timestamp, Transition, TransitionError,
};
use aws_lambda_events::event::sqs::SqsMessage;
use tracing::{debug, error, info, info_span, warn, Instrument};

use crate::attempt::execute;
use crate::results::{keep, Kept};
use crate::Worker;

/// What happens to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delete it: the job reached a state this message can no longer change.
    Done(&'static str),
    /// Deliver it again: after `after` when set (backoff), else after the queue's visibility
    /// timeout. After `maxReceiveCount` receives SQS moves it to the dead-letter queue.
    Retry {
        reason: &'static str,
        after: Option<Duration>,
    },
    /// Nothing can ever be done with it: set it aside on the dead-letter queue at once,
    /// with the reason, instead of retrying it.
    DeadLetter {
        reason: &'static str,
        detail: String,
    },
}

/// Extra wait past a live lease's end before trying to take the job over.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

pub(crate) async fn process(worker: &Worker, message: &SqsMessage, budget: Duration) -> Outcome {
    let message_id = message.message_id.clone().unwrap_or_default();
    let receive_count = receive_count(message);
    let body = message.body.as_deref().unwrap_or_default();
    let inbound = match inbound::decode(body, &message_id) {
        Ok(inbound) => inbound,
        Err(err) => {
            error!(message_id, receive_count, reason = err.code(), error = %err,
                   body_bytes = body.len(), "message cannot be acted on");
            return Outcome::DeadLetter {
                reason: err.code(),
                detail: err.to_string(),
            };
        }
    };
    let job_message = match inbound {
        Inbound::Run(m) => m,
        Inbound::Request(request) => match accept_request(worker, request).await {
            Ok(m) => m,
            Err(outcome) => {
                info!(message_id, outcome = ?outcome, "job request not accepted");
                return outcome;
            }
        },
    };
    // The X-Ray trace the sender's invocation belongs to (SQS carries it as AWSTraceHeader),
    // so a log line leads to the trace and back.
    let trace = message
        .attributes
        .get("AWSTraceHeader")
        .map(String::as_str)
        .unwrap_or_default();
    let span = info_span!(
        "job",
        job_id = %job_message.job_id,
        correlation_id = %job_message.correlation_id,
        message_id,
        trace,
    );
    let outcome = run(worker, &job_message, receive_count, budget)
        .instrument(span.clone())
        .await;
    // A job's end is logged by its transition ("job updated"); the record's own line only
    // says more when the message is kept or set aside.
    span.in_scope(|| match &outcome {
        Outcome::Done(_) => debug!(outcome = ?outcome, "record finished"),
        _ => info!(outcome = ?outcome, "record finished"),
    });
    outcome
}

/// A producer's job request: validated like `POST /jobs`, then stored idempotently under its
/// key, so a redelivered or re-published request finds the job it created the first time.
async fn accept_request(worker: &Worker, request: JobRequest) -> Result<JobMessage, Outcome> {
    let invalid = |errors: Vec<accepted_core::FieldError>| {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.pointer, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Outcome::DeadLetter {
            reason: "invalid_request",
            detail,
        }
    };
    validate_job(
        &request.job_type,
        &request.input,
        request.callback_url.as_deref(),
        &worker.registry,
        worker.destinations,
    )
    .map_err(invalid)?;
    let fingerprint = fingerprint(
        &request.job_type,
        &request.input,
        request.callback_url.as_deref(),
    );
    let job = Job::create(
        NewJob {
            owner: request.owner,
            job_type: request.job_type,
            input: request.input,
            callback_url: request.callback_url,
            correlation_id: request
                .correlation_id
                .unwrap_or_else(CorrelationId::generate),
            idempotency_key: Some(request.idempotency_key),
            fingerprint,
        },
        Timestamp::now(),
        worker.job_retention,
    );
    match worker.store.create(&job).await {
        Ok(CreateOutcome::Created(job)) => {
            info!(job_id = %job.id, correlation_id = %job.correlation_id, owner = %job.owner,
                  job_type = %job.job_type, "job created from a queue request");
            Ok(JobMessage::new(job.id, job.correlation_id))
        }
        Ok(CreateOutcome::Replayed(job)) => Ok(JobMessage::new(job.id, job.correlation_id)),
        Err(StoreError::KeyReused) => Err(Outcome::DeadLetter {
            reason: "idempotency_key_reused",
            detail: "the idempotency key was already used for a different request".into(),
        }),
        Err(err) => {
            warn!(error = %err, "could not store the requested job");
            Err(Outcome::Retry {
                reason: "store_unavailable",
                after: None,
            })
        }
    }
}

async fn run(
    worker: &Worker,
    message: &JobMessage,
    receive_count: u32,
    budget: Duration,
) -> Outcome {
    if let Some(wait) = held_back(worker, message).await {
        info!(
            wait_ms = wait.as_millis() as u64,
            "circuit open for this job type; delaying it"
        );
        return Outcome::Retry {
            reason: "circuit_open",
            after: Some(wait),
        };
    }
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
        Err(TransitionError::Conflict(current)) if current.cancel_requested_at.is_some() => {
            // Its attempt died after the cancel request; nothing else will conclude it.
            info!("job was being cancelled; concluding it");
            return conclude_cancel(worker, &current).await;
        }
        Err(TransitionError::Conflict(current)) if current.status.is_terminal() => {
            info!(
                status = current.status.as_str(),
                "job already finished; duplicate delivery"
            );
            return Outcome::Done("duplicate");
        }
        Err(TransitionError::Conflict(current)) => {
            // Another attempt holds a live lease: look again once it could have expired.
            let wait = current
                .lease_until
                .map(|until| until.since(now) + LEASE_MARGIN)
                .unwrap_or(LEASE_MARGIN);
            info!(
                status = current.status.as_str(),
                wait_ms = wait.as_millis() as u64,
                "job is held by another attempt"
            );
            return Outcome::Retry {
                reason: "leased",
                after: Some(wait),
            };
        }
        Err(TransitionError::Store(err)) => {
            warn!(error = %err, "could not start job");
            return Outcome::Retry {
                reason: "store_unavailable",
                after: Some(worker.retry.delay(receive_count, worker.jitter)),
            };
        }
    };
    let attempt = job.attempts;
    info!(attempt, job_type = %job.job_type, "job started");
    let mut samples = vec![Sample::count(name::STARTED)];
    if attempt == 1 {
        let waited = now.as_millis() - job.created_at.as_millis();
        samples.push(Sample::millis(name::QUEUE_WAIT, waited));
    }
    worker
        .metrics
        .record(&[("JobType", job.job_type.as_str())], &samples);

    let Some(handler) = worker.registry.get(&job.job_type) else {
        let error = JobError::new(
            "unknown_job_type",
            format!("no handler for job type {:?}", job.job_type),
            false,
        );
        return fail_now(worker, &job, now, error).await;
    };
    let policy = handler.retry_policy(&worker.retry);
    if attempt > policy.max_attempts {
        // Only reachable through lease take-overs (crashed attempts), which never released.
        let error = JobError::new(
            "retries_exhausted",
            format!("{} attempts did not finish", attempt - 1),
            false,
        );
        return fail_now(worker, &job, now, error).await;
    }

    let attempt_run = execute(worker, handler.as_ref(), &job, budget).await;
    if attempt_run.cancelled {
        return conclude_cancel(worker, &job).await;
    }
    let result = match attempt_run.result {
        Ok(value) => keep(worker, &job, value).await,
        Err(failure) => Err(failure),
    };
    let healthy = !matches!(&result, Err(failure) if failure.is_retryable());
    worker
        .breakers
        .record(&job.job_type, healthy, Instant::now());
    let (transition, backoff) = settle(&policy, worker, attempt, Timestamp::now(), result);
    finish(worker, &job, transition, backoff).await
}

/// How long to hold this message back because its job type's breaker is open. The job's
/// type is read only while some breaker is not closed, so the healthy path costs no read.
async fn held_back(worker: &Worker, message: &JobMessage) -> Option<Duration> {
    if !worker.breakers.any_tripped() {
        return None;
    }
    let job = worker.store.get(&message.job_id).await.ok().flatten()?;
    if job.status.is_terminal() {
        return None;
    }
    worker.breakers.admit(&job.job_type, Instant::now()).err()
}

/// The transition an attempt's result calls for, and the backoff before the next attempt.
fn settle(
    policy: &RetryPolicy,
    worker: &Worker,
    attempt: u32,
    now: Timestamp,
    result: Result<Kept, JobFailure>,
) -> (Transition, Option<Duration>) {
    match result {
        Ok(Kept::Inline(result)) => (
            Transition::Complete {
                attempt,
                now,
                result,
            },
            None,
        ),
        Ok(Kept::Stored(result_ref)) => (
            Transition::CompleteStored {
                attempt,
                now,
                result_ref,
            },
            None,
        ),
        Err(failure) if failure.is_retryable() && policy.allows_another(attempt) => {
            let backoff = policy.delay(attempt, worker.jitter);
            let retry_at = now.plus(backoff);
            warn!(attempt, error = %failure, backoff_ms = backoff.as_millis() as u64,
                  "attempt failed; will retry");
            let error = JobError::from(&failure);
            (
                Transition::Release {
                    attempt,
                    now,
                    error,
                    retry_at,
                },
                Some(backoff),
            )
        }
        Err(failure) if failure.is_retryable() => {
            let last = JobError::from(&failure);
            let error = JobError::new(
                "retries_exhausted",
                format!(
                    "gave up after {attempt} attempts; last error: {}: {}",
                    last.code, last.message
                ),
                false,
            );
            (
                Transition::Fail {
                    attempt,
                    now,
                    error,
                },
                None,
            )
        }
        Err(failure) => {
            let error = JobError::from(&failure);
            (
                Transition::Fail {
                    attempt,
                    now,
                    error,
                },
                None,
            )
        }
    }
}

/// Fails the attempt just started without running it.
async fn fail_now(worker: &Worker, job: &Job, now: Timestamp, error: JobError) -> Outcome {
    let attempt = job.attempts;
    finish(
        worker,
        job,
        Transition::Fail {
            attempt,
            now,
            error,
        },
        None,
    )
    .await
}

/// The metrics of an attempt's recorded outcome; `started` is the job as the attempt began.
fn record_outcome(worker: &Worker, started: &Job, updated: &Job) {
    let job_type = ("JobType", updated.job_type.as_str());
    let since = |t: accepted_core::Timestamp| updated.updated_at.as_millis() - t.as_millis();
    match updated.status {
        JobStatus::Completed => worker.metrics.record(
            &[job_type],
            &[
                Sample::count(name::COMPLETED),
                Sample::millis(name::RUN_TIME, since(started.updated_at)),
                Sample::millis(name::END_TO_END, since(updated.created_at)),
            ],
        ),
        JobStatus::Failed => {
            let code = updated
                .error
                .as_ref()
                .map_or("unknown", |e| e.code.as_str());
            worker.metrics.record(
                &[job_type, ("ErrorCode", code)],
                &[
                    Sample::count(name::FAILED),
                    Sample::millis(name::END_TO_END, since(updated.created_at)),
                ],
            );
        }
        JobStatus::Pending => worker
            .metrics
            .record(&[job_type], &[Sample::count(name::RETRIED)]),
        _ => {}
    }
}

async fn finish(
    worker: &Worker,
    job: &Job,
    transition: Transition,
    backoff: Option<Duration>,
) -> Outcome {
    let name = transition.name();
    match worker.store.transition(&job.id, &transition).await {
        Ok(updated) => {
            info!(
                status = updated.status.as_str(),
                transition = name,
                "job updated"
            );
            record_outcome(worker, job, &updated);
            if updated.status == JobStatus::Pending {
                Outcome::Retry {
                    reason: "retryable_failure",
                    after: backoff,
                }
            } else {
                Outcome::Done("finished")
            }
        }
        Err(TransitionError::Conflict(current))
            if current.status == JobStatus::Running && current.cancel_requested_at.is_some() =>
        {
            info!(
                transition = name,
                "cancel requested before the outcome was recorded"
            );
            conclude_cancel(worker, &current).await
        }
        Err(TransitionError::Conflict(current)) => {
            // Our lease was taken over: the current holder decides.
            warn!(
                status = current.status.as_str(),
                transition = name,
                "lost the job to another attempt"
            );
            Outcome::Done("fenced")
        }
        Err(err) => {
            error!(error = %err, transition = name, "could not record the attempt's outcome");
            Outcome::Retry {
                reason: "store_unavailable",
                after: None,
            }
        }
    }
}

/// Ends a job whose cancel was requested as `cancelled`, whatever its attempt returned.
async fn conclude_cancel(worker: &Worker, job: &Job) -> Outcome {
    let conclude = Transition::ConcludeCancel {
        now: Timestamp::now(),
    };
    match worker.store.transition(&job.id, &conclude).await {
        Ok(_) => {
            info!("job cancelled");
            Outcome::Done("cancelled")
        }
        Err(TransitionError::Conflict(current)) => {
            info!(status = current.status.as_str(), "cancel already concluded");
            Outcome::Done("duplicate")
        }
        Err(TransitionError::NotFound) => Outcome::Done("unknown_job"),
        Err(TransitionError::Store(err)) => {
            error!(error = %err, "could not conclude the cancel");
            Outcome::Retry {
                reason: "store_unavailable",
                after: None,
            }
        }
    }
}
