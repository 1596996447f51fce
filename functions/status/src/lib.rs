//! `GET /jobs/{id}`: the job, to its owner only.
//!
//! A job of another owner answers exactly like a missing one (same status, same body shape),
//! so ids cannot be probed across owners.

use std::sync::Arc;
use std::time::Duration;

use accepted_core::http::{
    correlation_of, json_response, owner_of, problem_response, request_id_of, set_header,
};
use accepted_core::view::JobView;
use accepted_core::{ApiError, Config, CorrelationId, Job, JobId, JobStore, StoreError};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::{error, info_span, Instrument};

pub struct Status {
    pub store: Arc<dyn JobStore>,
    pub retry_after: Duration,
}

impl Status {
    pub fn new(store: Arc<dyn JobStore>, config: &Config) -> Self {
        Self {
            store,
            retry_after: config.status_retry_after,
        }
    }
}

pub async fn handle(status: &Status, req: Request) -> Response<Body> {
    let correlation_id = correlation_of(&req);
    let raw_id = job_id_param(&req);
    let instance = format!("/jobs/{}", raw_id.as_deref().unwrap_or(""));
    let span = info_span!(
        "status",
        correlation_id = %correlation_id,
        request_id = request_id_of(&req).unwrap_or_default(),
        job_id = raw_id.as_deref().unwrap_or_default(),
    );
    async {
        let result = if req.method() == Method::GET {
            find(status, &req, raw_id.as_deref()).await
        } else {
            Err(ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                allow: "GET",
            })
        };
        match result {
            Ok(job) => respond(status, &job, &correlation_id),
            Err(err) => problem_response(&err, &instance, &correlation_id),
        }
    }
    .instrument(span)
    .await
}

/// The `{id}` path parameter from API Gateway, or the last segment of `/jobs/{id}` when the
/// request did not come through API Gateway's router (local server, `cargo lambda watch`).
fn job_id_param(req: &Request) -> Option<String> {
    if let Some(id) = req.path_parameters_ref().and_then(|p| p.first("id")) {
        return Some(id.to_owned());
    }
    let path = req.uri().path();
    let (_, id) = path.trim_end_matches('/').rsplit_once("/jobs/")?;
    (!id.is_empty() && !id.contains('/')).then(|| id.to_owned())
}

async fn find(status: &Status, req: &Request, raw_id: Option<&str>) -> Result<Job, ApiError> {
    let id = raw_id.and_then(JobId::parse).ok_or(ApiError::NotFound)?;
    let owner = owner_of(req);
    match status.store.get(&id).await {
        Ok(Some(job)) if job.owner == owner => Ok(job),
        Ok(_) => Err(ApiError::NotFound),
        Err(StoreError::Corrupt(detail)) => {
            error!(error = %detail, "job store returned a corrupt item");
            Err(ApiError::Internal)
        }
        Err(err) => {
            error!(error = %err, "job store unavailable");
            Err(ApiError::Unavailable {
                retry_after_secs: 1,
            })
        }
    }
}

fn respond(status: &Status, job: &Job, correlation_id: &CorrelationId) -> Response<Body> {
    let mut res = json_response(StatusCode::OK, &JobView::from(job), correlation_id);
    set_header(&mut res, header::CACHE_CONTROL.as_str(), "no-store");
    if !job.status.is_terminal() {
        let secs = status.retry_after.as_secs().max(1).to_string();
        set_header(&mut res, header::RETRY_AFTER.as_str(), &secs);
    }
    res
}
