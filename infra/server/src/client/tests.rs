use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode};

use super::auth::sigv4_headers;
use super::transport::Answer;
use super::*;

fn answer(status: u16, content_type: &str, body: &str) -> Answer {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_str(content_type).unwrap());
    headers.insert("x-correlation-id", HeaderValue::from_static("c-1"));
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: body.to_owned().into(),
    }
}

#[test]
fn a_problem_document_reads_as_its_title_detail_fields_and_correlation_id() {
    let err = answer(
        422,
        "application/problem+json",
        r#"{"type":"https://accepted.dev/problems/validation","title":"Invalid job","status":422,
            "detail":"2 fields are invalid","correlation_id":"c-9",
            "errors":[{"pointer":"/input/csv","message":"required"},{"pointer":"","message":"x"}]}"#,
    )
    .into_error();
    let text = err.to_string();
    assert_eq!(
        text,
        "Invalid job (422): 2 fields are invalid\n  /input/csv: required\n  /: x\n  correlation id: c-9"
    );
    assert_eq!(
        err.problem().map(|p| p.raw["status"].clone()),
        Some(422.into())
    );
}

#[test]
fn api_gateway_messages_and_bare_statuses_are_errors_too() {
    let gateway = answer(
        429,
        "application/json",
        r#"{"message":"Too Many Requests"}"#,
    )
    .into_error();
    assert_eq!(
        gateway.to_string(),
        "Too Many Requests (429)\n  correlation id: c-1"
    );
    let bare = answer(502, "text/html", "<html>bad gateway</html>").into_error();
    assert_eq!(bare.to_string(), "unexpected answer: 502 Bad Gateway");
}

#[test]
fn retry_after_is_read_in_seconds_or_as_a_date() {
    let mut seconds = answer(503, "text/plain", "");
    seconds
        .headers
        .insert("retry-after", HeaderValue::from_static(" 7 "));
    assert_eq!(seconds.retry_after(), Some(Duration::from_secs(7)));
    let mut past = answer(429, "text/plain", "");
    past.headers.insert(
        "retry-after",
        HeaderValue::from_static("Mon, 30 Nov 2026 11:00:00 GMT"),
    );
    assert_eq!(past.retry_after(), Some(Duration::ZERO));
    let mut junk = answer(429, "text/plain", "");
    junk.headers
        .insert("retry-after", HeaderValue::from_static("soon"));
    assert_eq!(junk.retry_after(), None);
}

#[test]
fn retries_are_for_throttling_server_errors_and_a_key_in_progress_only() {
    let problem = |slug: &str| format!(r#"{{"type": "/problems/{slug}", "status": 409}}"#);
    for code in [429, 500, 502, 503, 504] {
        assert!(
            retryable(&answer(code, "application/problem+json", "")),
            "{code}"
        );
    }
    for code in [200, 202, 304, 400, 401, 403, 404, 409, 413, 422] {
        assert!(
            !retryable(&answer(code, "application/problem+json", "")),
            "{code}"
        );
    }
    let in_progress = problem("idempotency-key-in-progress");
    assert!(retryable(&answer(
        409,
        "application/problem+json",
        &in_progress
    )));
    let finished = problem("job-finished");
    assert!(!retryable(&answer(
        409,
        "application/problem+json",
        &finished
    )));
}

#[test]
fn backoff_is_capped_jittered_and_defers_to_retry_after() {
    let policy = RetryPolicy {
        attempts: 5,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(2),
    };
    for attempt in 0..10 {
        let ceiling = Duration::from_millis(100 * 2u64.pow(attempt)).min(policy.cap);
        assert!(policy.delay(attempt, None) <= ceiling);
    }
    assert_eq!(
        policy.delay(0, Some(Duration::from_secs(1))),
        Duration::from_secs(1)
    );
    assert_eq!(policy.delay(0, Some(Duration::from_secs(60))), policy.cap);
}

#[test]
fn urls_keep_the_stage_and_job_ids_cannot_change_the_path() {
    let client = ApiClient::new(
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
            .parse()
            .unwrap(),
        Auth::None,
        Duration::from_secs(5),
    )
    .unwrap();
    let url = client
        .url("jobs", &[("status", "running"), ("type", "csv summary")])
        .unwrap();
    assert_eq!(
        url.as_str(),
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod/jobs?status=running&type=csv+summary"
    );
    assert!(segment("6f1c2a3e-8d4b-4f5a-9b7c-0d1e2f3a4b5c").is_ok());
    for bad in ["", "../webhook-secret", "a/b", "a?b", "a%2Fb"] {
        assert!(segment(bad).is_err(), "{bad}");
    }
    let ftp = ApiClient::new(
        "ftp://x".parse().unwrap(),
        Auth::None,
        Duration::from_secs(5),
    );
    assert!(matches!(ftp, Err(ClientError::Usage(_))));
}

#[test]
fn sigv4_signs_method_url_headers_and_body_for_execute_api() {
    let identity = Credentials::new(
        "AKIDEXAMPLE",
        "secret",
        Some("session".into()),
        None,
        "test",
    )
    .into();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_547_200); // 2025-12-01
    let url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/jobs"
        .parse()
        .unwrap();
    let headers = [(
        HeaderName::from_static("idempotency-key"),
        HeaderValue::from_static("k1"),
    )];
    let sign = |body: &[u8]| {
        sigv4_headers(
            &identity,
            "eu-west-1",
            time,
            &Method::POST,
            &url,
            &headers,
            body,
        )
        .unwrap()
    };
    let signed = sign(b"{}");
    let get = |name: &str| {
        signed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().unwrap().to_owned())
    };
    let authorization = get("authorization").unwrap();
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251201/eu-west-1/execute-api/aws4_request"
        ),
        "{authorization}"
    );
    assert!(
        authorization
            .contains("SignedHeaders=host;idempotency-key;x-amz-date;x-amz-security-token"),
        "{authorization}"
    );
    assert_eq!(get("x-amz-date").as_deref(), Some("20251201T000000Z"));
    assert_eq!(get("x-amz-security-token").as_deref(), Some("session"));
    assert!(signed
        .iter()
        .any(|(n, v)| n == "authorization" && v.is_sensitive()));
    // The body is part of what is signed.
    let other = sign(b"{\"a\":1}");
    assert_ne!(signed, other);
}
