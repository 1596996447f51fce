//! What a hostile client gets from `accepted serve` before the server reads its body: the
//! answer comes from the headers alone, so an unauthenticated or oversized request costs the
//! server no memory. Raw sockets, because an HTTP client would send the body it declares.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;

/// Sends `head` (request line and headers, no blank line) and then `body` as is, and reads
/// the answer until the server closes the connection or 10 s pass.
fn exchange(base: &str, head: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut answer = Vec::new();
    // A timeout here means the server is still waiting for the body it was promised.
    stream
        .read_to_end(&mut answer)
        .expect("an answer before the body is sent");
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[test]
fn a_declared_length_over_the_limit_is_refused_before_the_body_is_sent() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[("MAX_BODY_BYTES", "4096")]);
    let head = "POST /jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 50000000";
    let (status, problem) = exchange(&server.base, head, b"");
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["type"], "/problems/payload-too-large");
    assert_eq!(
        problem["detail"],
        "the request body is 50000000 bytes; the limit is 4096"
    );
}

#[test]
fn a_chunked_body_is_cut_off_at_the_limit_and_a_broken_one_is_a_problem() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[("MAX_BODY_BYTES", "4096")]);
    let head =
        "POST /jobs HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked";
    let chunk = format!("2000\r\n{}\r\n0\r\n\r\n", "a".repeat(0x2000));
    let (status, problem) = exchange(&server.base, head, chunk.as_bytes());
    assert_eq!(status, 413, "{problem}");
    assert_eq!(
        problem["detail"], "the request body is longer than the limit of 4096 bytes",
        "no made-up size"
    );
    let (status, problem) = exchange(&server.base, head, b"zz-not-a-chunk-size\r\n");
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["status"], 400);
}

#[test]
fn without_a_token_the_body_is_never_read() {
    let (issuer, audience) = ("https://issuer.test", "accepted");
    let idp = accepted_tests::tokens::TestIssuer::new(issuer, audience);
    let data = tempfile::tempdir().unwrap();
    let keys = data.path().join("jwks.json");
    std::fs::write(&keys, idp.jwks()).unwrap();
    let keys = keys.to_string_lossy().into_owned();
    let args = [
        "--auth",
        "jwt",
        "--jwt-issuer",
        issuer,
        "--jwt-audience",
        audience,
        "--jwt-keys",
        &keys,
    ];
    let server = Server::start(&data.path().join("data"), &args, &[]);
    // Within the size limit, declared and never sent: only the headers are needed to refuse.
    let head = "POST /jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 4000";
    let (status, problem) = exchange(&server.base, head, b"");
    assert_eq!(status, 401, "{problem}");
    assert_eq!(problem["type"], "/problems/unauthenticated");
}
