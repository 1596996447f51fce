//! The API Gateway edge shared by the HTTP functions: who is calling, which correlation id
//! the request carries, and how answers are shaped. Handlers stay free of header plumbing.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::ids::{CorrelationId, Owner};
use crate::problem::{self, ApiError};

pub const CORRELATION_HEADER: &str = "x-correlation-id";
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The verified identity of the caller, as API Gateway's authorizer established it: the JWT
/// `sub` claim, or the IAM caller's ARN. Without an authorizer every caller is
/// [`Owner::anonymous`]. Client headers are never trusted for this.
pub fn owner_of(req: &Request) -> Owner {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return Owner::anonymous();
    };
    let Some(auth) = ctx.authorizer.as_ref() else {
        return Owner::anonymous();
    };
    let jwt_sub = auth.jwt.as_ref().and_then(|j| j.claims.get("sub")).cloned();
    let iam = auth
        .iam
        .as_ref()
        .and_then(|i| i.user_arn.clone().or_else(|| i.caller_id.clone()));
    jwt_sub
        .or(iam)
        .and_then(|id| Owner::parse(&id))
        .unwrap_or_else(Owner::anonymous)
}

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
    if let ApiError::MethodNotAllowed { allow, .. } = err {
        set_header(&mut res, header::ALLOW.as_str(), allow);
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
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
        ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
    };

    fn with_authorizer(auth: ApiGatewayRequestAuthorizer) -> Request {
        let mut ctx = ApiGatewayV2httpRequestContext::default();
        ctx.authorizer = Some(auth);
        Request::default().with_request_context(RequestContext::ApiGatewayV2(ctx))
    }

    #[test]
    fn owner_comes_from_the_jwt_subject_or_the_iam_caller() {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims.insert("sub".into(), "user-123".into());
        let mut auth = ApiGatewayRequestAuthorizer::default();
        auth.jwt = Some(jwt);
        assert_eq!(owner_of(&with_authorizer(auth)).as_str(), "user-123");

        let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
        iam.user_arn = Some("arn:aws:iam::123456789012:user/alice".into());
        let mut auth = ApiGatewayRequestAuthorizer::default();
        auth.iam = Some(iam);
        assert_eq!(
            owner_of(&with_authorizer(auth)).as_str(),
            "arn:aws:iam::123456789012:user/alice"
        );
    }

    #[test]
    fn without_an_authorizer_everyone_is_anonymous_whatever_the_headers_say() {
        let req = lambda_http::http::Request::builder()
            .header("x-owner", "mallory")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(owner_of(&req), Owner::anonymous());
        assert_eq!(
            owner_of(&with_authorizer(ApiGatewayRequestAuthorizer::default())),
            Owner::anonymous()
        );
    }

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
}
