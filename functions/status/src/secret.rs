//! `GET /webhook-secret`: the caller's own webhook signing key (`whsec_…`), derived from the
//! deployment's master secret, so a receiver can verify what it is sent. Each owner gets a
//! different key; none can sign for another. Never cached by intermediaries.

use accepted_core::http::{json_response, set_header};
use accepted_core::{ApiError, CorrelationId, Owner};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use tracing::error;

use crate::Status;

/// Seconds to wait when the master secret cannot be read.
const SECRET_RETRY_AFTER_SECS: u64 = 5;

pub(crate) async fn webhook_secret(
    status: &Status,
    owner: &Owner,
    correlation_id: &CorrelationId,
) -> Result<Response<Body>, ApiError> {
    // A deployment without webhooks has no such resource.
    let secrets = status.webhook_secrets.as_ref().ok_or(ApiError::NotFound)?;
    let master = secrets.master().await.map_err(|err| {
        error!(error = %err, "webhook master secret unavailable");
        ApiError::Unavailable {
            retry_after_secs: SECRET_RETRY_AFTER_SECS,
        }
    })?;
    let key = master.for_owner(owner.as_str());
    let body = json!({
        "secret": key.reveal(),
        "scheme": "Standard Webhooks v1: HMAC-SHA256 over webhook-id.webhook-timestamp.body",
    });
    let mut res = json_response(StatusCode::OK, &body, correlation_id);
    set_header(&mut res, "cache-control", "no-store");
    Ok(res)
}
