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
use accepted_core::{Config, JobStore, ReceivedMessage, Timestamp};
use aws_lambda_events::event::sqs::{
    BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute,
};
use futures::stream::{self, StreamExt};
use tracing::{error, info};

pub use record::Outcome;

/// Time kept back from the Lambda deadline to record a timed-out attempt.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

pub struct Worker {
    pub store: Arc<dyn JobStore>,
    pub registry: JobRegistry,
    /// Attempts after which a retryable failure is final.
    pub max_attempts: u32,
    /// How long a started attempt owns its job; handlers are stopped before it runs out.
    pub lease: Duration,
    /// Records of one batch in flight at once.
    pub concurrency: usize,
}

impl Worker {
    pub fn new(store: Arc<dyn JobStore>, registry: JobRegistry, config: &Config) -> Self {
        Self {
            store,
            registry,
            max_attempts: config.max_attempts,
            lease: config.lease,
            concurrency: config.worker_concurrency,
        }
    }
}

/// Processes one SQS batch. `deadline` is when the invocation is killed (Lambda's context);
/// handlers are given until shortly before it.
pub async fn handle_batch(
    worker: &Arc<Worker>,
    event: SqsEvent,
    deadline: Option<Timestamp>,
) -> SqsBatchResponse {
    let budget = run_budget(worker.lease, deadline, Timestamp::now());
    let size = event.records.len();
    let outcomes: Vec<(Option<String>, Outcome)> = stream::iter(event.records)
        .map(|message| {
            let worker = Arc::clone(worker);
            let message_id = message.message_id.clone();
            async move {
                // Spawned so that a panic anywhere in the record's processing is contained.
                let task =
                    tokio::spawn(async move { record::process(&worker, message, budget).await });
                let outcome = task.await.unwrap_or_else(|err| {
                    error!(message_id = message_id.as_deref().unwrap_or_default(), error = %err,
                           "record processing panicked");
                    Outcome::Retry("panicked")
                });
                (message_id, outcome)
            }
        })
        .buffer_unordered(worker.concurrency.max(1))
        .collect()
        .await;

    let mut response = SqsBatchResponse::default();
    for (message_id, outcome) in outcomes {
        if let Outcome::Retry(_) = outcome {
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

/// How long one handler may run: within its lease and before the invocation deadline.
fn run_budget(lease: Duration, deadline: Option<Timestamp>, now: Timestamp) -> Duration {
    let lease_budget = lease
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_secs(1));
    match deadline {
        Some(deadline) => lease_budget.min(
            deadline
                .since(now)
                .saturating_sub(DEADLINE_MARGIN)
                .max(Duration::from_millis(100)),
        ),
        None => lease_budget,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_respects_both_the_lease_and_the_deadline() {
        let now = Timestamp::from_millis(100_000);
        let lease = Duration::from_secs(60);
        assert_eq!(run_budget(lease, None, now), Duration::from_secs(58));
        let soon = Some(now.plus(Duration::from_secs(10)));
        assert_eq!(run_budget(lease, soon, now), Duration::from_secs(8));
        let past = Some(Timestamp::from_millis(50_000));
        assert_eq!(run_budget(lease, past, now), Duration::from_millis(100));
    }
}
