//! The routes a process manager, a load balancer and Prometheus call: `GET /healthz` (the
//! process answers), `GET /readyz` (it can reach its store: `503` when not), and
//! `GET /metrics` (the job metrics, [`crate::prometheus`]). They carry no job data and need
//! no token, like the probes that call them; keep them behind the same proxy as the API.

use std::sync::Arc;

use accepted_core::http::problem_response;
use accepted_core::{ApiError, CorrelationId, JobId};
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tracing::warn;

use crate::http::{from_lambda, Api};

/// What `/readyz` may wait for the store before it calls the server not ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/healthz", get(|| async { status_document("ok") }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

fn status_document(status: &str) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(format!("{{\"status\":\"{status}\"}}")))
        .unwrap_or_default()
}

/// Ready when a read of the store (a job that does not exist) succeeds in time.
async fn ready(State(api): State<Arc<Api>>) -> Response {
    let nobody = JobId::generate();
    let probe = api.store.get(&nobody);
    let error = match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(_)) => return status_document("ready"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", READY_TIMEOUT.as_secs()),
    };
    warn!(error = %error, "not ready: the job store cannot be read");
    let err = ApiError::Unavailable {
        retry_after_secs: 1,
    };
    from_lambda(problem_response(
        &err,
        "/readyz",
        &CorrelationId::generate(),
    ))
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(
            api.metrics.render() + &database_metrics(api.database.as_ref()),
        ))
        .unwrap_or_default()
}

/// The group commit's effect: writes per commit is `writes_total / commits_total`.
fn database_metrics(database: Option<&accepted_embedded::Database>) -> String {
    let Some(db) = database else {
        return String::new();
    };
    format!(
        "# TYPE accepted_sqlite_commits_total counter\naccepted_sqlite_commits_total {}\n\
         # TYPE accepted_sqlite_writes_total counter\naccepted_sqlite_writes_total {}\n",
        db.commits(),
        db.writes()
    )
}
