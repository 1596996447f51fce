//! The SQS batch consumer: runs each job a message names, at most once in effect.
//!
//! Records of a batch run concurrently, up to a bound. Each record ends as *done* (delete the
//! message) or *retry* (report it in `batchItemFailures`, so SQS delivers it again and, after
//! `maxReceiveCount` receives, moves it to the dead-letter queue). One record's error or panic
//! never affects the others.

mod attempt;
mod lambda;
pub use accepted_core::breaker;
mod record;
mod results;

use std::sync::Arc;
use std::time::Duration;

use accepted_core::batch::{process_batch, receive_count};
use accepted_core::message::{
    CORRELATION_ATTRIBUTE, DEAD_LETTER_DETAIL, DEAD_LETTER_REASON, SOURCE_MESSAGE_ID,
};
use accepted_core::metrics::Metrics;
use accepted_core::retry::{Jitter, RetryPolicy};
use accepted_core::webhook::DestinationPolicy;
use accepted_core::JobRegistry;
use accepted_core::{Config, JobQueue, JobStore, QueueConsumer, ResultStore, Timestamp};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{error, warn};

pub use lambda::{run, with_declared};
pub use record::Outcome;

/// SQS attribute values may be long, but evidence only needs the gist.
const MAX_DETAIL_CHARS: usize = 512;

/// Time kept back from the Lambda deadline to record a timed-out attempt.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// Longest a handler may run when no deadline is known: Lambda's own maximum.
const MAX_RUN: Duration = Duration::from_secs(15 * 60);

pub struct Worker {
    pub store: Arc<dyn JobStore>,
    /// Started, completed, failed and retried jobs, with their durations (EMF).
    pub metrics: Metrics,
    pub registry: JobRegistry,
    /// The default retry policy; job types may override it.
    pub retry: RetryPolicy,
    pub jitter: Jitter,
    /// How long an attempt owns its job between heartbeats.
    pub lease: Duration,
    /// Least time between two progress writes of one attempt.
    pub progress_interval: Duration,
    /// Records of one batch in flight at once.
    pub concurrency: usize,
    /// The queue the records come from, to delay the redelivery of failed ones (backoff).
    /// Without it they return after the queue's visibility timeout.
    pub queue: Option<Arc<dyn QueueConsumer>>,
    /// Where messages that can never be acted on are set aside at once. Without it they are
    /// retried until the redrive policy moves them there.
    pub dead_letters: Option<Arc<dyn JobQueue>>,
    /// Retention of jobs created from producers' requests on the queue.
    pub job_retention: Duration,
    /// Where results over `result_inline_max_bytes` go; without it such results fail the job.
    pub results: Option<Arc<dyn ResultStore>>,
    pub result_inline_max_bytes: usize,
    /// Per job type: stop starting jobs whose downstream keeps failing, for a cool-down.
    pub breakers: breaker::CircuitBreakers,
    /// Where callbacks of jobs requested on the queue may point.
    pub destinations: DestinationPolicy,
}

impl Worker {
    pub fn new(store: Arc<dyn JobStore>, registry: JobRegistry, config: &Config) -> Self {
        Self {
            // Written once per batch (`handle_batch`), not once per job.
            metrics: Metrics::new(
                &config.metrics_namespace,
                Arc::new(accepted_core::metrics::BufferedStdout::default()),
            ),
            store,
            registry,
            retry: config.retry,
            jitter: Jitter::Full,
            lease: config.lease,
            progress_interval: config.progress_interval,
            concurrency: config.worker_concurrency,
            queue: None,
            dead_letters: None,
            job_retention: config.job_retention,
            results: None,
            result_inline_max_bytes: config.result_inline_max_bytes,
            breakers: breaker::CircuitBreakers::new(breaker::BreakerSettings {
                failure_threshold: config.breaker_failures,
                cool_down: config.breaker_cool_down,
            }),
            destinations: config.destinations,
        }
    }

    pub fn with_dead_letter_queue(mut self, dead_letters: Arc<dyn JobQueue>) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    pub fn with_results(mut self, results: Arc<dyn ResultStore>) -> Self {
        self.results = Some(results);
        self
    }

