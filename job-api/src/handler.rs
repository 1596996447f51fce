//! Job types: what a job of a given `type` validates at submit and does in the worker.
//!
//! A [`JobHandler`] validates its input before the job is accepted, so bad input never reaches
//! the queue, and classifies each failure as retryable or permanent, so the worker knows
//! whether trying again can help. The [`JobRegistry`](crate::JobRegistry) is the set of types
//! one deployment runs.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use thiserror::Error;

use crate::context::JobContext;
use crate::field::FieldError;
use crate::retry::RetryPolicy;

/// How a job attempt failed. The class decides what the worker does next.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum JobFailure {
    /// Trying again may succeed (a downstream timed out, a resource was busy).
    #[error("{code}: {message}")]
    Retryable { code: String, message: String },
    /// Trying again cannot succeed (the input is wrong for this job); fail the job now.
    #[error("{code}: {message}")]
    Permanent { code: String, message: String },
}

impl JobFailure {
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Retryable {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Permanent {
            code: code.into(),
            message: message.into(),
        }
    }

    /// What a handler returns when it stops because its job was cancelled. The worker
    /// records the job as `cancelled` whatever the handler returns once a cancel is requested.
    pub fn cancelled() -> Self {
        Self::permanent("cancelled", "the job was cancelled")
    }

    /// The failure's code, as the job's `error.code` will show it.
    pub fn code(&self) -> &str {
        match self {
            Self::Retryable { code, .. } | Self::Permanent { code, .. } => code,
        }
    }

    /// The failure's message, as the job's `error.message` will show it.
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable { message, .. } | Self::Permanent { message, .. } => message,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

/// One job type: its name, how it checks its input, how it retries, and its work.
///
/// Implementations are plain values (often unit structs) registered in a
/// [`JobRegistry`](crate::JobRegistry).
/// The worker calls [`JobHandler::run`] at least once per accepted job, so the work should be
/// idempotent or tolerate a repeat; a panic fails that one job, never its batch.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The `type` clients name in `POST /jobs`, e.g. `csv.summary`.
    fn job_type(&self) -> &str;

    /// One line for people choosing a type: `GET /job-types`, the console and `accepted
    /// types` show it.
    fn description(&self) -> Option<&str> {
        None
    }

    /// The input's JSON Schema (draft 2020-12), if the type declares one. Submit checks it
    /// before [`JobHandler::validate`], `GET /job-types` publishes it, and a schema that does
    /// not compile stops the registry from being built.
    fn input_schema(&self) -> Option<Value> {
        None
    }

    /// The result's JSON Schema, if the type declares one: a result that does not match
    /// fails the job permanently (`result_invalid`), so clients only ever see results of the
    /// published shape.
    fn result_schema(&self) -> Option<Value> {
        None
    }

    /// Checks the input before the job is accepted, after the [`JobHandler::input_schema`]
    /// passed (if any). Pointers start with `/input`. The default accepts whatever the schema
    /// accepts; a type with neither a schema nor this check accepts any input.
    fn validate(&self, _input: &Value) -> Result<(), Vec<FieldError>> {
        Ok(())
    }

    /// Longest one attempt may run; an attempt still running then fails retryably with
    /// `timeout`. `None` (the default) leaves only the worker's own limit (the Lambda
    /// invocation's deadline).
    fn time_limit(&self) -> Option<Duration> {
        None
    }

    /// How this type retries. Types whose dependency needs gentler (or more) retries than
    /// the deployment's default override this.
    fn retry_policy(&self, default: &RetryPolicy) -> RetryPolicy {
        *default
    }

    /// An input this type accepts, to show people: the local job console puts it in the
    /// submit form when the type is picked. `None` (the default) shows `{}`.
    fn example_input(&self) -> Option<Value> {
        None
    }

    /// Does the work. Only called with input that passed [`JobHandler::validate`].
    async fn run(&self, ctx: &JobContext, input: &Value) -> Result<Value, JobFailure>;
}
