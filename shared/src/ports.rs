//! The two ports every adapter implements: where jobs live and how they are handed to workers.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::events::CloudEvent;
use crate::ids::{IdempotencyKey, JobId, Owner};
use crate::job::{Job, JobStatus, ResultRef, Transition};
use crate::message::{JobMessage, CORRELATION_ATTRIBUTE};
use crate::time::Timestamp;

/// What [`JobStore::create`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// The job was stored, as returned (a keyed job may have an id of the store's); the
    /// caller must enqueue it.
    Created(Job),
    /// The same owner already sent this idempotency key with the same request: this is the
    /// job that request created. Nothing was written.
    Replayed(Job),
}

impl CreateOutcome {
    /// The stored job, new or replayed.
    pub fn job(&self) -> &Job {
        match self {
            Self::Created(job) | Self::Replayed(job) => job,
        }
    }
}

/// A position in an owner's jobs, newest first: the job a page ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition {
    pub created_at: Timestamp,
    pub id: JobId,
}

impl ListPosition {
    pub fn of(job: &Job) -> Self {
        Self {
            created_at: job.created_at,
            id: job.id.clone(),
        }
    }
}

/// Which of one owner's jobs to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    pub owner: Owner,
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    /// Most jobs in one page (1–100).
    pub limit: usize,
    /// Continue after this position (exclusive).
    pub after: Option<ListPosition>,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    /// Where the next page starts; `None` when no job is left. A page may hold fewer than
    /// `limit` jobs and still have a next one: a store bounds the work one page may cost.
    pub next: Option<ListPosition>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The owner already used this idempotency key for a different request.
    #[error("idempotency key already used with a different request")]
    KeyReused,
    /// Another request with this idempotency key is being written right now; once it is,
    /// this one replays its job.
    #[error("another request with this idempotency key is in progress")]
    KeyInProgress,
    /// The backend could not be reached or throttled us; retrying may succeed.
    #[error("job store unavailable: {0}")]
    Unavailable(String),
    /// An item could not be decoded into a job: a bug or a manual edit, not a client error.
    #[error("stored job is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum TransitionError {
    #[error("job not found")]
    NotFound,
    /// The job was not in the state the transition expects; this is its current state.
    #[error("job is {}, transition does not apply", .0.status.as_str())]
    Conflict(Box<Job>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new `pending` job. With an idempotency key, the key and the job are written
    /// atomically, keyed by owner: the first request wins and every later request with the
    /// same key either replays that job (same fingerprint) or fails with
    /// [`StoreError::KeyReused`], while the job is retained (until `expires_at`). A store
    /// may give a keyed job an id of its own: the returned job is the one stored.
    async fn create(&self, job: &Job) -> Result<CreateOutcome, StoreError>;

    /// The job, read strongly consistently.
    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError>;

    /// The job an owner's idempotency key created, while the key is retained.
    async fn find_by_idempotency_key(
        &self,
        owner: &Owner,
        key: &IdempotencyKey,
    ) -> Result<Option<Job>, StoreError>;

    /// Up to `limit` unfinished (`pending` or `running`) jobs not updated since
    /// `updated_before`, oldest update first: what the reconciler looks at.
    async fn find_stale(
        &self,
        updated_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError>;

    /// How many of `owner`'s jobs are unfinished (`pending` or `running`), counting no further
    /// than `up_to`: enough to tell whether a cap is reached, at a bounded cost.
    async fn count_unfinished(&self, owner: &Owner, up_to: u32) -> Result<u32, StoreError>;

    /// One owner's jobs, newest first, filtered by status and type.
    async fn list(&self, query: &JobQuery) -> Result<JobPage, StoreError>;

    /// Applies `transition` as one conditional write, with the semantics of [`Job::apply`].
    async fn transition(&self, id: &JobId, transition: &Transition)
        -> Result<Job, TransitionError>;
}

/// A store that queues a new job's message in the transaction that stores the job, so no
/// crash can leave a stored job without its message. The embedded backend keeps both in one
/// SQLite file and offers this; DynamoDB and SQS share no transaction, and there a replay of
/// the request and the reconciler cover the gap between the two calls.
#[async_trait]
pub trait CreateAndEnqueue: Send + Sync {
    /// [`JobStore::create`], and, when the job is created, [`JobQueue::send`] of `message`,
    /// both or neither. A replay sends nothing.
    async fn create_and_enqueue(
        &self,
        job: &Job,
        message: &JobMessage,
    ) -> Result<CreateOutcome, StoreError>;
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QueueError {
    #[error("job queue unavailable: {0}")]
    Unavailable(String),
    /// The receipt handle names no message currently in flight (deleted, or received again
    /// since, or its visibility timeout expired).
    #[error("message is not in flight")]
    NotInFlight,
}

/// The producer side of a queue: what `submit` needs, and where the worker sets aside
/// messages it cannot act on (the dead-letter queue).
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends `body` with String message attributes, in the fair-queue `group` when there is
    /// one (the tenant it is for: on SQS, the `MessageGroupId` of a fair queue, so one
    /// tenant's burst does not delay the others); returns the message id.
    async fn send_raw(
        &self,
        body: &str,
        attributes: &[(&str, &str)],
        group: Option<&str>,
    ) -> Result<String, QueueError>;

    /// Sends a run reference for a job of `owner`, in the owner's fair-queue group, its
    /// correlation id also as the `correlation_id` attribute.
    async fn send(&self, message: &JobMessage, owner: &Owner) -> Result<(), QueueError> {
        let attributes = [(CORRELATION_ATTRIBUTE, message.correlation_id.as_str())];
        self.send_raw(&message.encode(), &attributes, Some(owner.as_str()))
            .await
            .map(|_| ())
    }
}

/// Schedules the dispatch check of jobs just stored: each check reaches the reconciler after
/// a fixed delay, and enqueues its job again if the job has not started by then. So a job
/// whose message was never sent (its `submit` died between the write and the send) waits for
/// that delay, not for the reconciler's sweep.
#[async_trait]
pub trait DispatchChecks: Send + Sync {
    /// Schedules one check per run reference, all or none: an error means some may not be
    /// scheduled, and the caller schedules them all again (a duplicate check is harmless).
    async fn schedule(&self, jobs: &[(JobMessage, Owner)]) -> Result<(), QueueError>;
}

/// A message as a consumer receives it (the fields of an SQS record the worker uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    /// Valid until the message is received again; needed to delete it or change visibility.
    pub receipt_handle: String,
    pub body: String,
    /// Receives of this message so far, this one included (`ApproximateReceiveCount`).
    pub receive_count: u32,
    pub sent_at: Timestamp,
    /// String message attributes (`correlation_id`, dead-letter reasons, …).
    pub attributes: BTreeMap<String, String>,
    /// The X-Ray trace of the sender (the `AWSTraceHeader` system attribute), if any.
    pub trace_header: Option<String>,
}

