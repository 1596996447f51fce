//! The HTTPS transport of webhook deliveries: hyper with rustls and the process's TLS
//! configuration ([`crate::tls`]: compiled-in roots, built once).
//!
//! SSRF-safe by construction: the connector's resolver refuses a name if any address it
//! resolves to is not public, and the connection is made to the addresses it returned, so no
//! second lookup can answer differently. IP-literal URLs skip resolvers and are checked
//! before the request. Redirects are never followed (hyper does not), one attempt is bounded
//! by a timeout from connection to response headers, and the response body is not read.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::delivery::{
    parse_retry_after, TransportError, WebhookRequest, WebhookResponse, WebhookTransport,
};
use super::destination::{DestinationError, DestinationPolicy};
use crate::error_chain::error_chain;
use crate::time::Timestamp;

const USER_AGENT: &str = concat!("accepted-webhooks/", env!("CARGO_PKG_VERSION"));

/// A name that resolved to an address outside the public internet.
#[derive(Debug, thiserror::Error)]
#[error("the name resolves to a non-public address")]
struct NonPublicName;

/// Resolves with the system resolver and refuses non-public answers.
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    policy: DestinationPolicy,
}

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy;
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if addresses
                .iter()
                .any(|a| policy.check_address(a.ip()).is_err())
            {
                return Err(std::io::Error::other(NonPublicName));
            }
            Ok(addresses.into_iter())
        })
    }
}

/// Posts deliveries over HTTPS (and plain HTTP only under the development policy).
#[derive(Clone)]
pub struct HttpsTransport {
    client: Client<HttpsConnector<HttpConnector<CheckedResolver>>, Full<Bytes>>,
    policy: DestinationPolicy,
    timeout: Duration,
}

impl HttpsTransport {
    pub fn new(policy: DestinationPolicy, timeout: Duration) -> std::io::Result<Self> {
        let mut http = HttpConnector::new_with_resolver(CheckedResolver { policy });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(Arc::unwrap_or_clone(crate::tls::client_config()));
        let tls = if policy.insecure {
            tls.https_or_http()
        } else {
            tls.https_only()
        };
        let connector = tls.enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            client,
            policy,
            timeout,
        })
    }
}

/// Whether a client error came from [`CheckedResolver`] refusing the name.
fn refused_by_resolver(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<NonPublicName>())
            {
                return true;
            }
        }
        if e.is::<NonPublicName>() {
            return true;
        }
        next = e.source();
    }
    false
}

#[async_trait]
impl WebhookTransport for HttpsTransport {
    async fn post(&self, request: &WebhookRequest<'_>) -> Result<WebhookResponse, TransportError> {
        // Literal addresses and the scheme, which the resolver never sees.
        self.policy.check_url(request.url)?;
        let mut builder = Request::post(request.url).header("user-agent", USER_AGENT);
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let http_request = builder
            .body(Full::new(Bytes::copy_from_slice(request.body)))
            .map_err(|e| TransportError::Connect(e.to_string()))?;
        let sent = tokio::time::timeout(self.timeout, self.client.request(http_request)).await;
        let response = match sent {
            Err(_) => return Err(TransportError::Timeout),
            Ok(Err(err)) if refused_by_resolver(&err) => {
                return Err(TransportError::Refused(DestinationError::NonPublicAddress))
            }
            Ok(Err(err)) => return Err(TransportError::Connect(error_chain(&err))),
            Ok(Ok(response)) => response,
        };
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Timestamp::now()));
        // The body is not read: dropping the response closes the connection, so nothing the
        // receiver sends beyond its headers is buffered.
        Ok(WebhookResponse {
            status: response.status().as_u16(),
            retry_after,
        })
    }
}
