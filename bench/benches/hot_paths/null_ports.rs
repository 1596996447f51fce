//! Adapters that answer at once and keep nothing: with them, a handler's time per request is
//! its own work alone (parsing, validation, fingerprint, the job, the answer), no storage.

use accepted_core::{
    CreateOutcome, IdempotencyKey, Job, JobId, JobPage, JobQuery, JobQueue, JobStore, Owner,
    QueueError, StoreError, Timestamp, Transition, TransitionError,
};
use async_trait::async_trait;

/// Every job is new; nothing is ever found.
pub struct NullStore;

#[async_trait]
impl JobStore for NullStore {
    async fn create(&self, job: &Job) -> Result<CreateOutcome, StoreError> {
        Ok(CreateOutcome::Created(job.clone()))
    }
    async fn get(&self, _: &JobId) -> Result<Option<Job>, StoreError> {
        Ok(None)
    }
    async fn find_by_idempotency_key(
        &self,
        _: &Owner,
        _: &IdempotencyKey,
    ) -> Result<Option<Job>, StoreError> {
        Ok(None)
    }
    async fn find_stale(&self, _: Timestamp, _: usize) -> Result<Vec<Job>, StoreError> {
        Ok(Vec::new())
    }
    async fn count_unfinished(&self, _: &Owner, _: u32) -> Result<u32, StoreError> {
        Ok(0)
    }
    async fn list(&self, _: &JobQuery) -> Result<JobPage, StoreError> {
        Ok(JobPage {
            jobs: Vec::new(),
            next: None,
        })
    }
    async fn transition(&self, _: &JobId, _: &Transition) -> Result<Job, TransitionError> {
        Err(TransitionError::NotFound)
    }
}

/// Accepts every message and drops it.
pub struct NullQueue;

#[async_trait]
impl JobQueue for NullQueue {
    async fn send_raw(
        &self,
        _: &str,
        _: &[(&str, &str)],
        _: Option<&str>,
    ) -> Result<String, QueueError> {
        Ok("null".to_owned())
    }
}
