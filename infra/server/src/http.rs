//! The HTTP API: the real `submit` and `status` handlers behind API Gateway's routes.
//!
//! Each request is turned into the event API Gateway (HTTP API, payload v2) would deliver:
//! the same body, headers and path parameters, and a request context with a request id.
//! With `--auth jwt`, the request context carries the verified token's claims, as API
//! Gateway's JWT authorizer would put them there; a request without a valid token is `401`
//! before any function runs. Without it every caller is `anonymous`, as on a stack deployed
//! without an authorizer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accepted_core::http::{correlation_of, problem_response};
use accepted_core::{ApiError, AuthMode, CorrelationId, JobStore};
use accepted_status::Status;
use accepted_submit::Submit;
use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::http::{header, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use tracing::info;

use crate::auth::JwtVerifier;
use crate::prometheus::PrometheusSink;

pub struct Api {
    /// The stand-in for API Gateway's JWT authorizer, when the server verifies tokens.
    pub authorizer: Option<JwtVerifier>,
    /// How long a client may take to send a body once its headers are in.
    pub body_timeout: Duration,
    pub submit: Submit,
    pub status: Status,
    /// What `/readyz` reads.
    pub store: Arc<dyn JobStore>,
    /// What `/metrics` shows: the functions' metrics, and the embedded database's writes.
    pub metrics: Arc<PrometheusSink>,
    pub database: Option<accepted_embedded::Database>,
}

pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/jobs", any(jobs))
        .route("/jobs/{id}", any(job))
        .route("/jobs/{id}/result", any(job))
        .route("/job-types", any(job_types))
        .route("/webhook-secret", any(webhook_secret))
        .route("/openapi.json", axum::routing::get(openapi))
        .merge(crate::console::routes())
        .merge(crate::operations::routes())
        .fallback(not_found)
        .with_state(api)
}

async fn jobs(State(api): State<Arc<Api>>, req: axum::extract::Request) -> Response {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let res = match to_lambda(&api, req, "/jobs", None).await {
        Ok(req) if req.method() == Method::GET => accepted_status::handle(&api.status, req).await,
        Ok(req) => accepted_submit::handle(&api.submit, req).await,
        Err(res) => res,
    };
    finish(res, &method, &path, started)
}

async fn job(
    State(api): State<Arc<Api>>,
    id: Result<Path<String>, PathRejection>,
    req: axum::extract::Request,
) -> Response {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    // Job ids are ASCII: a segment that does not decode to text names no job.
    let Ok(Path(id)) = id else {
        let cid = CorrelationId::from_header_or_generate(
            req.headers()
                .get(accepted_core::http::CORRELATION_HEADER)
                .and_then(|v| v.to_str().ok()),
        );
        let res = problem_response(&ApiError::NotFound, &path, &cid);
        return finish(res, &method, &path, started);
    };
    let route = if path.ends_with("/result") {
        "/jobs/{id}/result"
    } else {
        "/jobs/{id}"
    };
    let res = match to_lambda(&api, req, route, Some(id)).await {
        Ok(req) => accepted_status::handle(&api.status, req).await,
        Err(res) => res,
    };
    finish(res, &method, &path, started)
}

async fn job_types(State(api): State<Arc<Api>>, req: axum::extract::Request) -> Response {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let res = match to_lambda(&api, req, "/job-types", None).await {
        Ok(req) => accepted_submit::handle(&api.submit, req).await,
        Err(res) => res,
    };
    finish(res, &method, &path, started)
}

async fn webhook_secret(State(api): State<Arc<Api>>, req: axum::extract::Request) -> Response {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let res = match to_lambda(&api, req, "/webhook-secret", None).await {
        Ok(req) => accepted_status::handle(&api.status, req).await,
        Err(res) => res,
    };
    finish(res, &method, &path, started)
}

/// The OpenAPI document the API is built to, as JSON (the repository keeps it as YAML).
async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let document = DOCUMENT.get_or_init(|| {
        let yaml: serde_json::Value =
            serde_yaml::from_str(include_str!("../../../api/openapi.yaml")).ok()?;
        serde_json::to_string(&yaml).ok()
    });
    match document {
        Some(json) => Response::builder()
            .header("content-type", "application/json")
            .body(AxumBody::from(json.clone()))
            .unwrap_or_default(),
        None => from_lambda(problem_response(
            &ApiError::Internal,
            "/openapi.json",
            &CorrelationId::generate(),
        )),
    }
}

