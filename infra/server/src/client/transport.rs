//! One HTTP exchange: hyper with rustls and the system's roots, bounded by a timeout.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use url::Url;

use accepted_core::error_chain::error_chain;
use accepted_core::webhook::delivery::parse_retry_after;
use accepted_core::Timestamp;

use super::ClientError;

const USER_AGENT: &str = concat!("accepted-cli/", env!("CARGO_PKG_VERSION"));
/// Results inline are at most 100 KiB and pages of jobs smaller; stored results can be larger.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After`, in seconds or as an HTTP date (a proxy in front may send either).
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| parse_retry_after(v, Timestamp::now()))
    }
}

pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Transport {
    pub fn new(timeout: Duration) -> Result<Self, ClientError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| ClientError::Transport(format!("TLS set-up: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(tls);
        Ok(Self { client, timeout })
    }

    pub async fn send(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(HeaderName, HeaderValue)],
        body: &[u8],
    ) -> Result<Answer, ClientError> {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(url.as_str())
            .header(hyper::header::USER_AGENT, USER_AGENT);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                ClientError::Transport(format!("{}: {}", host(url), error_chain(&e)))
            })?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| ClientError::Transport(format!("{}: {e}", host(url))))?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                ClientError::Transport(format!(
                    "{}: no answer within {} s",
                    host(url),
                    self.timeout.as_secs()
                ))
            })?
    }
}

fn host(url: &Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or("?")),
        None => url.host_str().unwrap_or("?").to_owned(),
    }
}
