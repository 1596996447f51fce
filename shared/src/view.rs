//! The job as clients see it: the JSON body of `202 Accepted` and `GET /jobs/{id}`.
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
    pub input: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<&'a Progress>,
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
}

/// Path of a job's resource, also its `Location`.
pub fn job_path(id: &str) -> String {
    format!("/jobs/{id}")
}

impl<'a> From<&'a Job> for JobView<'a> {
    fn from(job: &'a Job) -> Self {
        Self {
            id: job.id.as_str(),
            job_type: &job.job_type,
            status: job.status,
            attempts: job.attempts,
            created_at: job.created_at,
            updated_at: job.updated_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            input: &job.input,
            callback_url: job.callback_url.as_deref(),
            progress: job.progress.as_ref(),
            result: job.result.as_ref(),
            error: job.error.as_ref(),
            correlation_id: job.correlation_id.as_str(),
            links: Links {
                self_: job_path(job.id.as_str()),
            },
        }
    }
}
