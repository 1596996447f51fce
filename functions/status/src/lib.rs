//! The job resource, to its owner only: `GET /jobs/{id}` (with long polling), `DELETE
//! /jobs/{id}` (cancel), `GET /jobs/{id}/result` and `GET /jobs` (listing); and the
//! caller's webhook signing key, `GET /webhook-secret`.
//!
//! A job of another owner answers exactly like a missing one (same status, same body shape),
//! so ids cannot be probed across owners.

mod lambda;
pub use lambda::run;
mod cancel;
mod list;
pub mod polling;
mod read;
mod secret;

use std::sync::Arc;
use std::time::Duration;

use accepted_core::auth::caller;
use accepted_core::http::{correlation_of, problem_response, request_id_of};
use accepted_core::webhook::secrets::SecretProvider;
use accepted_core::{
    ApiError, AuthMode, Config, Job, JobId, JobStore, Owner, ResultStore, StoreError,
};
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::{error, info_span, Instrument};

pub struct Status {
    pub store: Arc<dyn JobStore>,
    /// Shortest `Retry-After` on an unfinished job.
    pub retry_after: Duration,
    /// Longest a `?wait=` long poll may hold the request.
    pub long_poll_max: Duration,
    /// How often a long poll reads the job again.
    pub long_poll_interval: Duration,
    /// Where results too large for the job item are kept.
    pub results: Option<Arc<dyn ResultStore>>,
    /// Lifetime of the URL a stored result is fetched from.
    pub result_url_ttl: Duration,
    /// The webhook master secret, to hand each owner its signing key.
    pub webhook_secrets: Option<Arc<dyn SecretProvider>>,
    /// What identifies callers.
    pub auth: AuthMode,
}

impl Status {
    pub fn new(store: Arc<dyn JobStore>, config: &Config) -> Self {
        Self {
            store,
            retry_after: config.status_retry_after,
            long_poll_max: config.long_poll_max,
            long_poll_interval: config.long_poll_interval,
            results: None,
            result_url_ttl: config.result_url_ttl,
            webhook_secrets: None,
            auth: config.auth,
        }
    }

    pub fn with_webhook_secrets(mut self, secrets: Arc<dyn SecretProvider>) -> Self {
        self.webhook_secrets = Some(secrets);
        self
    }

    pub fn with_results(mut self, results: Arc<dyn ResultStore>) -> Self {
        self.results = Some(results);
        self
    }
}

/// The resource a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    List,
    Job(String),
    Result(String),
    WebhookSecret,
}

pub async fn handle(status: &Status, req: Request) -> Response<Body> {
    let correlation_id = correlation_of(&req);
    let route = route_of(&req);
    let instance = req.uri().path().to_owned();
    let job_id = match &route {
        Some(Route::Job(id) | Route::Result(id)) => id.as_str(),
        _ => "",
    };
    let span = info_span!(
        "status",
        correlation_id = %correlation_id,
        request_id = request_id_of(&req).unwrap_or_default(),
        job_id,
        method = %req.method(),
    );
    async {
        let method = req.method().clone();
        let answer = match (&route, &method, caller(&req, status.auth)) {
            (None, _, _) => Err(ApiError::NotFound),
            (_, _, Err(refused)) => Err(refused),
            (Some(Route::List), &Method::GET, Ok(owner)) => {
                list::list(status, &req, owner, &correlation_id).await
            }
            (Some(Route::Job(id)), &Method::GET, Ok(owner)) => {
                read::job(status, &req, &owner, id, &correlation_id).await
            }
            (Some(Route::Job(id)), &Method::DELETE, Ok(owner)) => {
                cancel::cancel(status, &owner, id, &correlation_id).await
            }
            (Some(Route::Result(id)), &Method::GET, Ok(owner)) => {
                read::result(status, &owner, id, &correlation_id).await
            }
            (Some(Route::WebhookSecret), &Method::GET, Ok(owner)) => {
                secret::webhook_secret(status, &owner, &correlation_id).await
            }
            (Some(route), _, Ok(_)) => Err(ApiError::MethodNotAllowed {
                method: method.to_string(),
                allow: match route {
                    Route::List => "GET, POST",
                    Route::Job(_) => "GET, DELETE",
                    Route::Result(_) | Route::WebhookSecret => "GET",
                },
            }),
        };
        answer.unwrap_or_else(|err| problem_response(&err, &instance, &correlation_id))
    }
    .instrument(span)
    .await
}

/// The route from the request path: API Gateway passes the raw path, and the local server
/// and `cargo lambda` pass the same. Whatever precedes `/jobs` (a stage name) is ignored.
fn route_of(req: &Request) -> Option<Route> {
    let path = req.uri().path().trim_end_matches('/');
    if path.ends_with("/jobs") {
        return Some(Route::List);
    }
    if path.ends_with("/webhook-secret") {
        return Some(Route::WebhookSecret);
    }
    let id = req
        .path_parameters_ref()
        .and_then(|p| p.first("id"))
        .map(str::to_owned);
    let (_, rest) = path.rsplit_once("/jobs/")?;
    let mut segments = rest.split('/');
    let raw = segments.next().filter(|s| !s.is_empty())?;
    let id = id.unwrap_or_else(|| raw.to_owned());
    match (segments.next(), segments.next()) {
        (None, _) => Some(Route::Job(id)),
        (Some("result"), None) => Some(Route::Result(id)),
        _ => None,
    }
}

/// The caller's job, or `404` — for a foreign job exactly as for a missing one.
async fn find_own(store: &dyn JobStore, owner: &Owner, raw_id: &str) -> Result<Job, ApiError> {
    let id = JobId::parse(raw_id).ok_or(ApiError::NotFound)?;
    match store.get(&id).await {
        Ok(Some(job)) if job.owner == *owner => Ok(job),
        Ok(_) => Err(ApiError::NotFound),
        Err(err) => Err(store_error(err)),
    }
}

fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Corrupt(detail) => {
            error!(error = %detail, "job store returned a corrupt item");
            ApiError::Internal
        }
        other => {
            error!(error = %other, "job store unavailable");
            ApiError::Unavailable {
                retry_after_secs: 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Option<Route> {
        let req = lambda_http::http::Request::builder()
            .uri(path)
            .body(Body::Empty)
            .unwrap();
        route_of(&req)
    }

    #[test]
    fn routes_come_from_the_path() {
        assert_eq!(at("/jobs"), Some(Route::List));
        assert_eq!(at("/prod/jobs/"), Some(Route::List));
        assert_eq!(at("/jobs/abc"), Some(Route::Job("abc".into())));
        assert_eq!(at("/jobs/abc/result"), Some(Route::Result("abc".into())));
        assert_eq!(at("/jobs/abc/other"), None);
        assert_eq!(at("/jobs/abc/result/x"), None);
        assert_eq!(at("/elsewhere"), None);
    }
}
