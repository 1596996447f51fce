//! An HTTP target: the invocation `POST`ed to an endpoint on loopback, the answer in the body.
//!
//! The declaration allows only `http://` on loopback, so job data never leaves the machine
//! and no TLS or credentials are involved. Statuses map onto the job's semantics: a `2xx`
//! carries an answer; `408`, `429` and `5xx` are retryable; any other status is permanent,
//! unless its body is a contract error, which then decides.

use accepted_core::declared::contract::{malformed, read_answer};
use accepted_core::declared::Target;
use accepted_core::http::CORRELATION_HEADER;
use accepted_core::{JobContext, JobFailure};
use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::command::MAX_ANSWER_BYTES;

pub struct HttpTarget {
    url: url::Url,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpTarget {
    pub fn new(url: url::Url) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { url, client }
    }
}

#[async_trait]
impl Target for HttpTarget {
    async fn invoke(&self, ctx: &JobContext, invocation: &[u8]) -> Result<Value, JobFailure> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.url.as_str())
            .header("content-type", "application/json")
            .header(CORRELATION_HEADER, ctx.correlation_id.as_str())
            .body(Full::new(Bytes::copy_from_slice(invocation)))
            .map_err(|e| JobFailure::permanent("target_unavailable", e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                JobFailure::retryable("target_unavailable", format!("{}: {e}", self.url))
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        malformed(format!("the answer is over {MAX_ANSWER_BYTES} bytes"))
                    } else {
                        JobFailure::retryable(
                            "target_unavailable",
                            format!("reading the answer: {e}"),
                        )
                    }
                })?
                .to_bytes();
            Ok::<_, JobFailure>((status, body))
        };
        // Cancelling drops the request: the endpoint sees its connection close.
        let (status, body) = tokio::select! {
            exchanged = exchange => exchanged?,
            () = ctx.cancelled() => return Err(JobFailure::cancelled()),
        };
        outcome(status, &body)
    }
}

fn outcome(status: StatusCode, body: &[u8]) -> Result<Value, JobFailure> {
    if status.is_success() {
        return read_answer(body);
    }
    if let Err(failure) = read_answer(body) {
        if failure.code() != "malformed_answer" {
            return Err(failure);
        }
    }
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    let message = format!("the endpoint answered {status} without a contract answer");
    Err(if retryable {
        JobFailure::retryable("target_unavailable", message)
    } else {
        JobFailure::permanent("target_refused", message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_onto_the_jobs_semantics() {
        let ok = outcome(StatusCode::OK, br#"{"result": 1}"#);
        assert_eq!(ok, Ok(Value::from(1)));
        for (status, code, retryable) in [
            (StatusCode::OK, "malformed_answer", false),
            (StatusCode::SERVICE_UNAVAILABLE, "target_unavailable", true),
            (StatusCode::TOO_MANY_REQUESTS, "target_unavailable", true),
            (StatusCode::REQUEST_TIMEOUT, "target_unavailable", true),
            (StatusCode::NOT_FOUND, "target_refused", false),
        ] {
            let failure = outcome(status, b"<html>").unwrap_err();
            assert_eq!(
                (failure.code(), failure.is_retryable()),
                (code, retryable),
                "{status}"
            );
        }
        let answered = outcome(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"error": {"code": "bad_text", "retryable": false}}"#,
        );
        assert_eq!(answered, Err(JobFailure::permanent("bad_text", "")));
    }
}
