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
//!
//! The stream also sees every job the moment it is stored, whoever stored it, so this is
//! where each new job's dispatch check is scheduled ([`DispatchChecks`]): if `submit` died
//! between storing the job and sending its message, the check enqueues it a minute later.

mod lambda;
pub use lambda::run;

use std::sync::Arc;

use accepted_aws::item::{self, decode_job, Item};
use accepted_aws::{BusSubscriptions, Receivers};
use accepted_core::events::{CloudEvent, EventKinds, JobEventKind};
use accepted_core::{
    DispatchChecks, EventPublisher, Job, JobMessage, JobStatus, Owner, PublishError, QueueError,
    StoreError,
};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use tracing::{debug, error, info, warn};

pub struct Publisher {
    pub publisher: Arc<dyn EventPublisher>,
    /// The events' `source`.
    pub source: String,
    /// Where each job just stored gets its dispatch check, when the deployment has them.
    pub dispatch_checks: Option<Arc<dyn DispatchChecks>>,
    /// The lifecycle events published (`EVENT_KINDS`); the others are not sent, as nothing
    /// receives them. EventBridge bills each event.
    pub kinds: Kinds,
}

/// Where the events to publish come from.
pub enum Kinds {
    /// The kinds the deployment lists.
    Listed(Vec<JobEventKind>),
    /// What a rule or an archive on the bus may receive, read from the bus.
    Subscribed(Arc<BusSubscriptions>),
}

impl Kinds {
    pub fn all() -> Self {
        Self::Listed(JobEventKind::ALL.to_vec())
    }

    /// The kinds `EVENT_KINDS` names; `bus` reads the subscriptions when it says
    /// `subscribed`.
    pub fn configured(kinds: &EventKinds, bus: impl FnOnce() -> BusSubscriptions) -> Self {
        match kinds {
            EventKinds::Listed(kinds) => Self::Listed(kinds.clone()),
            EventKinds::Subscribed => Self::Subscribed(Arc::new(bus())),
        }
    }

    async fn current(&self) -> Selection {
        match self {
            Self::Listed(kinds) => Selection::Kinds(kinds.clone()),
            // Boxed: the SDK's futures are deep, and this one runs once a minute.
            Self::Subscribed(bus) => {
                Selection::Receivers(Box::pin(bus.receivers()).await.unwrap_or_else(|err| {
                    warn!(error = %err, "publishing every event until the next reading");
                    Arc::new(Receivers::Everything)
                }))
            }
        }
    }
}

/// Which events one batch publishes.
enum Selection {
    Kinds(Vec<JobEventKind>),
    Receivers(Arc<Receivers>),
}

impl Selection {
    fn publishes(&self, kind: JobEventKind, event: &CloudEvent) -> bool {
        match self {
            Self::Kinds(kinds) => kinds.contains(&kind),
            Self::Receivers(receivers) => receivers.may_receive(event),
        }
    }
}

/// What one stream record asks for, once decoded.
#[derive(Debug, Default)]
struct Work {
    event: Option<CloudEvent>,
    /// A job just stored: its run reference, to check on later.
    check: Option<(JobMessage, Owner)>,
}

/// Records are handled in order, up to ten at a time: their events published, then their
/// dispatch checks scheduled. A failure names the first record of its group, and Lambda
/// retries from there; what the group had done already is done again with the same ids.
pub async fn handle_records(publisher: &Publisher, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let selection = publisher.kinds.current().await;
    let mut batch: Vec<(String, Work)> = Vec::new();
    for record in &event.records {
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        match decode(record, publisher, &selection) {
            Ok(work) if work.event.is_some() || work.check.is_some() => {
                batch.push((sequence, work))
            }
            Ok(_) => {}
            Err(err) => {
                error!(sequence, error = %err, "stream record skipped: undecodable job item")
            }
        }
    }
    let (mut events, mut checks) = (0, 0);
    for chunk in batch.chunks(10) {
        if let Err(err) = handle_chunk(publisher, chunk).await {
            warn!(error = %err, "stream records not handled; the stream retries from here");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(chunk[0].0.clone());
            response.batch_item_failures.push(failure);
            break;
        }
        events += chunk.iter().filter(|(_, w)| w.event.is_some()).count();
        checks += chunk.iter().filter(|(_, w)| w.check.is_some()).count();
    }
    // Lambda's own metrics count the invocations; this line is for debugging a stream.
    debug!(
        records = event.records.len(),
        events, checks, "stream records handled"
    );
    response
}

#[derive(Debug, thiserror::Error)]
enum ChunkError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("dispatch checks not scheduled: {0}")]
    Checks(#[from] QueueError),
}

async fn handle_chunk(publisher: &Publisher, chunk: &[(String, Work)]) -> Result<(), ChunkError> {
    let events: Vec<CloudEvent> = chunk.iter().filter_map(|(_, w)| w.event.clone()).collect();
    if !events.is_empty() {
        publisher.publisher.publish(&events).await?;
        // The job's correlation id follows it here too.
        for event in &events {
            info!(event_id = %event.id, event_type = %event.event_type,
                  job_id = %event.subject, correlation_id = %event.correlationid,
                  "event published");
        }
    }
    let Some(dispatch_checks) = &publisher.dispatch_checks else {
        return Ok(());
    };
    let checks: Vec<(JobMessage, Owner)> =
        chunk.iter().filter_map(|(_, w)| w.check.clone()).collect();
    if !checks.is_empty() {
        dispatch_checks.schedule(&checks).await?;
        // Every new job has one; its line says nothing its event does not.
        for (message, _) in &checks {
            debug!(job_id = %message.job_id, correlation_id = %message.correlation_id,
                  "dispatch check scheduled");
        }
    }
    Ok(())
}

fn decode(
    record: &EventRecord,
    publisher: &Publisher,
    selection: &Selection,
) -> Result<Work, StoreError> {
    let keys: Item = record.change.keys.clone().into();
    let is_job = keys
        .get(item::PK)
        .and_then(|pk| pk.as_s().ok())
        .is_some_and(|pk| pk.starts_with("JOB#"));
    // REMOVE is TTL expiry (or an operator), not a state change.
    if !is_job || record.event_name == "REMOVE" {
        return Ok(Work::default());
    }
    let image = |item: &serde_dynamo::Item| -> Result<Option<Job>, StoreError> {
        let item: Item = item.clone().into();
        if item.is_empty() {
            return Ok(None);
        }
        decode_job(&item).map(Some)
    };
    let Some(after) = image(&record.change.new_image)? else {
        return Ok(Work::default());
    };
    // A keyed job's id is derived from its owner and key: a key used again after its job
    // expired puts a new job over the old item. That write is the new job's creation.
    let before = image(&record.change.old_image)?.filter(|b| b.created_at == after.created_at);
    let check = (before.is_none() && after.status == JobStatus::Pending).then(|| {
        (
            JobMessage::new(after.id.clone(), after.correlation_id.clone()),
            after.owner.clone(),
        )
    });
    Ok(Work {
        event: JobEventKind::of_change(before.as_ref(), &after).and_then(|kind| {
            let event = CloudEvent::for_job(kind, &after, &publisher.source);
            selection.publishes(kind, &event).then_some(event)
        }),
        check,
    })
}
