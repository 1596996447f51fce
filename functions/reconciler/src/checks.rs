//! Dispatch checks: one per stored job, delivered `DISPATCH_CHECK_DELAY_SECONDS` after the
//! job was stored (the `events` function schedules it from the table's stream).
//!
//! `submit` stores a job, then sends its message. If it dies in between, the job is stored
//! and nothing will run it: its check finds it still `pending` with no attempt and enqueues
//! it. So such a job starts about a minute after it was accepted, where the sweep alone
//! would take `STALE_AFTER_SECONDS`. A job that started, finished, or is gone needs nothing.
//!
//! A job that waits in a backlog longer than the delay looks the same as one never enqueued,
//! and gets a second message. That duplicate is harmless: a job starts only from `pending`,
//! and the later of its two messages finds it started and is dropped.

use accepted_core::{JobMessage, JobStatus, Timestamp};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Serialize;
use tracing::{error, info, warn};

use crate::Reconciler;

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Checked {
    /// The job had not started: it is enqueued again.
    Enqueued,
    /// The job started, finished, or is being cancelled: nothing to do.
    Dispatched,
    /// No such job (expired, or never stored): nothing to do.
    Gone,
    /// Not a run reference: logged and dropped, so it never blocks the queue.
    Unreadable,
    /// The store or the queue failed: the check comes back.
    Failed,
}

/// Runs every check of a batch; the ones that failed come back (`ReportBatchItemFailures`).
pub async fn check_dispatch(reconciler: &Reconciler, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut enqueued = 0;
    for record in &event.records {
        let checked = check(reconciler, record).await;
        match checked {
            Checked::Enqueued => enqueued += 1,
            Checked::Failed => {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
            Checked::Dispatched | Checked::Gone | Checked::Unreadable => {}
        }
    }
    info!(
        checks = event.records.len(),
        enqueued,
        failed = response.batch_item_failures.len(),
        "dispatch checks done"
    );
    response
}

/// One check: is the job it names still waiting for its first message?
pub async fn check(reconciler: &Reconciler, record: &SqsMessage) -> Checked {
    let message_id = record.message_id.as_deref().unwrap_or_default();
    let body = record.body.as_deref().unwrap_or_default();
    let reference = match JobMessage::decode(body) {
        Ok(reference) => reference,
        Err(err) => {
            error!(message_id, error = %err, "dispatch check unreadable; dropped");
            return Checked::Unreadable;
        }
    };
    let (job_id, correlation_id) = (&reference.job_id, &reference.correlation_id);
    let job = match reconciler.store.get(job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => return Checked::Gone,
        Err(err) => {
            warn!(%job_id, error = %err, "dispatch check could not read its job");
            return Checked::Failed;
        }
    };
    let waiting =
        job.status == JobStatus::Pending && job.attempts == 0 && job.cancel_requested_at.is_none();
    if !waiting {
        return Checked::Dispatched;
    }
    let run = JobMessage::new(job.id.clone(), job.correlation_id.clone());
    match reconciler.queue.send(&run, &job.owner).await {
        Ok(()) => {
            warn!(%job_id, %correlation_id, waited_s = Timestamp::now().since(job.created_at).as_secs(),
                  "job not started by its dispatch check; enqueued again");
            Checked::Enqueued
        }
        Err(err) => {
            warn!(%job_id, error = %err, "dispatch check could not enqueue its job");
            Checked::Failed
        }
    }
}
