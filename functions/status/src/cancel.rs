//! `DELETE /jobs/{id}`: cancel a job.
//!
//! A pending job is cancelled at once (`200`, the job `cancelled`). A running job gets a
//! cancel request (`202`, the job still `running` with `cancel_requested_at`): its handler
//! learns of it at the worker's next heartbeat or progress write and the worker concludes it
//! as `cancelled`. Asking again while the request is pending is another `202`. A finished job
//! is a `409` naming its status.

use accepted_core::{
    ApiError, CorrelationId, JobStatus, Owner, Timestamp, Transition, TransitionError,
};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use tracing::info;

use crate::read::job_response;
use crate::{find_own, store_error, Status};

/// Rounds of "read, then write what that state calls for" before giving up on a job that
/// keeps changing under us (a pending job starting meanwhile takes one more round).
const ROUNDS: usize = 3;

pub(crate) async fn cancel(
    status: &Status,
    owner: &Owner,
    raw_id: &str,
    correlation_id: &CorrelationId,
) -> Result<Response<Body>, ApiError> {
    let mut job = find_own(status.store.as_ref(), owner, raw_id).await?;
    for _ in 0..ROUNDS {
        let now = Timestamp::now();
        let (transition, code) = match job.status {
            s if s.is_terminal() => return Err(ApiError::JobFinished(s)),
            JobStatus::Running if job.cancel_requested_at.is_some() => {
                return Ok(job_response(
                    status,
                    StatusCode::ACCEPTED,
                    &job,
                    correlation_id,
                ));
            }
            JobStatus::Running => (Transition::RequestCancel { now }, StatusCode::ACCEPTED),
            _ => (Transition::CancelPending { now }, StatusCode::OK),
        };
        match status.store.transition(&job.id, &transition).await {
            Ok(updated) => {
                info!(
                    transition = transition.name(),
                    status = updated.status.as_str(),
                    "cancel"
                );
                return Ok(job_response(status, code, &updated, correlation_id));
            }
            Err(TransitionError::Conflict(current)) => job = *current,
            Err(TransitionError::NotFound) => return Err(ApiError::NotFound),
            Err(TransitionError::Store(err)) => return Err(store_error(err)),
        }
    }
    Err(ApiError::Unavailable {
        retry_after_secs: 1,
    })
}
