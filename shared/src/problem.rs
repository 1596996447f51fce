//! RFC 9457 problem details, and the one place API errors become HTTP statuses.
//!
//! Problem `type`s are relative URIs under `/problems/`, listed in the README; clients branch
//! on `type`, never on `title` or `detail`.

use serde::Serialize;
use thiserror::Error;

use crate::auth::AuthMode;
use crate::ids::CorrelationId;
use crate::job::JobStatus;

pub const CONTENT_TYPE: &str = "application/problem+json";

pub use accepted_job::FieldError;

/// Everything the HTTP API can answer with instead of success.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("header {header} is invalid: {reason}")]
    InvalidHeader {
        header: &'static str,
        reason: &'static str,
    },
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// A request with the same key is still being written (IETF Idempotency-Key draft: 409).
    #[error("a request with this Idempotency-Key is still in progress; retry it shortly")]
    IdempotencyKeyInProgress { retry_after_secs: u64 },
    /// `actual` is unknown when a body with no declared length was cut off at the limit.
    #[error("{}", too_large(.actual, .limit))]
    PayloadTooLarge { actual: Option<usize>, limit: usize },
    /// The request line or headers could not be parsed (the local server's HTTP layer; API
    /// Gateway answers these itself).
    #[error("the request line or headers are malformed: {0}")]
    MalformedRequest(&'static str),
    #[error("the request's headers are longer than {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("the request's URI is too long")]
    UriTooLong,
    /// The client did not send the body it announced in time (the local server's limit;
    /// API Gateway has its own).
    #[error("the request body did not arrive within {waited_secs} s")]
    RequestTimeout { waited_secs: u64 },
    #[error("content type {0:?} is not supported; send application/json")]
    UnsupportedMediaType(String),
    #[error("query parameter {parameter} is invalid: {reason}")]
    InvalidParameter {
        parameter: &'static str,
        reason: String,
    },
    /// No verified identity, where the deployment requires one.
    #[error("authentication is required ({mode})")]
    Unauthenticated { mode: AuthMode },
    /// A verified identity that cannot own jobs; refused rather than mapped to another owner.
    #[error("the caller's identity is not accepted: {reason}")]
    InvalidIdentity { reason: &'static str },
    #[error("job not found")]
    NotFound,
    /// The job is finished; it can no longer be cancelled.
    #[error("the job is already {}; a finished job cannot be cancelled", .0.as_str())]
    JobFinished(JobStatus),
    /// The job has no result (yet, or ever).
    #[error("the job is {}; only a completed job has a result", .status.as_str())]
    ResultNotAvailable {
        status: JobStatus,
        /// While the job may still complete: when to ask again.
        retry_after_secs: Option<u64>,
    },
    #[error("{method} is not supported on this resource; use {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    /// The owner's cap on unfinished jobs is reached: an abuse limit, not a failure.
    #[error(
        "you have {limit} unfinished jobs, the most allowed; submit again when some have finished"
    )]
    TooManyUnfinishedJobs { limit: u32, retry_after_secs: u64 },
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable { retry_after_secs: u64 },
    #[error("internal error")]
    Internal,
}

