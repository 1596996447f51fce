//! The job as clients see it: the JSON body of `202 Accepted`, `GET /jobs/{id}` and the
//! entries of `GET /jobs`.
//!
//! Internal fields (fingerprint, lease, TTL, owner) stay out; the shape is the public contract.

use serde::Serialize;
use serde_json::Value;

use crate::job::{Job, JobError, JobStatus, Progress};
use crate::time::Timestamp;

#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub job_type: &'a str,
    pub status: JobStatus,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// When the next attempt of a job waiting after a retryable failure is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    /// When its owner asked for a running job to be cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_requested_at: Option<Timestamp>,
    /// Left out of listings, which stay small.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<&'a Progress>,
    /// Left out of listings; always at `links.result` too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a JobError>,
    pub correlation_id: &'a str,
    pub links: Links,
}

#[derive(Debug, Serialize)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_: String,
    /// Present once the job is completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// Path of a job's resource, also its `Location`.
pub fn job_path(id: &str) -> String {
    format!("/jobs/{id}")
}

/// Path of a completed job's result.
pub fn result_path(id: &str) -> String {
    format!("/jobs/{id}/result")
}

impl<'a> JobView<'a> {
    /// The job without its input and result, as listings show it.
    pub fn summary(job: &'a Job) -> Self {
        Self {
            input: None,
            result: None,
            ..Self::from(job)
        }
    }
}

impl<'a> From<&'a Job> for JobView<'a> {
    fn from(job: &'a Job) -> Self {
        let id = job.id.as_str();
        Self {
            id,
            job_type: &job.job_type,
            status: job.status,
            attempts: job.attempts,
            created_at: job.created_at,
            updated_at: job.updated_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            retry_at: job.retry_at,
            cancel_requested_at: job.cancel_requested_at,
            input: Some(&job.input),
            callback_url: job.callback_url.as_deref(),
            progress: job.progress.as_ref(),
            result: job.result.as_ref(),
            error: job.error.as_ref(),
            correlation_id: job.correlation_id.as_str(),
            links: Links {
                self_: job_path(id),
                result: (job.status == JobStatus::Completed).then(|| result_path(id)),
            },
        }
    }
}

/// The body of `GET /jobs`.
#[derive(Debug, Serialize)]
pub struct JobListView<'a> {
    pub jobs: Vec<JobView<'a>>,
    /// Pass as `cursor` to get the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
