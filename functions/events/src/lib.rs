//! The DynamoDB stream consumer that publishes lifecycle events.
//!
//! Each stream record of a job item carries the item before and after a write; the state
//! change between them (see [`accepted_core::events`]) becomes one CloudEvent on the bus. The
//! stream holds every committed write in order per item, so an event cannot be lost between a
//! state change and its publication: a failed publication is reported as the batch's first
//! failed record (`ReportBatchItemFailures`), and Lambda retries from there — the events
//! already published are published again with the same ids. Records that are not job items,
//! or not state changes (heartbeats, progress), publish nothing; a record that cannot be
//! decoded is logged and skipped, so it never blocks the stream.

mod lambda;
pub use lambda::run;

use std::sync::Arc;

use accepted_aws::item::{self, decode_job, Item};
use accepted_core::events::CloudEvent;
use accepted_core::{EventPublisher, Job, StoreError};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use tracing::{error, info, warn};

pub struct Publisher {
    pub publisher: Arc<dyn EventPublisher>,
    /// The events' `source`.
    pub source: String,
}

/// What one stream record says, once decoded.
#[derive(Debug)]
enum Decoded {
    Event(Box<CloudEvent>),
    Nothing,
}

pub async fn handle_records(publisher: &Publisher, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut batch: Vec<(String, CloudEvent)> = Vec::new();
    for record in &event.records {
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        match decode(record, &publisher.source) {
            Ok(Decoded::Event(event)) => batch.push((sequence, *event)),
            Ok(Decoded::Nothing) => {}
            Err(err) => {
                error!(sequence, error = %err, "stream record skipped: undecodable job item")
            }
        }
    }
    // In order, so that a failure can name the first record not published.
    for chunk in batch.chunks(10) {
        let events: Vec<CloudEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
        match publisher.publisher.publish(&events).await {
            Ok(()) => {
                for event in &events {
                    info!(event_id = %event.id, event_type = %event.event_type,
                          job_id = %event.subject, correlation_id = %event.correlationid,
                          "event published");
                }
            }
            Err(err) => {
                warn!(error = %err, "event publication failed; the stream retries from here");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(chunk[0].0.clone());
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    response
}

fn decode(record: &EventRecord, source: &str) -> Result<Decoded, StoreError> {
    let keys: Item = record.change.keys.clone().into();
    let is_job = keys
        .get(item::PK)
        .and_then(|pk| pk.as_s().ok())
        .is_some_and(|pk| pk.starts_with("JOB#"));
    // REMOVE is TTL expiry (or an operator), not a state change.
    if !is_job || record.event_name == "REMOVE" {
        return Ok(Decoded::Nothing);
    }
    let image = |item: &serde_dynamo::Item| -> Result<Option<Job>, StoreError> {
        let item: Item = item.clone().into();
        if item.is_empty() {
            return Ok(None);
        }
        decode_job(&item).map(Some)
    };
    let Some(after) = image(&record.change.new_image)? else {
        return Ok(Decoded::Nothing);
    };
    let before = image(&record.change.old_image)?;
    Ok(
        match CloudEvent::for_change(before.as_ref(), &after, source) {
            Some(event) => Decoded::Event(Box::new(event)),
            None => Decoded::Nothing,
        },
    )
}
