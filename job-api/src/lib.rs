//! `accepted-job`: what a job author writes against, and nothing else.
//!
//! `accepted` does everything around a job — the `202`, idempotency, the queue, retries,
//! leases, cancellation, results, events and webhooks. The job itself is yours: a type that
//! implements [`JobHandler`], registered in the [`JobRegistry`] your deployment hands to
//! every entry point (submit, worker, the local server, the tests), so they can never
//! disagree about which types exist. This crate has no AWS SDK, HTTP stack or database in
//! its dependency tree, so a crate of job types builds in seconds and tests without servers.
//!
//! ```
//! use accepted_job::input::{into_result, object, required_u64};
//! use accepted_job::{async_trait, CorrelationId, FieldError, JobContext, JobFailure, JobHandler, JobId, JobRegistry};
//! use serde_json::{json, Value};
//!
//! /// Adds up the integers from 1 to `n`, reporting progress as it goes.
//! struct SumTo;
//!
//! #[async_trait]
//! impl JobHandler for SumTo {
//!     fn job_type(&self) -> &str {
//!         "math.sum_to"
//!     }
//!
//!     fn validate(&self, input: &Value) -> Result<(), Vec<FieldError>> {
//!         let mut errors = Vec::new();
//!         if let Some(obj) = object(input, &["n"], &mut errors) {
//!             required_u64(obj, "n", 1_000_000, &mut errors);
//!         }
//!         into_result(errors)
//!     }
//!
//!     async fn run(&self, ctx: &JobContext, input: &Value) -> Result<Value, JobFailure> {
//!         let n = input["n"].as_u64().ok_or_else(|| JobFailure::permanent("bad_input", "n"))?;
//!         let mut sum = 0u64;
//!         for i in 1..=n {
//!             if ctx.is_cancelled() {
//!                 return Err(JobFailure::cancelled());
//!             }
//!             sum += i;
//!             if i % 1000 == 0 {
//!                 ctx.report_progress((i * 100 / n) as u8, None);
//!             }
//!         }
//!         Ok(json!({ "sum": sum }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = JobRegistry::default().with(SumTo);
//! let handler = registry.get("math.sum_to").expect("registered");
//!
//! // Submit refuses bad input with a pointer to each problem, before anything is written.
//! let refused = handler.validate(&json!({"n": "ten"})).unwrap_err();
//! assert_eq!(refused[0].pointer, "/input/n");
//! // The registry's check is submit's: the type's schema (if it declares one), then this.
//! assert!(registry.validate("math.sum_to", &json!({"n": "ten"})).is_err());
//!
//! // The worker runs it with a context; so can a unit test.
//! let (ctx, _signals) = JobContext::new(JobId::generate(), 1, CorrelationId::generate());
//! let result = handler.run(&ctx, &json!({"n": 10_000})).await.expect("ran");
//! assert_eq!(result["sum"], 50_005_000);
//! # }
//! ```
//!
//! A failure is [`JobFailure::retryable`] (try again, with backoff, up to the deployment's
//! attempt limit or the type's own [`JobHandler::retry_policy`]) or
//! [`JobFailure::permanent`] (fail the job now). `docs/job-types.md` in the repository walks
//! through validation, retries, progress, cancellation, results and testing.

mod context;
mod field;
mod handler;
pub mod ids;
pub mod input;
mod registry;
pub mod retry;
pub mod schema;

pub use async_trait::async_trait;
pub use context::{AttemptSignals, JobContext, Progress, MAX_PROGRESS_MESSAGE_CHARS};
pub use field::FieldError;
pub use handler::{JobFailure, JobHandler};
pub use ids::{CorrelationId, JobId};
pub use registry::{JobRegistry, Refusal, RegisteredType, RegistryError};
pub use retry::RetryPolicy;
