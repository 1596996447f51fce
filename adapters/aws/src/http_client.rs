//! One HTTP client for every AWS SDK client of a configuration: hyper with rustls, on the
//! process's TLS configuration ([`accepted_core::tls`]: compiled-in roots, built once).
//!
//! The SDK's default client loads and parses the system's trust store each time an SDK client
//! is built, and once more for its first request; a function builds two to four clients, so
//! that was most of its init above the floor. This one parses nothing, and its connection
//! pool is shared.
//!
//! It keeps the contract the SDK's retries rely on: the connect timeout and the read timeout
//! (to the response's headers) of the request's `HttpConnectorSettings`, and errors
//! classified as the SDK's own client classifies them: a timeout as `timeout`, a failed
//! connection or a connection closed before the response as `io` (both retried as
//! transient), anything else (a refused certificate, a malformed URI) as `other`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

#[cfg(test)]
mod tests;

type Hyper = Client<HttpsConnector<TcpConnector>, SdkBody>;
/// A connector's timeouts: to connect, and to the response's headers.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The SDK's HTTP client; [`new_shared`] makes one for an `SdkConfig`.
#[derive(Debug)]
pub struct SdkHttpClient {
    tls: Arc<rustls::ClientConfig>,
    /// One connector per distinct timeout settings, as the SDK asks for them.
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

/// A client for one `SdkConfig`: every SDK client built from it shares its connection pool.
///
/// One per configuration, not one per process: a pooled connection belongs to the tokio
/// runtime that opened it, and is dead on any other. A function has one runtime and loads one
/// configuration; tests run each on a runtime of its own, and a process-wide pool stalled them
/// on connections a finished test had left, as soon as a server kept connections alive
/// (DynamoDB Local does; moto closes each one). Building one is cheap: the TLS configuration
/// it uses is the process's, built once.
pub fn new_shared() -> SharedHttpClient {
    SharedHttpClient::new(SdkHttpClient::new(accepted_core::tls::client_config()))
}

impl SdkHttpClient {
    /// A client trusting what `tls` trusts (tests give it their own root).
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            tls,
            connectors: Mutex::new(HashMap::new()),
        }
    }

    fn connector(&self, connect_timeout: Option<Duration>) -> Hyper {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls::ClientConfig::clone(&self.tls))
            // Plain HTTP only where an endpoint says so (an emulator on loopback).
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Client::builder(TokioExecutor::new())
            // Without a timer the pool never ages a connection out.
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https)
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key: Timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| {
                SharedHttpConnector::new(Connector {
                    client: self.connector(key.0),
                    read_timeout: key.1,
                })
            })
            .clone()
    }
}

#[derive(Debug, Clone)]
struct Connector {
    client: Hyper,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (client, read_timeout) = (self.client.clone(), self.read_timeout);
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|err| ConnectorError::user(err.into()))?;
            let response = client.request(request);
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, response)
                    .await
                    .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?,
                None => response.await,
            }
            .map_err(classify)?;
            let response = response.map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|err| ConnectorError::other(err.into(), None))
        })
    }
}

/// As the SDK's own client: what a retry may cure is `io` or `timeout`. A failed connection
/// (refused, unreachable, a TLS handshake that failed) is `io`.
fn classify(err: hyper_util::client::legacy::Error) -> ConnectorError {
    if err.is_connect() {
        return if timed_out(&err) {
            ConnectorError::timeout(err.into())
        } else {
            ConnectorError::io(err.into())
        };
    }
    let hyper_error =
        std::error::Error::source(&err).and_then(|source| source.downcast_ref::<hyper::Error>());
    match hyper_error {
        Some(e) if e.is_incomplete_message() || e.is_closed() || e.is_canceled() => {
            ConnectorError::io(err.into())
        }
        Some(e) if e.is_timeout() => ConnectorError::timeout(err.into()),
        _ => ConnectorError::other(err.into(), None),
    }
}

/// Whether an I/O error of kind `TimedOut` is in the chain (hyper's connect timeout).
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        current = e.source();
    }
    false
}
