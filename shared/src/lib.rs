//! `accepted-core`: the domain of the accepted job API, its ports and its HTTP edge.
//!
//! The domain (jobs, their state machine, validation, problem details) knows nothing of
//! Lambda or of any backend. Entry points in `functions/` translate events into calls on the
//! ports defined in [`ports`]; the adapters live in their own crates, `accepted-aws`
//! (DynamoDB, SQS, S3, EventBridge, Secrets Manager) and `accepted-embedded` (SQLite), so this
//! crate builds without the AWS SDK. The job-author API (the [`JobHandler`] trait and what it
//! uses) lives in the smaller `accepted-job` crate and is re-exported here.

pub mod auth;
#[cfg(feature = "sqs-batch")]
pub mod batch;
pub mod breaker;
pub mod catalog;
pub mod config;
pub mod cursor;
pub mod declared;
pub mod error_chain;
pub mod events;
pub mod fingerprint;
#[cfg(feature = "http")]
pub mod http;
pub mod idempotency_header;
pub mod inbound;
pub mod job;
pub mod limits;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod ports;
pub mod problem;
pub mod request;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod view;
pub mod webhook;

pub use accepted_job::{ids, input, retry};
pub use accepted_job::{
    AttemptSignals, JobContext, JobFailure, JobHandler, JobRegistry, MAX_PROGRESS_MESSAGE_CHARS,
};
pub use auth::AuthMode;
pub use config::Config;
pub use ids::{CorrelationId, IdempotencyKey, JobId, Owner};
pub use job::{Job, JobError, JobStatus, NewJob, Progress, ResultRef, Transition};
pub use message::JobMessage;
pub use ports::{
    CreateAndEnqueue, CreateOutcome, DispatchChecks, EventPublisher, JobPage, JobQuery, JobQueue,
    JobStore, ListPosition, PublishError, QueueConsumer, QueueError, ReceivedMessage, ResultLink,
    ResultStore, ResultStoreError, StoreError, TransitionError,
};
pub use problem::{ApiError, FieldError, Problem};
pub use time::Timestamp;