fn too_large(actual: &Option<usize>, limit: &usize) -> String {
    match actual {
        Some(actual) => format!("the request body is {actual} bytes; the limit is {limit}"),
        None => format!("the request body is longer than the limit of {limit} bytes"),
    }
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::MalformedJson(_)
            | Self::MalformedRequest(_)
            | Self::InvalidHeader { .. }
            | Self::InvalidParameter { .. } => 400,
            Self::Unauthenticated { .. } => 401,
            Self::InvalidIdentity { .. } => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::RequestTimeout { .. } => 408,
            Self::UriTooLong => 414,
            Self::HeadersTooLarge { .. } => 431,
            Self::JobFinished(_)
            | Self::ResultNotAvailable { .. }
            | Self::IdempotencyKeyInProgress { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::Validation(_) | Self::IdempotencyKeyReused => 422,
            Self::TooManyUnfinishedJobs { .. } => 429,
            Self::Internal => 500,
            Self::Unavailable { .. } => 503,
        }
    }

    /// The last segment of the problem `type`: a stable name for logs and metrics.
    pub fn slug(&self) -> &'static str {
        self.slug_and_title().0
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            Self::InvalidHeader { .. } => ("invalid-header", "Invalid header"),
            Self::InvalidParameter { .. } => ("invalid-parameter", "Invalid query parameter"),
            Self::JobFinished(_) => ("job-finished", "Job already finished"),
            Self::ResultNotAvailable { .. } => ("result-not-available", "Result not available"),
            Self::Validation(_) => ("validation-failed", "Validation failed"),
            Self::IdempotencyKeyReused => ("idempotency-key-reused", "Idempotency key reused"),
            Self::IdempotencyKeyInProgress { .. } => (
                "idempotency-key-in-progress",
                "Request with this idempotency key in progress",
            ),
            Self::PayloadTooLarge { .. } => ("payload-too-large", "Payload too large"),
            Self::RequestTimeout { .. } => ("request-timeout", "Request timeout"),
            Self::MalformedRequest(_) => ("malformed-request", "Malformed request"),
            Self::HeadersTooLarge { .. } => ("headers-too-large", "Headers too large"),
            Self::UriTooLong => ("uri-too-long", "URI too long"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::Unauthenticated { .. } => ("unauthenticated", "Authentication required"),
            Self::InvalidIdentity { .. } => ("invalid-identity", "Identity not accepted"),
            Self::NotFound => ("not-found", "Not found"),
            Self::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            Self::TooManyUnfinishedJobs { .. } => {
                ("too-many-unfinished-jobs", "Too many unfinished jobs")
            }
            Self::Unavailable { .. } => ("unavailable", "Service unavailable"),
            Self::Internal => ("internal", "Internal error"),
        }
    }

    /// Seconds a client should wait before retrying, when the error says so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Unavailable { retry_after_secs }
            | Self::IdempotencyKeyInProgress { retry_after_secs }
            | Self::TooManyUnfinishedJobs {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::ResultNotAvailable {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => None,
        }
    }

    pub fn to_problem(&self, instance: Option<&str>, correlation_id: &CorrelationId) -> Problem {
        let (slug, title) = self.slug_and_title();
        Problem {
            problem_type: format!("/problems/{slug}"),
            title,
            status: self.status(),
            detail: self.to_string(),
            instance: instance.map(str::to_owned),
            correlation_id: correlation_id.as_str().to_owned(),
            errors: match self {
                Self::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
            job_status: match self {
                Self::JobFinished(status) | Self::ResultNotAvailable { status, .. } => {
                    Some(*status)
                }
                _ => None,
            },
        }
    }
}

/// The JSON body of an error response.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub correlation_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension member of the job-state conflicts: the job's status when it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_errors_carry_their_fields() {
        let cid = CorrelationId::parse("c-1").unwrap();
        let err = ApiError::Validation(vec![FieldError::new("/type", "unknown job type")]);
        let body = serde_json::to_value(err.to_problem(Some("/jobs"), &cid)).unwrap();
        assert_eq!(
            body,
            json!({
                "type": "/problems/validation-failed",
                "title": "Validation failed",
                "status": 422,
                "detail": "the request is invalid",
                "instance": "/jobs",
                "correlation_id": "c-1",
                "errors": [{"pointer": "/type", "message": "unknown job type"}]
            })
        );
    }

    #[test]
    fn each_error_class_has_its_status() {
        let statuses: Vec<u16> = [
            ApiError::MalformedJson("x".into()),
            ApiError::PayloadTooLarge {
                actual: Some(2),
                limit: 1,
            },
            ApiError::UnsupportedMediaType("text/plain".into()),
            ApiError::IdempotencyKeyReused,
            ApiError::NotFound,
            ApiError::JobFinished(JobStatus::Completed),
            ApiError::Unavailable {
                retry_after_secs: 1,
            },
        ]
        .iter()
        .map(ApiError::status)
        .collect();
        assert_eq!(statuses, vec![400, 413, 415, 422, 404, 409, 503]);
    }

    #[test]
    fn state_conflicts_name_the_jobs_status() {
        let cid = CorrelationId::parse("c-2").unwrap();
        let err = ApiError::ResultNotAvailable {
            status: JobStatus::Running,
            retry_after_secs: Some(3),
        };
        let body = serde_json::to_value(err.to_problem(Some("/jobs/x/result"), &cid)).unwrap();
        assert_eq!(body["type"], "/problems/result-not-available");
        assert_eq!(
            (body["status"].as_u64(), &body["job_status"]),
            (Some(409), &json!("running"))
        );
        assert_eq!(err.retry_after_secs(), Some(3));
    }
}