async fn not_found(req: axum::extract::Request) -> Response {
    let cid = CorrelationId::generate();
    let res = problem_response(&ApiError::NotFound, req.uri().path(), &cid);
    from_lambda(res)
}

/// The API Gateway event for `req`, or the answer API Gateway itself would give.
async fn to_lambda(
    api: &Api,
    req: axum::extract::Request,
    route: &str,
    id: Option<String>,
) -> Result<lambda_http::Request, lambda_http::Response<Body>> {
    let (parts, body) = req.into_parts();
    let refuse = |parts: lambda_http::http::request::Parts, err: ApiError| {
        let probe = lambda_http::http::Request::from_parts(parts, Body::Empty);
        problem_response(&err, probe.uri().path(), &correlation_of(&probe))
    };
    // Who is asking, and how much they declare, before a byte of the body is read: an
    // unauthenticated or oversized request costs the server nothing.
    let authorizer = match &api.authorizer {
        None => None,
        Some(verifier) => {
            let authorization = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match verifier.verify(authorization) {
                Ok(claims) => {
                    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
                    jwt.claims = claims;
                    let mut authorizer = ApiGatewayRequestAuthorizer::default();
                    authorizer.jwt = Some(jwt);
                    Some(authorizer)
                }
                Err(refusal) => {
                    info!(reason = %refusal, path = parts.uri.path(), "request refused: no valid token");
                    let mode = AuthMode::Jwt;
                    return Err(refuse(parts, ApiError::Unauthenticated { mode }));
                }
            }
        }
    };
    let limit = api.submit.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(actual) = declared.filter(|&n| n > limit) {
        let err = ApiError::PayloadTooLarge {
            actual: Some(actual),
            limit,
        };
        return Err(refuse(parts, err));
    }
    // Read to the limit and no further, whatever the framing says, and in bounded time.
    let Ok(read) = tokio::time::timeout(api.body_timeout, to_bytes(body, limit)).await else {
        let err = ApiError::RequestTimeout {
            waited_secs: api.body_timeout.as_secs(),
        };
        return Err(refuse(parts, err));
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(e) if is_length_limit(&e) => {
            let err = ApiError::PayloadTooLarge {
                actual: declared,
                limit,
            };
            return Err(refuse(parts, err));
        }
        Err(e) => {
            let err = ApiError::MalformedJson(format!("the body could not be read: {e}"));
            return Err(refuse(parts, err));
        }
    };
    let query: HashMap<String, Vec<String>> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes()).fold(HashMap::new(), |mut map, (k, v)| {
                map.entry(k.into_owned())
                    .or_insert_with(Vec::new)
                    .push(v.into_owned());
                map
            })
        })
        .unwrap_or_default();
    let mut http_ctx = ApiGatewayV2httpRequestContextHttpDescription::default();
    http_ctx.method = parts.method.clone();
    http_ctx.path = Some(parts.uri.path().to_owned());
    http_ctx.source_ip = Some("127.0.0.1".to_owned());
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.request_id = Some(uuid::Uuid::new_v4().to_string());
    ctx.route_key = Some(format!("{} {route}", parts.method));
    ctx.stage = Some("$default".to_owned());
    ctx.http = http_ctx;
    ctx.authorizer = authorizer;
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    let mut req = lambda_http::http::Request::from_parts(parts, body)
        .with_request_context(RequestContext::ApiGatewayV2(ctx));
    if let Some(id) = id {
        req = req.with_path_parameters(HashMap::from([("id".to_owned(), id)]));
    }
    if !query.is_empty() {
        req = req.with_query_string_parameters(query);
    }
    Ok(req)
}

/// Whether reading the body stopped at the limit (rather than on a broken body).
fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

pub(crate) fn from_lambda(res: lambda_http::Response<Body>) -> Response {
    let (parts, body) = res.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, AxumBody::from(bytes))
}

fn finish(
    res: lambda_http::Response<Body>,
    method: &lambda_http::http::Method,
    path: &str,
    started: Instant,
) -> Response {
    info!(
        %method,
        path,
        status = res.status().as_u16(),
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    from_lambda(res)
}
