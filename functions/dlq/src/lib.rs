//! The dead-letter queue consumer: the last stop of a message, so that no job waits forever.
//!
//! * A message that names a job (a run reference, or a producer's request that created one)
//!   fails that job with `dead_lettered`, keeping the evidence — how often the message was
//!   received and the job's last error — in the job's error, where its owner can read it.
//!   A job that finished meanwhile is left as it is.
//! * A message that names no job (poison the worker set aside, a request never accepted) is
//!   logged once at `error` with everything needed to act on it: ids, reason, detail,
//!   receive count, send time and the body (cut at 4 KiB).
//!
//! Only a store failure keeps a message on the dead-letter queue (reported in
//! `batchItemFailures`), to be tried again.

mod lambda;
pub use lambda::run;

use std::sync::Arc;

use accepted_core::inbound::{self, Inbound};
use accepted_core::message::{DEAD_LETTER_DETAIL, DEAD_LETTER_REASON, SOURCE_MESSAGE_ID};
use accepted_core::metrics::{name, Metrics, Sample};
use accepted_core::{JobError, JobId, JobStatus, JobStore, Timestamp, Transition, TransitionError};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{error, info, warn};

/// How much of an unactionable body goes into the log line.
const MAX_LOGGED_BODY: usize = 4096;

pub struct DeadLetters {
    pub store: Arc<dyn JobStore>,
    /// Jobs failed because their message was dead-lettered (EMF).
    pub metrics: Metrics,
}

impl DeadLetters {
    pub fn new(store: Arc<dyn JobStore>, config: &accepted_core::Config) -> Self {
        Self {
            store,
            metrics: Metrics::stdout(&config.metrics_namespace),
        }
    }
}

/// What became of one dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Its job is now `failed` with `dead_lettered`.
    JobFailed,
    /// Its job had a cancel request; it is now `cancelled`.
    JobCancelled,
    /// Its job had finished already; nothing to do.
    AlreadyFinished,
    /// It names no job; logged for an operator.
    Logged,
    /// The store failed; keep the message and try again.
    Retry,
}

pub async fn handle_batch(dead_letters: &DeadLetters, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        let settled = settle(dead_letters, message).await;
        if settled == Settled::Retry {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

pub async fn settle(dead_letters: &DeadLetters, message: &SqsMessage) -> Settled {
    let attribute = |name: &str| {
        message
            .message_attributes
            .get(name)
            .and_then(|a| a.string_value.clone())
    };
    if let Some(reason) = attribute(DEAD_LETTER_REASON) {
        let detail = attribute(DEAD_LETTER_DETAIL).unwrap_or_default();
        return log_unactionable(message, &reason, &detail);
    }
    let message_id = message.message_id.clone().unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
    match inbound::decode(body, &message_id) {
        Err(err) => log_unactionable(message, err.code(), &err.to_string()),
        Ok(Inbound::Run(run)) => fail_job(dead_letters, message, &run.job_id).await,
        Ok(Inbound::Request(request)) => {
            let found = dead_letters
                .store
                .find_by_idempotency_key(&request.owner, &request.idempotency_key)
                .await;
            match found {
                Ok(Some(job)) => fail_job(dead_letters, message, &job.id).await,
                Ok(None) => log_unactionable(
                    message,
                    "request_never_accepted",
                    "no job was created for this request",
                ),
                Err(err) => {
                    warn!(message_id, error = %err, "store unavailable; keeping the dead letter");
                    Settled::Retry
                }
            }
        }
    }
}

fn receive_count(message: &SqsMessage) -> String {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .cloned()
        .unwrap_or_else(|| "?".to_owned())
}

async fn fail_job(dead_letters: &DeadLetters, message: &SqsMessage, id: &JobId) -> Settled {
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let current = match dead_letters.store.get(id).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            return log_unactionable(message, "unknown_job", &format!("job {id} does not exist"))
        }
        Err(err) => {
            warn!(message_id, job_id = %id, error = %err, "store unavailable; keeping the dead letter");
            return Settled::Retry;
        }
    };
    if current.status.is_terminal() {
        info!(message_id, job_id = %id, status = current.status.as_str(),
              correlation_id = %current.correlation_id, "dead letter of a finished job; nothing to do");
        return Settled::AlreadyFinished;
    }
    let last = current
        .error
        .as_ref()
        .map(|e| format!("; last error: {}: {}", e.code, e.message))
        .unwrap_or_default();
    let error = JobError::new(
        "dead_lettered",
        format!(
            "its message {message_id} was received {} times without the job finishing \
             ({} attempts){last}",
            receive_count(message),
            current.attempts
        ),
        false,
    );
    let now = Timestamp::now();
    // Its owner wanted it cancelled: nothing will run it again, so the cancel is concluded.
    let transition = match current.cancel_requested_at {
        Some(_) => Transition::ConcludeCancel { now },
        None => Transition::Abandon { now, error },
    };
    match dead_letters.store.transition(id, &transition).await {
        Ok(job) if job.status == JobStatus::Cancelled => {
            info!(message_id, job_id = %id, correlation_id = %job.correlation_id,
                  "job cancelled: its message was dead-lettered after a cancel request");
            Settled::JobCancelled
        }
        Ok(job) => {
            error!(message_id, job_id = %id, correlation_id = %job.correlation_id,
                   attempts = job.attempts, "job failed: its message was dead-lettered");
            dead_letters.metrics.record(
                &[("JobType", job.job_type.as_str())],
                &[Sample::count(name::DEAD_LETTERED)],
            );
            Settled::JobFailed
        }
        Err(TransitionError::Conflict(job)) if !job.status.is_terminal() => {
            // A cancel was requested between our read and our write: look again later.
            info!(message_id, job_id = %id, "job changed meanwhile; keeping the dead letter");
            Settled::Retry
        }
        Err(TransitionError::Conflict(job)) => {
            info!(message_id, job_id = %id, status = job.status.as_str(), "job finished meanwhile");
            Settled::AlreadyFinished
        }
        Err(TransitionError::NotFound) => {
            log_unactionable(message, "unknown_job", &format!("job {id} does not exist"))
        }
        Err(TransitionError::Store(err)) => {
            warn!(message_id, job_id = %id, error = %err, "store unavailable; keeping the dead letter");
            Settled::Retry
        }
    }
}

fn log_unactionable(message: &SqsMessage, reason: &str, detail: &str) -> Settled {
    let body = message.body.as_deref().unwrap_or_default();
    let excerpt: String = body.chars().take(MAX_LOGGED_BODY).collect();
    error!(
        message_id = message.message_id.as_deref().unwrap_or_default(),
        source_message_id = message
            .message_attributes
            .get(SOURCE_MESSAGE_ID)
            .and_then(|a| a.string_value.as_deref())
            .unwrap_or_default(),
        reason,
        detail,
        receive_count = receive_count(message),
        sent_timestamp = message.attributes.get("SentTimestamp").map(String::as_str).unwrap_or_default(),
        body_bytes = body.len(),
        body = %excerpt,
        "dead letter names no job; recorded here for an operator"
    );
    Settled::Logged
}
