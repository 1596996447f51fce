//! The two ports every adapter implements: where jobs live and how they are handed to workers.

use async_trait::async_trait;
use thiserror::Error;

use crate::ids::JobId;
use crate::job::{Job, Transition};
use crate::message::JobMessage;

/// What [`JobStore::create`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// The job was stored; the caller must enqueue it.
    Created(Job),
    /// The same owner already sent this idempotency key with the same request: this is the
    /// job that request created. Nothing was written.
    Replayed(Job),
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The owner already used this idempotency key for a different request.
    #[error("idempotency key already used with a different request")]
    KeyReused,
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
    /// [`StoreError::KeyReused`].
    async fn create(&self, job: &Job) -> Result<CreateOutcome, StoreError>;

    /// The job, read strongly consistently.
    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError>;

    /// Applies `transition` as one conditional write, with the semantics of [`Job::apply`].
    async fn transition(&self, id: &JobId, transition: &Transition)
        -> Result<Job, TransitionError>;
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QueueError {
    #[error("job queue unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn send(&self, message: &JobMessage) -> Result<(), QueueError>;
}