    pub fn with_queue(mut self, queue: Arc<dyn QueueConsumer>) -> Self {
        self.queue = Some(queue);
        self
    }
}

/// Processes one SQS batch. `deadline` is when the invocation is killed (Lambda's context);
/// handlers are given until shortly before it.
pub async fn handle_batch(
    worker: &Arc<Worker>,
    event: SqsEvent,
    deadline: Option<Timestamp>,
) -> SqsBatchResponse {
    let budget = run_budget(deadline, Timestamp::now());
    let batch_worker = Arc::clone(worker);
    let response = process_batch(event, worker.concurrency, move |message| {
        let worker = Arc::clone(&batch_worker);
        async move {
            let outcome = record::process(&worker, &message, budget).await;
            let outcome = settle(&worker, &message, outcome).await;
            !matches!(outcome, Outcome::Retry { .. } | Outcome::DeadLetter { .. })
        }
    })
    .await;
    worker.metrics.flush();
    response
}

/// Carries out what the record's outcome asks of the queues: a backoff for a retry, a move
/// to the dead-letter queue for a message nothing can be done with.
async fn settle(worker: &Worker, message: &SqsMessage, outcome: Outcome) -> Outcome {
    let outcome = match outcome {
        Outcome::DeadLetter { reason, detail } => set_aside(worker, message, reason, &detail).await,
        other => other,
    };
    if let (
        Outcome::Retry {
            after: Some(delay), ..
        },
        Some(queue),
        Some(receipt),
    ) = (&outcome, &worker.queue, &message.receipt_handle)
    {
        // If this fails the record still comes back, only later.
        if let Err(e) = queue.change_visibility(receipt, *delay).await {
            warn!(error = %e, delay_ms = delay.as_millis() as u64, "could not delay redelivery");
        }
    }
    outcome
}

/// Copies the message to the dead-letter queue with why, then lets it be deleted. Without a
/// dead-letter queue, or if the copy fails, it is retried with backoff instead and reaches the
/// dead-letter queue through the redrive policy.
async fn set_aside(
    worker: &Worker,
    message: &SqsMessage,
    reason: &'static str,
    detail: &str,
) -> Outcome {
    let backoff = Outcome::Retry {
        reason,
        after: Some(worker.retry.delay(receive_count(message), worker.jitter)),
    };
    let Some(dead_letters) = &worker.dead_letters else {
        return backoff;
    };
    let detail: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    let source_id = message.message_id.clone().unwrap_or_default();
    let mut attributes = vec![
        (DEAD_LETTER_REASON, reason),
        (DEAD_LETTER_DETAIL, detail.as_str()),
        (SOURCE_MESSAGE_ID, source_id.as_str()),
    ];
    let correlation = message
        .message_attributes
        .get(CORRELATION_ATTRIBUTE)
        .and_then(|a| a.string_value.clone());
    if let Some(cid) = &correlation {
        attributes.push((CORRELATION_ATTRIBUTE, cid.as_str()));
    }
    let body = message.body.as_deref().unwrap_or_default();
    match dead_letters.send_raw(body, &attributes, None).await {
        Ok(_) => {
            warn!(message_id = %source_id, reason, "message set aside on the dead-letter queue");
            Outcome::Done("dead_lettered")
        }
        Err(e) => {
            error!(message_id = %source_id, error = %e, "could not set the message aside; retrying it");
            backoff
        }
    }
}

pub use accepted_core::batch::sqs_event;

/// How long one handler may run: until shortly before the invocation's deadline. The lease
/// does not bound it: heartbeats extend the lease while the handler runs.
fn run_budget(deadline: Option<Timestamp>, now: Timestamp) -> Duration {
    match deadline {
        Some(deadline) => deadline
            .since(now)
            .saturating_sub(DEADLINE_MARGIN)
            .max(Duration::from_millis(100)),
        None => MAX_RUN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_ends_before_the_deadline() {
        let now = Timestamp::from_millis(100_000);
        assert_eq!(run_budget(None, now), MAX_RUN);
        let soon = Some(now.plus(Duration::from_secs(10)));
        assert_eq!(run_budget(soon, now), Duration::from_secs(8));
        let past = Some(Timestamp::from_millis(50_000));
        assert_eq!(run_budget(past, now), Duration::from_millis(100));
    }
}
