//! `GET /jobs?status=&type=&limit=&cursor=`: the caller's own jobs, newest first.
//!
//! Entries are summaries (no input, no result). `next_cursor` continues the listing; a page
//! may hold fewer than `limit` jobs (the store bounds what one page may read when filters
//! match little) and still have a next one. The owner always comes from the caller's
//! identity, never from a parameter or the cursor.

use accepted_core::http::{json_response, query_param, set_header};
use accepted_core::view::{JobListView, JobView};
use accepted_core::{cursor, ApiError, CorrelationId, JobQuery, JobStatus, Owner};
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::{store_error, Status};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
/// Job type names are short; anything longer cannot match and is refused.
const MAX_TYPE_CHARS: usize = 64;

pub(crate) async fn list(
    status: &Status,
    req: &Request,
    owner: Owner,
    correlation_id: &CorrelationId,
) -> Result<Response<Body>, ApiError> {
    let query = parse_query(req, owner)?;
    let page = status.store.list(&query).await.map_err(store_error)?;
    let body = JobListView {
        jobs: page.jobs.iter().map(JobView::summary).collect(),
        next_cursor: page.next.as_ref().map(cursor::encode),
    };
    let mut res = json_response(StatusCode::OK, &body, correlation_id);
    set_header(&mut res, header::CACHE_CONTROL.as_str(), "no-store");
    Ok(res)
}

fn parse_query(req: &Request, owner: Owner) -> Result<JobQuery, ApiError> {
    let invalid = |parameter: &'static str, reason: &str| ApiError::InvalidParameter {
        parameter,
        reason: reason.to_owned(),
    };
    let status = query_param(req, "status")
        .map(|raw| {
            JobStatus::parse(&raw).ok_or_else(|| {
                invalid(
                    "status",
                    "must be one of pending, running, completed, failed, cancelled",
                )
            })
        })
        .transpose()?;
    let job_type = query_param(req, "type")
        .map(|raw| {
            let valid = !raw.is_empty()
                && raw.chars().count() <= MAX_TYPE_CHARS
                && raw
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            valid
                .then_some(raw)
                .ok_or_else(|| invalid("type", "must be a job type name"))
        })
        .transpose()?;
    let limit = match query_param(req, "limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit", "must be a whole number from 1 to 100"))?,
    };
    let after = query_param(req, "cursor")
        .map(|raw| {
            cursor::decode(&raw).ok_or_else(|| {
                invalid(
                    "cursor",
                    "is not a cursor this API issued; pass next_cursor unchanged",
                )
            })
        })
        .transpose()?;
    Ok(JobQuery {
        owner,
        status,
        job_type,
        limit,
        after,
    })
}
