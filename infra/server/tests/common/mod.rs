//! The `accepted serve` binary as tests start it, and plain HTTP calls to it.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    child: Child,
    pub base: String,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// `accepted serve` on the embedded backend in `data_dir`, on a free port.
    pub fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_on(data_dir, free_port(), args, env)
    }

    /// The same on `port` (a restart reuses its predecessor's); waits for the "listening"
    /// log line.
    pub fn start_on(data_dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_accepted"))
            .args(["serve", "--port", &port.to_string(), "--data-dir"])
            .arg(data_dir)
            .args(["--batch-window-ms", "20"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("accepted starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let started = Instant::now();
        loop {
            let line = lines
                .next()
                .expect("accepted exited before listening")
                .expect("readable log");
            if line.contains("\"listening\"") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no listening line"
            );
        }
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGTERM, then wait: the server finishes its work in flight and exits 0.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "clean shutdown, got {exit:?}");
    }

    /// SIGKILL: no shutdown, no cleanup, work in flight abandoned mid-batch.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Value,
}

pub fn call(method: &str, url: &str, body: Option<&Value>) -> Answer {
    call_with(method, url, body, &[])
}

/// `call` with extra request headers (`authorization`, `idempotency-key`, …).
pub fn call_with(
    method: &str,
    url: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(body.to_string()),
        None => builder.body(String::new()),
    }
    .expect("a well-formed request");
    let mut res = agent.run(request).expect("request");
    let text = res.body_mut().read_to_string().unwrap_or_default();
    let answer = Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    };
    let path = url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    if accepted_tests::contract::is_route(&path) {
        let content_type = answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        accepted_tests::contract::check_response(
            method,
            &path,
            answer.status,
            content_type,
            &answer.body,
        );
    }
    answer
}

pub fn submit(base: &str, body: Value) -> String {
    let answer = call("POST", &format!("{base}/jobs"), Some(&body));
    assert_eq!(answer.status, 202, "{}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

/// Long-polls until the job is finished.
pub fn finished(base: &str, id: &str) -> Value {
    for _ in 0..30 {
        let answer = call("GET", &format!("{base}/jobs/{id}?wait=2"), None);
        assert_eq!(answer.status, 200);
        if ["completed", "failed", "cancelled"].contains(&answer.body["status"].as_str().unwrap()) {
            return answer.body;
        }
    }
    panic!("job {id} never finished");
}
