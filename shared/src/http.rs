//! The API Gateway edge shared by the HTTP functions: which correlation id the request
//! carries (who is calling is [`crate::auth`]), and how answers are shaped. Handlers stay free of header plumbing.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::ids::CorrelationId;
use crate::problem::{self, ApiError};

pub const CORRELATION_HEADER: &str = "x-correlation-id";
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The client's `X-Correlation-Id` when it is well-formed, otherwise a new one.
pub fn correlation_of(req: &Request) -> CorrelationId {
    CorrelationId::from_header_or_generate(header_str(req, CORRELATION_HEADER))
}

/// API Gateway's request id, for log lines.
pub fn request_id_of(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
}

/// A query string parameter: from the API Gateway event, or from the URI when the request
/// did not come through API Gateway (local server, tests).
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    if let Some(params) = req.query_string_parameters_ref() {
        if let Some(value) = params.first(name) {
            return Some(value.to_owned());
        }
    }
    let query = req.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

pub fn header_str<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A JSON response that carries the correlation id.
pub fn json_response(
    status: StatusCode,
    body: &impl Serialize,
    correlation_id: &CorrelationId,
) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = Response::new(Body::from(bytes));
    *res.status_mut() = status;
    set_header(&mut res, header::CONTENT_TYPE.as_str(), "application/json");
    set_header(&mut res, CORRELATION_HEADER, correlation_id.as_str());
    res
}

/// The RFC 9457 answer for `err`; the one place an [`ApiError`] becomes HTTP.
pub fn problem_response(
    err: &ApiError,
    instance: &str,
    correlation_id: &CorrelationId,
) -> Response<Body> {
    let problem = err.to_problem(Some(instance), correlation_id);
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = json_response(status, &problem, correlation_id);
    set_header(
        &mut res,
        header::CONTENT_TYPE.as_str(),
        problem::CONTENT_TYPE,
    );
    if let Some(secs) = err.retry_after_secs() {
        set_header(&mut res, header::RETRY_AFTER.as_str(), &secs.to_string());
    }
    match err {
        ApiError::MethodNotAllowed { allow, .. } => {
            set_header(&mut res, header::ALLOW.as_str(), allow);
        }
        ApiError::Unauthenticated { mode } => {
            if let Some(challenge) = mode.challenge() {
                set_header(&mut res, header::WWW_AUTHENTICATE.as_str(), challenge);
            }
        }
        _ => {}
    }
    res
}

/// Sets a header whose value we produced ourselves; values that are not valid header text
/// are dropped rather than panicking.
pub fn set_header(res: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_served_as_problem_json_with_the_correlation_id() {
        let cid = CorrelationId::parse("abc").unwrap();
        let res = problem_response(
            &ApiError::Unavailable {
                retry_after_secs: 3,
            },
            "/jobs",
            &cid,
        );
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        assert_eq!(res.headers()["x-correlation-id"], "abc");
        assert_eq!(res.headers()["retry-after"], "3");
    }

    #[test]
    fn a_missing_identity_is_challenged_in_the_modes_scheme() {
        let cid = CorrelationId::parse("abc").unwrap();
        let err = ApiError::Unauthenticated {
            mode: crate::AuthMode::Jwt,
        };
        let res = problem_response(&err, "/jobs", &cid);
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
}
