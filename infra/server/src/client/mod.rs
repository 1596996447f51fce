//! The HTTP client behind the CLI's job commands. It talks to any deployment: the local server,
//! or API Gateway with a JWT or IAM (SigV4).
//!
//! Every call the API defines as safe to repeat is retried on a network error, `429` and
//! `5xx`, with capped exponential backoff and `Retry-After` honoured. A submit is among them
//! because it always carries an idempotency key (the caller's, or one made here once per
//! command): a retried submit finds the first one's job instead of creating a second.

mod answer;
mod auth;
mod follow;
mod transport;

use std::time::Duration;

use accepted_core::idempotency_header::key_header_value;
use accepted_core::{IdempotencyKey, JobStatus};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

pub use answer::{ClientError, ProblemReport};
pub use auth::Auth;
pub use follow::{follow, Followed};
use transport::{Answer, Transport};

/// A job as the API shows it. Unknown fields are ignored, so newer servers stay readable.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    pub id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: JobStatus,
    #[serde(default)]
    pub attempts: u32,
    pub created_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub progress: Option<accepted_core::Progress>,
    #[serde(default)]
    pub error: Option<accepted_core::JobError>,
    #[serde(default)]
    pub correlation_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// One entry of `GET /job-types`. Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct JobType {
    #[serde(rename = "type")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Value>,
    #[serde(default)]
    pub result_schema: Option<Value>,
    #[serde(default)]
    pub example_input: Option<Value>,
    pub max_attempts: u32,
    #[serde(default)]
    pub time_limit_seconds: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobTypeList {
    pub job_types: Vec<JobType>,
}

/// What `POST /jobs` answered.
#[derive(Debug)]
pub struct Submitted {
    pub job: Job,
    /// The document as received, for `--json`.
    pub raw: Value,
    /// The answer is an earlier identical request's job (`Idempotent-Replayed: true`).
    pub replayed: bool,
    pub location: Option<String>,
}

/// One read of a job.
#[derive(Debug)]
pub enum Polled {
    Changed {
        job: Box<Job>,
        raw: Value,
        etag: Option<String>,
        retry_after: Option<Duration>,
    },
    /// `304`: still as the `ETag` given.
    NotModified,
}

/// A completed job's result.
#[derive(Debug)]
pub enum JobResult {
    Inline(Vec<u8>),
    /// A large result, fetched from the presigned URL the API redirected to.
    Stored(Vec<u8>),
}

/// The filters of `GET /jobs`.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// How hard to try a call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Full-jitter backoff before attempt `n + 1`, or the server's `Retry-After` (capped).
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.cap);
        }
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }
}

pub struct ApiClient {
    base: Url,
    transport: Transport,
    auth: Auth,
    retry: RetryPolicy,
    correlation_id: Option<String>,
}

