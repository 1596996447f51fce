//! `accepted-core`: the domain of the accepted job API and its ports, with the AWS adapters.
//!
//! The domain (jobs, their state machine, validation, problem details) knows nothing of
//! Lambda. Entry points in `functions/` translate events into calls on the ports defined in
//! [`ports`], implemented by the adapters in [`aws`]. The job-author API (the
//! [`JobHandler`] trait and what it uses) lives in the small `accepted-job` crate and is
//! re-exported here.

pub mod auth;
pub mod aws;
#[cfg(feature = "sqs-batch")]
pub mod batch;
pub mod breaker;
pub mod config;
pub mod cursor;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod error_chain;
pub mod events;
pub mod fingerprint;
#[cfg(feature = "http")]
pub mod http;
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
    CreateOutcome, EventPublisher, JobPage, JobQuery, JobQueue, JobStore, ListPosition,
    PublishError, QueueConsumer, QueueError, ReceivedMessage, ResultLink, ResultStore,
    ResultStoreError, StoreError, TransitionError,
};
pub use problem::{ApiError, FieldError, Problem};
pub use time::Timestamp;
