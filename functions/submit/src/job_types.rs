//! `GET /job-types`: the deployment's job types, served by the function that validates
//! against them. The list is rendered at cold start ([`Catalog`]); a request only checks
//! who is asking and whether the client's copy is current.

use accepted_core::auth::caller;
use accepted_core::catalog::{Catalog, MAX_AGE_SECS};
use accepted_core::http::{
    correlation_of, header_str, problem_response, set_header, CORRELATION_HEADER,
};
use accepted_core::ApiError;
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::Submit;

pub const PATH: &str = "/job-types";

/// Whether `req` is for this route rather than `POST /jobs`.
pub fn is_job_types(req: &Request) -> bool {
    req.uri().path().trim_end_matches('/').ends_with(PATH)
}

pub fn handle(submit: &Submit, req: &Request) -> Response<Body> {
    let correlation_id = correlation_of(req);
    let answer = if req.method() == Method::GET {
        caller(req, submit.auth).map(|_owner| {
            let fresh = header_str(req, header::IF_NONE_MATCH.as_str())
                .is_some_and(|tags| submit.catalog.matches(tags));
            listing(&submit.catalog, fresh)
        })
    } else {
        Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: "GET",
        })
    };
    match answer {
        Ok(mut res) => {
            set_header(&mut res, CORRELATION_HEADER, correlation_id.as_str());
            res
        }
        Err(err) => problem_response(&err, PATH, &correlation_id),
    }
}

fn listing(catalog: &Catalog, fresh: bool) -> Response<Body> {
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Body::Empty)
    } else {
        (StatusCode::OK, Body::from(catalog.body().to_vec()))
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    if !fresh {
        set_header(&mut res, header::CONTENT_TYPE.as_str(), "application/json");
    }
    set_header(&mut res, header::ETAG.as_str(), catalog.etag());
    // Private: callers are authenticated, so shared caches must not answer for them.
    let cache = format!("private, max-age={MAX_AGE_SECS}");
    set_header(&mut res, header::CACHE_CONTROL.as_str(), &cache);
    res
}
