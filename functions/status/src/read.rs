//! `GET /jobs/{id}` and `GET /jobs/{id}/result`.
//!
//! `?wait=N` long-polls: the answer comes as soon as the job changes (see
//! [`crate::polling::etag`]) or after N seconds (at most the configured bound), with the job as
//! it then is. With `If-None-Match` the wait is measured against the version the client already
//! has; without it, against the version at arrival. A finished job is answered at once.

use std::time::Duration;

use accepted_core::http::{header_str, json_response, query_param, set_header, CORRELATION_HEADER};
use accepted_core::view::{job_path, result_path, JobView};
use accepted_core::{
    ApiError, CorrelationId, Job, JobStatus, Owner, ResultLink, ResultRef, ResultStoreError,
    Timestamp,
};
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Request, Response};
use tracing::{error, info};

use crate::polling::{etag, matches, retry_after};
use crate::{find_own, Status};

pub(crate) async fn job(
    status: &Status,
    req: &Request,
    owner: &Owner,
    raw_id: &str,
    correlation_id: &CorrelationId,
) -> Result<Response<Body>, ApiError> {
    let wait = wait_param(req, status.long_poll_max)?;
    let seen = header_str(req, header::IF_NONE_MATCH.as_str()).map(str::to_owned);
    let mut job = find_own(status.store.as_ref(), owner, raw_id).await?;
    if !wait.is_zero() {
        let baseline = seen.clone().unwrap_or_else(|| etag(&job));
        let deadline = tokio::time::Instant::now() + wait;
        let mut reads = 1;
        while !job.status.is_terminal() && matches(&baseline, &etag(&job)) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(left.min(status.long_poll_interval)).await;
            job = find_own(status.store.as_ref(), owner, raw_id).await?;
            reads += 1;
        }
        info!(
            reads,
            changed = !matches(&baseline, &etag(&job)),
            "long poll answered"
        );
    }
    let tag = etag(&job);
    if !seen.as_deref().is_some_and(|s| matches(s, &tag)) {
        return Ok(job_response(status, StatusCode::OK, &job, correlation_id));
    }
    let mut res = Response::new(Body::Empty);
    *res.status_mut() = StatusCode::NOT_MODIFIED;
    set_header(&mut res, CORRELATION_HEADER, correlation_id.as_str());
    set_header(&mut res, header::ETAG.as_str(), &tag);
    set_header(&mut res, header::CACHE_CONTROL.as_str(), "no-store");
    if let Some(secs) = retry_after(&job, Timestamp::now(), status.retry_after) {
        set_header(&mut res, header::RETRY_AFTER.as_str(), &secs.to_string());
    }
    Ok(res)
}

/// `GET /jobs/{id}/result`: the result document of a completed job, as the handler produced
/// it — in the body when it is kept in the job, as a `303 See Other` to a short-lived URL
/// when it is kept in the result store. Any other state is a `409` naming the status (with
/// `Retry-After` while it may still complete).
pub(crate) async fn result(
    status: &Status,
    owner: &Owner,
    raw_id: &str,
    correlation_id: &CorrelationId,
) -> Result<Response<Body>, ApiError> {
    let job = find_own(status.store.as_ref(), owner, raw_id).await?;
    if job.status != JobStatus::Completed {
        return Err(ApiError::ResultNotAvailable {
            status: job.status,
            retry_after_secs: retry_after(&job, Timestamp::now(), status.retry_after),
        });
    }
    let up = format!("<{}>; rel=\"up\"", job_path(job.id.as_str()));
    let mut res = match (&job.result, &job.result_ref) {
        (Some(result), _) => {
            let mut res = json_response(StatusCode::OK, result, correlation_id);
            set_header(
                &mut res,
                header::CACHE_CONTROL.as_str(),
                "private, max-age=60",
            );
            res
        }
        (None, Some(stored)) => stored_result(status, stored, correlation_id).await?,
        (None, None) => {
            error!("completed job has no result");
            return Err(ApiError::Internal);
        }
    };
    set_header(&mut res, header::LINK.as_str(), &up);
    Ok(res)
}

async fn stored_result(
    status: &Status,
    stored: &ResultRef,
    correlation_id: &CorrelationId,
) -> Result<Response<Body>, ApiError> {
    let Some(results) = &status.results else {
        error!(key = %stored.key, "a stored result but no result store configured");
        return Err(ApiError::Internal);
    };
    let link = results
        .link(stored, status.result_url_ttl)
        .await
        .map_err(|err| {
            error!(error = %err, key = %stored.key, "stored result unavailable");
            match err {
                ResultStoreError::Unavailable(_) => ApiError::Unavailable {
                    retry_after_secs: 1,
                },
                ResultStoreError::Missing(_) => ApiError::Internal,
            }
        })?;
    Ok(match link {
        ResultLink::Url(url) => {
            let mut res = Response::new(Body::Empty);
            *res.status_mut() = StatusCode::SEE_OTHER;
            set_header(&mut res, header::LOCATION.as_str(), &url);
            set_header(&mut res, CORRELATION_HEADER, correlation_id.as_str());
            // The URL expires: never cache the redirect beyond it.
            set_header(
                &mut res,
                header::CACHE_CONTROL.as_str(),
                "private, no-store",
            );
            res
        }
        ResultLink::Body(document) => {
            let mut res = Response::new(Body::Binary(document));
            set_header(&mut res, header::CONTENT_TYPE.as_str(), "application/json");
            set_header(&mut res, CORRELATION_HEADER, correlation_id.as_str());
            set_header(
                &mut res,
                header::CACHE_CONTROL.as_str(),
                "private, max-age=60",
            );
            res
        }
    })
}

fn wait_param(req: &Request, max: Duration) -> Result<Duration, ApiError> {
    let Some(raw) = query_param(req, "wait") else {
        return Ok(Duration::ZERO);
    };
    let invalid = || ApiError::InvalidParameter {
        parameter: "wait",
        reason: format!("must be whole seconds from 0 to {}", max.as_secs()),
    };
    let secs: u64 = raw.trim().parse().map_err(|_| invalid())?;
    if secs > max.as_secs() {
        return Err(invalid());
    }
    Ok(Duration::from_secs(secs))
}

/// The job as the answer: with its version, when to look at it again and, once it is
/// completed, a link to its result.
pub(crate) fn job_response(
    status: &Status,
    code: StatusCode,
    job: &Job,
    correlation_id: &CorrelationId,
) -> Response<Body> {
    let mut res = json_response(code, &JobView::from(job), correlation_id);
    set_header(&mut res, header::ETAG.as_str(), &etag(job));
    set_header(&mut res, header::CACHE_CONTROL.as_str(), "no-store");
    set_header(
        &mut res,
        header::CONTENT_LOCATION.as_str(),
        &job_path(job.id.as_str()),
    );
    if let Some(secs) = retry_after(job, Timestamp::now(), status.retry_after) {
        set_header(&mut res, header::RETRY_AFTER.as_str(), &secs.to_string());
    }
    if job.status == JobStatus::Completed {
        let link = format!("<{}>; rel=\"result\"", result_path(job.id.as_str()));
        set_header(&mut res, header::LINK.as_str(), &link);
    }
    res
}
