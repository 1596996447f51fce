//! The client against servers on loopback: HTTPS with a root it trusts and one it does not,
//! and each failure class the SDK's retries tell apart.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::HttpConnector as _;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Connector, SdkHttpClient};

fn connector(tls: Arc<rustls::ClientConfig>, read_timeout: Option<Duration>) -> Connector {
    Connector {
        client: SdkHttpClient::new(tls).connector(Some(Duration::from_secs(2))),
        read_timeout,
    }
}

fn get(url: &str) -> HttpRequest {
    let request = http::Request::builder()
        .uri(url)
        .body(SdkBody::empty())
        .expect("a request");
    HttpRequest::try_from(request).expect("an SDK request")
}

/// Reads one request's head and answers `200 ok`.
async fn answer(mut stream: impl AsyncReadExt + AsyncWriteExt + Unpin) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        .await;
    let _ = stream.flush().await;
}

/// An HTTPS server for `localhost` with a fresh self-signed certificate; returns its port
/// and the certificate, for a client that should trust it.
async fn tls_server() -> (u16, rustls::pki_types::CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    answer(tls).await;
                }
            });
        }
    });
    (port, cert)
}

#[tokio::test]
async fn https_to_a_server_whose_root_it_trusts_is_answered() {
    let (port, cert) = tls_server().await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let tls = Arc::new(accepted_core::tls::build(roots));
    let response = connector(tls, None)
        .call(get(&format!("https://localhost:{port}/")))
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("the body")
        .to_bytes();
    assert_eq!(&body[..], b"ok");
}

#[tokio::test]
async fn the_compiled_in_roots_refuse_a_self_signed_server_as_a_failed_connection() {
    let (port, _) = tls_server().await;
    let err = connector(accepted_core::tls::client_config(), None)
        .call(get(&format!("https://localhost:{port}/")))
        .await
        .expect_err("an untrusted certificate");
    assert!(err.is_io(), "{err:?}");
}

#[tokio::test]
async fn plain_http_is_answered_for_an_emulator_on_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        answer(tcp).await;
    });
    let response = connector(accepted_core::tls::client_config(), None)
        .call(get(&format!("http://127.0.0.1:{port}/")))
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn a_refused_or_dropped_connection_is_io_and_a_silent_server_a_timeout() {
    let tls = accepted_core::tls::client_config();
    // Nothing listens on a port just released.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = connector(tls.clone(), None)
        .call(get(&format!("http://127.0.0.1:{port}/")))
        .await
        .expect_err("refused");
    assert!(refused.is_io(), "{refused:?}");

    // Reads the request, then closes without an answer.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut tcp, _): (TcpStream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tcp.read(&mut buf).await;
    });
    let dropped = connector(tls.clone(), None)
        .call(get(&format!("http://127.0.0.1:{port}/")))
        .await
        .expect_err("closed");
    assert!(dropped.is_io(), "{dropped:?}");

    // Accepts and never answers: the read timeout ends the wait.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (_tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let silent = connector(tls, Some(Duration::from_millis(200)))
        .call(get(&format!("http://127.0.0.1:{port}/")))
        .await
        .expect_err("timed out");
    assert!(silent.is_timeout(), "{silent:?}");
}
