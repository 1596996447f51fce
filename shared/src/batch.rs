//! SQS batches as Lambda delivers them, processed the way every consumer here needs: records
//! concurrently up to a bound, each in its own task so a panic fails only its record, and the
//! failed ones reported by id (`ReportBatchItemFailures`) so the rest are deleted.

use std::future::Future;

use aws_lambda_events::event::sqs::{
    BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute,
};
use futures::stream::{self, StreamExt};
use tracing::{error, info};

use crate::ports::ReceivedMessage;

/// Runs `process` on every record, at most `concurrency` at once. `process` answers whether
/// the record is done (it is then deleted) or failed (it comes back).
pub async fn process_batch<F, Fut>(
    event: SqsEvent,
    concurrency: usize,
    process: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let size = event.records.len();
    let results: Vec<(Option<String>, bool)> = stream::iter(event.records)
        .map(|message| {
            let message_id = message.message_id.clone();
            let task = tokio::spawn(process(message));
            async move {
                let done = task.await.unwrap_or_else(|err| {
                    error!(message_id = message_id.as_deref().unwrap_or_default(), error = %err,
                           "record processing panicked");
                    false
                });
                (message_id, done)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for (message_id, done) in results {
        if !done {
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

/// How many times SQS has delivered the record (1 on its first delivery).
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// Received messages as Lambda's SQS event source presents them, for local pollers and tests
/// that stand in for the event source mapping.
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
        if let Some(trace) = &m.trace_header {
            record
                .attributes
                .insert("AWSTraceHeader".to_owned(), trace.clone());
        }
        for (name, value) in &m.attributes {
            let mut attr = SqsMessageAttribute::default();
            attr.string_value = Some(value.clone());
            attr.data_type = Some("String".to_owned());
            record.message_attributes.insert(name.clone(), attr);
        }
        event.records.push(record);
    }
    event
}
