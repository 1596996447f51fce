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

/// Reads until the server closes the connection; `None` if it is still open after `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(seen),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(seen),
            Err(_) => return None,
        }
    }
}

fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://")).expect("connect")
}

#[test]
fn a_client_that_sends_its_headers_slowly_is_cut_off() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--header-timeout-secs", "1"], &[]);
    let mut stream = connect(&server.base);
    let head = b"GET /jobs HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
    // One byte every 200 ms: the whole head would take about 13 s.
    let mut cut_off = false;
    for byte in head {
        if stream.write_all(&[*byte]).is_err() {
            cut_off = true;
            break;
        }
        if closed_within(&mut stream, Duration::from_millis(200)).is_some() {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "the server waited for a head sent over 13 s");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--header-timeout-secs", "2"], &[]);
    let mut stream = connect(&server.base);
    let request = b"GET /job-types HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // Requests closer together than the timeout keep the connection.
    for _ in 0..3 {
        stream
            .write_all(request)
            .expect("the connection is still open");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 16 * 1024];
        let n = stream.read(&mut buf).expect("an answer");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(500));
    }
    let rest = closed_within(&mut stream, Duration::from_secs(30));
    assert_eq!(rest.as_deref(), Some(&b""[..]), "closed without an answer");
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_408() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--body-timeout-secs", "1"], &[]);
    let head = "POST /jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100";
    let (status, problem) = exchange(&server.base, head, b"{\"type\":");
    assert_eq!(status, 408, "{problem}");
    assert_eq!(problem["type"], "/problems/request-timeout");
    assert_eq!(
        problem["detail"],
        "the request body did not arrive within 1 s"
    );
    let jobs = common::call("GET", &format!("{}/jobs", server.base), None);
    assert_eq!(jobs.body["jobs"], serde_json::json!([]), "nothing written");
}

#[test]
fn at_the_connection_limit_a_new_connection_waits_for_a_free_one() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--max-connections", "2", "--header-timeout-secs", "60"];
    let server = Server::start(data.path(), &args, &[]);
    let held = [connect(&server.base), connect(&server.base)];
    let mut third = connect(&server.base);
    third
        .write_all(b"GET /job-types HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send");
    assert_eq!(
        closed_within(&mut third, Duration::from_secs(1)),
        None,
        "answered while two connections were open"
    );
    drop(held);
    let answer = closed_within(&mut third, Duration::from_secs(10)).expect("answered");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn a_path_that_does_not_decode_is_a_not_found_problem() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]);
    for path in ["/jobs/%ff", "/jobs/%ff/result"] {
        let (status, problem) = exchange(&server.base, &format!("GET {path} HTTP/1.1"), b"");
        assert_eq!(status, 404, "{path}: {problem}");
        assert_eq!(problem["type"], "/problems/not-found");
        assert_eq!(problem["instance"], path);
    }
}

#[test]
fn a_request_hyper_cannot_parse_still_gets_a_problem_document() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]);
    let control =
        "POST /jobs HTTP/1.1\r\nContent-Type: application/json\r\nIdempotency-Key: a\u{1}b";
    let (status, problem) = exchange(&server.base, control, b"");
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["type"], "/problems/malformed-request");
    let huge = format!("GET /jobs HTTP/1.1\r\nX-Big: {}", "a".repeat(20_000));
    let (status, problem) = exchange(&server.base, &huge, b"");
    assert_eq!(status, 431, "{problem}");
    assert_eq!(problem["type"], "/problems/headers-too-large");
    let jobs = common::call("GET", &format!("{}/jobs", server.base), None);
    assert_eq!(jobs.body["jobs"], serde_json::json!([]), "nothing written");
}