impl ApiClient {
    pub fn new(base: Url, auth: Auth, timeout: Duration) -> Result<Self, ClientError> {
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::Usage(format!(
                "the API URL must be http(s)://host[/stage]: {base}"
            )));
        }
        Ok(Self {
            base,
            transport: Transport::new(timeout)?,
            auth,
            retry: RetryPolicy::default(),
            correlation_id: None,
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends this correlation id on every call (otherwise the API makes one per request).
    pub fn with_correlation_id(mut self, id: Option<String>) -> Self {
        self.correlation_id = id;
        self
    }

    /// Submits `request` with `idempotency_key`, sent as the IETF draft's structured-field
    /// string.
    pub async fn submit(
        &self,
        request: &Value,
        idempotency_key: &str,
    ) -> Result<Submitted, ClientError> {
        let body = serde_json::to_vec(request).map_err(|e| ClientError::Usage(e.to_string()))?;
        let key = IdempotencyKey::parse(idempotency_key).ok_or_else(|| {
            ClientError::Usage(format!(
                "idempotency key {idempotency_key:?}: must be 1 to 255 visible ASCII characters"
            ))
        })?;
        let headers = [
            (hyper::header::CONTENT_TYPE, "application/json".to_owned()),
            (
                HeaderName::from_static("idempotency-key"),
                key_header_value(&key),
            ),
        ];
        let answer = self
            .call(Method::POST, &self.url("jobs", &[])?, &headers, body)
            .await?;
        if answer.status != StatusCode::ACCEPTED {
            return Err(answer.into_error());
        }
        let replayed = answer.header("idempotent-replayed") == Some("true");
        let location = answer.header("location").map(str::to_owned);
        let (job, raw) = answer.json::<Job>()?;
        Ok(Submitted {
            job,
            raw,
            replayed,
            location,
        })
    }

    /// Reads a job; with `wait`, long-polls up to that many seconds for a change.
    pub async fn job(
        &self,
        id: &str,
        wait: Option<u32>,
        etag: Option<&str>,
    ) -> Result<Polled, ClientError> {
        let wait = wait.map(|w| w.to_string());
        let query: Vec<(&str, &str)> = wait.iter().map(|w| ("wait", w.as_str())).collect();
        let url = self.url(&format!("jobs/{}", segment(id)?), &query)?;
        let headers: Vec<_> = etag
            .map(|e| (hyper::header::IF_NONE_MATCH, e.to_owned()))
            .into_iter()
            .collect();
        let answer = self.call(Method::GET, &url, &headers, Vec::new()).await?;
        match answer.status {
            StatusCode::NOT_MODIFIED => Ok(Polled::NotModified),
            StatusCode::OK => {
                let etag = answer.header("etag").map(str::to_owned);
                let retry_after = answer.retry_after();
                let (job, raw) = answer.json::<Job>()?;
                Ok(Polled::Changed {
                    job: Box::new(job),
                    raw,
                    etag,
                    retry_after,
                })
            }
            _ => Err(answer.into_error()),
        }
    }

    pub async fn list(&self, query: &ListQuery) -> Result<(JobPage, Value), ClientError> {
        let limit = query.limit.map(|l| l.to_string());
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if let Some(status) = query.status {
            pairs.push(("status", status.as_str()));
        }
        if let Some(t) = &query.job_type {
            pairs.push(("type", t));
        }
        if let Some(l) = &limit {
            pairs.push(("limit", l));
        }
        if let Some(c) = &query.cursor {
            pairs.push(("cursor", c));
        }
        let answer = self
            .call(Method::GET, &self.url("jobs", &pairs)?, &[], Vec::new())
            .await?;
        if answer.status != StatusCode::OK {
            return Err(answer.into_error());
        }
        answer.json::<JobPage>()
    }

    /// The deployment's job types.
    pub async fn job_types(&self) -> Result<(JobTypeList, Value), ClientError> {
        let answer = self
            .call(Method::GET, &self.url("job-types", &[])?, &[], Vec::new())
            .await?;
        if answer.status != StatusCode::OK {
            return Err(answer.into_error());
        }
        answer.json::<JobTypeList>()
    }

    /// Cancels a job: `200` when it was pending, `202` when its running handler was asked to
    /// stop. Repeating a cancel is harmless, so it is retried like a read.
    pub async fn cancel(&self, id: &str) -> Result<(Job, Value), ClientError> {
        let url = self.url(&format!("jobs/{}", segment(id)?), &[])?;
        let answer = self.call(Method::DELETE, &url, &[], Vec::new()).await?;
        if !matches!(answer.status, StatusCode::OK | StatusCode::ACCEPTED) {
            return Err(answer.into_error());
        }
        answer.json::<Job>()
    }

    pub async fn result(&self, id: &str) -> Result<JobResult, ClientError> {
        let url = self.url(&format!("jobs/{}/result", segment(id)?), &[])?;
        let answer = self.call(Method::GET, &url, &[], Vec::new()).await?;
        match answer.status {
            StatusCode::OK => Ok(JobResult::Inline(answer.body.to_vec())),
            StatusCode::SEE_OTHER => {
                let location = answer.header("location").ok_or_else(|| {
                    ClientError::Unexpected("a 303 without a Location".to_owned())
                })?;
                let stored = Url::parse(location)
                    .map_err(|e| ClientError::Unexpected(format!("the result URL: {e}")))?;
                // A presigned URL carries its own authorisation: send nothing of ours.
                let answer = self
                    .send_with_retry(Method::GET, &stored, &[], Vec::new(), false)
                    .await?;
                if answer.status != StatusCode::OK {
                    return Err(ClientError::Unexpected(format!(
                        "the stored result answered {}",
                        answer.status
                    )));
                }
                Ok(JobResult::Stored(answer.body.to_vec()))
            }
            _ => Err(answer.into_error()),
        }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, ClientError> {
        // Keep a stage prefix (`https://…/prod/`) by joining onto a base that ends in `/`.
        let mut base = self.base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut url = base
            .join(path)
            .map_err(|e| ClientError::Usage(format!("{path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    async fn call(
        &self,
        method: Method,
        url: &Url,
        headers: &[(HeaderName, String)],
        body: Vec<u8>,
    ) -> Result<Answer, ClientError> {
        let mut all = headers.to_vec();
        all.push((hyper::header::ACCEPT, "application/json".to_owned()));
        if let Some(id) = &self.correlation_id {
            all.push((HeaderName::from_static("x-correlation-id"), id.clone()));
        }
        self.send_with_retry(method, url, &all, body, true).await
    }

    async fn send_with_retry(
        &self,
        method: Method,
        url: &Url,
        headers: &[(HeaderName, String)],
        body: Vec<u8>,
        authorise: bool,
    ) -> Result<Answer, ClientError> {
        let mut attempt = 0;
        loop {
            let mut values = Vec::with_capacity(headers.len() + 3);
            for (name, value) in headers {
                let value = HeaderValue::from_str(value)
                    .map_err(|_| ClientError::Usage(format!("{name}: not a valid header value")))?;
                values.push((name.clone(), value));
            }
            if authorise {
                values.extend(self.auth.headers(&method, url, &values, &body).await?);
            }
            let sent = self.transport.send(&method, url, &values, &body).await;
            attempt += 1;
            let retry_after = match &sent {
                Ok(answer) if !retryable(answer) => return sent,
                Ok(answer) => answer.retry_after(),
                Err(_) => None,
            };
            if attempt >= self.retry.attempts {
                return sent;
            }
            tracing::debug!(attempt, url = %url, "retrying");
            tokio::time::sleep(self.retry.delay(attempt - 1, retry_after)).await;
        }
    }
}

/// Throttling, server errors, and a submit whose key another request is still writing (the
/// retry then replays that request's job).
fn retryable(answer: &Answer) -> bool {
    let status = answer.status;
    let key_in_progress = || {
        serde_json::from_slice::<ProblemReport>(&answer.body)
            .is_ok_and(|p| p.problem_type == "/problems/idempotency-key-in-progress")
    };
    status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || (status == StatusCode::CONFLICT && key_in_progress())
}

/// A job id as one path segment: ids are UUIDs, and anything that could change the path is
/// refused before a request is made.
fn segment(id: &str) -> Result<&str, ClientError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ClientError::Usage(format!("not a job id: {id:?}")));
    }
    Ok(id)
}

#[cfg(test)]
mod tests;
