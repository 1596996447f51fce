//! The SQS batch consumer: runs each job a message names, at most once in effect.
//!
//! Records of a batch run concurrently, up to a bound. Each record ends as *done* (delete the
//! message) or *retry* (report it in `batchItemFailures`, so SQS delivers it again and, after
//! `maxReceiveCount` receives, moves it to the dead-letter queue). One record's error or panic
//! never affects the others.

mod record;

use std::sync::Arc;
use std::time::Duration;

use accepted_core::jobs::JobRegistry;
use accepted_core::message::CORRELATION_ATTRIBUTE;
use accepted_core::retry::{Jitter, RetryPolicy};
use accepted_core::{Config, JobStore, QueueConsumer, ReceivedMessage, Timestamp};
use aws_lambda_events::event::sqs::{
    BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute,
};
use futures::stream::{self, StreamExt};
use tracing::{error, info, warn};

pub use record::Outcome;

/// Time kept back from the Lambda deadline to record a timed-out attempt.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// Longest a handler may run when no deadline is known: Lambda's own maximum.
const MAX_RUN: Duration = Duration::from_secs(15 * 60);

pub struct Worker {
    pub store: Arc<dyn JobStore>,
    pub registry: JobRegistry,
    /// The default retry policy; job types may override it.
    pub retry: RetryPolicy,
    pub jitter: Jitter,
    /// How long an attempt owns its job between heartbeats.
    pub lease: Duration,
    /// Records of one batch in flight at once.
    pub concurrency: usize,
    /// The queue the records come from, to delay the redelivery of failed ones (backoff).
    /// Without it they return after the queue's visibility timeout.
    pub queue: Option<Arc<dyn QueueConsumer>>,
}

impl Worker {
    pub fn new(store: Arc<dyn JobStore>, registry: JobRegistry, config: &Config) -> Self {
        Self {
            store,
            registry,
            retry: config.retry,
            jitter: Jitter::Full,
            lease: config.lease,
            concurrency: config.worker_concurrency,
            queue: None,
        }
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
    let size = event.records.len();
    let outcomes: Vec<(Option<String>, Outcome)> = stream::iter(event.records)
        .map(|message| {
            let worker = Arc::clone(worker);
            let message_id = message.message_id.clone();
            async move {
                // Spawned so that a panic anywhere in the record's processing is contained.
                let task = tokio::spawn(async move {
                    let receipt = message.receipt_handle.clone();
                    let outcome = record::process(&worker, message, budget).await;
                    if let (
                        Outcome::Retry {
                            after: Some(delay), ..
                        },
                        Some(receipt),
                    ) = (outcome, receipt)
                    {
                        delay_redelivery(&worker, &receipt, delay).await;
                    }
                    outcome
                });
                let outcome = task.await.unwrap_or_else(|err| {
                    error!(message_id = message_id.as_deref().unwrap_or_default(), error = %err,
                           "record processing panicked");
                    Outcome::Retry {
                        reason: "panicked",
                        after: None,
                    }
                });
                (message_id, outcome)
            }
        })
        .buffer_unordered(worker.concurrency.max(1))
        .collect()
        .await;

    let mut response = SqsBatchResponse::default();
    for (message_id, outcome) in outcomes {
        if let Outcome::Retry { .. } = outcome {
            // A record without an id cannot be reported alone. An empty identifier makes
            // Lambda treat the whole batch as failed, which is the only safe answer.
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id.unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    info!(
        records = size,
        failed = response.batch_item_failures.len(),
        "batch processed"
    );
    response
}

/// Backoff: the failed record comes back after `delay` instead of the queue's visibility
/// timeout. If this fails the record still comes back, only later.
async fn delay_redelivery(worker: &Worker, receipt_handle: &str, delay: Duration) {
    if let Some(queue) = &worker.queue {
        if let Err(e) = queue.change_visibility(receipt_handle, delay).await {
            warn!(error = %e, delay_ms = delay.as_millis() as u64, "could not delay redelivery");
        }
    }
}

/// Received messages as Lambda's SQS event source presents them to the worker, for local
/// pollers and tests that stand in for the event source mapping.
pub fn sqs_event(messages: &[ReceivedMessage], event_source_arn: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut record = SqsMessage::default();
        record.message_id = Some(m.message_id.clone());
        record.receipt_handle = Some(m.receipt_handle.clone());
        record.body = Some(m.body.clone());
        record.event_source = Some("aws:sqs".to_owned());
        record.event_source_arn = Some(event_source_arn.to_owned());
        record.attributes.insert(
            "ApproximateReceiveCount".to_owned(),
            m.receive_count.to_string(),
        );
        record.attributes.insert(
            "SentTimestamp".to_owned(),
            m.sent_at.as_millis().to_string(),
        );
        if let Some(cid) = &m.correlation_id {
            let mut attr = SqsMessageAttribute::default();
            attr.string_value = Some(cid.clone());
            attr.data_type = Some("String".to_owned());
            record
                .message_attributes
                .insert(CORRELATION_ATTRIBUTE.to_owned(), attr);
        }
        event.records.push(record);
    }
    event
}

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
