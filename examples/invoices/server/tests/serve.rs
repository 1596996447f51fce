//! The team's own binary, end to end on the embedded backend: `invoices serve` accepts and
//! runs `invoice.render`, refuses the types it does not have, and the CLI of the same binary
//! follows a job to its end.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const INVOICE: &str = include_str!("../../events/invoice.json");

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut child = Command::new(env!("CARGO_BIN_EXE_invoices"))
            .args([
                "serve",
                "--port",
                &port.to_string(),
                "--batch-window-ms",
                "20",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .expect("invoices starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        loop {
            let line = lines
                .next()
                .expect("a log line before exit")
                .expect("readable");
            if line.contains("\"listening\"") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .expect("a request");
        let mut res = agent.run(request).expect("an answer");
        let text = res.body_mut().read_to_string().unwrap_or_default();
        (
            res.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    fn finished(&self, id: &str) -> Value {
        for _ in 0..30 {
            let (status, job) = self.call("GET", &format!("/jobs/{id}?wait=2"), None);
            assert_eq!(status, 200, "{job}");
            if ["completed", "failed", "cancelled"].contains(&job["status"].as_str().unwrap_or(""))
            {
                return job;
            }
        }
        panic!("job {id} never finished");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn invoice() -> Value {
    serde_json::from_str(INVOICE).expect("the fixture is JSON")
}

#[test]
fn the_team_s_job_type_runs_on_its_own_server() {
    let dir = tempfile::tempdir().expect("a data dir");
    let server = Server::start(dir.path());

    let (status, job) = server.call(
        "POST",
        "/jobs",
        Some(json!({"type": "invoice.render", "input": invoice()})),
    );
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().expect("an id");
    let done = server.finished(id);
    assert_eq!(done["status"], "completed", "{done}");
    let result = &done["result"];
    assert_eq!(result["total"], 567_448, "{result}");
    assert_eq!(
        result["taxes"][0],
        json!({"rate_bp": 1200, "base": 9998, "tax": 1200})
    );
    assert!(result["html"].as_str().expect("html").contains("Total due"));

    // Its result route serves the same document.
    let (status, only) = server.call("GET", &format!("/jobs/{id}/result"), None);
    assert_eq!(status, 200);
    assert_eq!(only["html_sha256"], result["html_sha256"]);
}

#[test]
fn types_the_team_does_not_run_and_bad_invoices_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("a data dir");
    let server = Server::start(dir.path());

    // accepted's own demo types are not part of this deployment.
    let (status, problem) = server.call(
        "POST",
        "/jobs",
        Some(json!({"type": "csv.summary", "input": {"csv": "a\n1\n"}})),
    );
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/validation-failed", "{problem}");
    assert!(
        problem.to_string().contains("invoice.render"),
        "names what it runs: {problem}"
    );

    let mut bad = invoice();
    bad["lines"][1]["quantity"] = json!(0);
    bad["currency"] = json!("euro");
    let (status, problem) = server.call(
        "POST",
        "/jobs",
        Some(json!({"type": "invoice.render", "input": bad})),
    );
    assert_eq!(status, 422, "{problem}");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert_eq!(
        pointers,
        ["/input/currency", "/input/lines/1/quantity"],
        "{problem}"
    );

    let (status, list) = server.call("GET", "/jobs", None);
    assert_eq!(status, 200);
    assert_eq!(list["jobs"], json!([]), "nothing was written");
}

#[test]
fn the_team_s_binary_is_also_accepted_s_command_line() {
    let dir = tempfile::tempdir().expect("a data dir");
    let server = Server::start(dir.path());
    let input = dir.path().join("invoice.json");
    std::fs::write(&input, INVOICE).expect("the input file");

    let out = Command::new(env!("CARGO_BIN_EXE_invoices"))
        .args([
            "submit",
            "invoice.render",
            "--wait",
            "--json",
            "--url",
            &server.base,
        ])
        .arg("--input")
        .arg(format!("@{}", input.display()))
        .output()
        .expect("invoices submit runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The documents it printed as it followed the job; the last is the finished job.
    let last: Value = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .filter_map(Result::ok)
        .last()
        .expect("the job as JSON");
    assert_eq!(last["status"], "completed", "{stdout}");
    assert_eq!(last["type"], "invoice.render");
}

#[test]
fn the_api_lists_the_team_s_types_only() {
    let dir = tempfile::tempdir().expect("a data dir");
    let server = Server::start(dir.path());
    let mut res = ureq::get(format!("{}/job-types", server.base))
        .call()
        .expect("the job types");
    let listed: Value =
        serde_json::from_str(&res.body_mut().read_to_string().expect("json")).expect("a JSON list");
    let names: Vec<&str> = listed["job_types"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["type"].as_str())
        .collect();
    assert_eq!(names, ["invoice.render"], "{listed}");
    assert!(
        listed["job_types"][0]["example_input"].is_object(),
        "{listed}"
    );
}