impl ReceivedMessage {
    /// The `correlation_id` message attribute, when the producer set one.
    pub fn correlation_id(&self) -> Option<&str> {
        self.attributes
            .get(CORRELATION_ATTRIBUTE)
            .map(String::as_str)
    }
}

/// The consumer side of a queue, with SQS semantics: a received message is hidden for the
/// queue's visibility timeout and comes back unless deleted; a message received more than
/// the queue's `maxReceiveCount` times moves to its dead-letter queue instead of being
/// delivered again. On AWS, Lambda's event source mapping is the consumer; locally, the
/// server's poller.
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    /// Up to `max` (1–10) visible messages, waiting up to `wait` for the first.
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError>;

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError>;

    /// Deletes several messages at once, as SQS's `DeleteMessageBatch` does (ten to a
    /// request): one outcome per handle, in their order, each what [`Self::delete`] would
    /// have answered. Adapters that can share one request or one commit override it.
    async fn delete_batch(&self, receipt_handles: &[&str]) -> Vec<Result<(), QueueError>> {
        let mut outcomes = Vec::with_capacity(receipt_handles.len());
        for handle in receipt_handles {
            outcomes.push(self.delete(handle).await);
        }
        outcomes
    }

    /// Hides an in-flight message for `timeout` from now (zero: visible at once).
    async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError>;
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("event publication failed: {0}")]
pub struct PublishError(pub String);

/// Where lifecycle events go: EventBridge on AWS, a JSON-lines file locally.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes every event, in order, at least once; on an error some may not have been
    /// published and the caller publishes them all again (subscribers deduplicate on `id`).
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), PublishError>;
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ResultStoreError {
    /// The store could not be reached; retrying may succeed.
    #[error("result store unavailable: {0}")]
    Unavailable(String),
    /// The stored document is gone (expired by the bucket's lifecycle) or was changed.
    #[error("stored result missing or altered: {0}")]
    Missing(String),
}

/// How a client gets a stored result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultLink {
    /// A short-lived URL of the document itself (an S3 presigned GET).
    Url(String),
    /// The document, for stores with no URL of their own (the embedded one).
    Body(Vec<u8>),
}

/// Where results too large for the job item are kept: S3 on AWS, files locally.
#[async_trait]
pub trait ResultStore: Send + Sync {
    /// Stores a job's result document; writing the same job's result again replaces it.
    async fn put(&self, job: &JobId, document: &[u8]) -> Result<ResultRef, ResultStoreError>;

    /// How the job's owner fetches it, for `ttl` at most.
    async fn link(&self, result: &ResultRef, ttl: Duration)
        -> Result<ResultLink, ResultStoreError>;
}

/// The reference of `document` stored under `key`.
pub fn result_ref(key: String, document: &[u8]) -> ResultRef {
    use sha2::{Digest, Sha256};
    ResultRef {
        key,
        bytes: document.len() as u64,
        sha256: hex::encode(Sha256::digest(document)),
    }
}

/// The key of a job's result document.
pub fn result_key(job: &JobId) -> String {
    format!("results/{job}.json")
}
