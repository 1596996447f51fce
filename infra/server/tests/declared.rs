//! Declared job types under `accepted serve`, from a declaration file alone: a Python script
//! run as a command and a small HTTP handler, through every outcome class of the invocation
//! contract (result, retryable error, permanent error, crash, timeout, malformed answer), with
//! schema validation at submit, progress and cancellation.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use common::{call, finished, free_port, submit, Server};
use serde_json::{json, Value};

fn targets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/targets")
        .canonicalize()
        .expect("tests/targets")
}

/// A server with the test declarations; leases short enough that a cancel is seen in ~1 s.
fn server(dir: &Path, declarations: &Path) -> Server {
    let file = declarations.to_str().expect("utf-8 path");
    Server::start(
        dir,
        &["--job-types", file],
        &[
            ("LEASE_SECONDS", "3"),
            ("PROGRESS_INTERVAL_MS", "100"),
            ("ACCEPTED_TEST_SECRET", "must-not-reach-the-command"),
        ],
    )
}

fn behave(base: &str, input: Value) -> Value {
    let id = submit(base, json!({"type": "test.behave", "input": input}));
    finished(base, &id)
}

/// The failure that ended the job and its attempts. A retryable failure ends a job only on
/// its last attempt, as `retries_exhausted` naming the last error: that error is returned.
fn error_of(job: &Value) -> (&str, bool, u64) {
    let code = job["error"]["code"].as_str().unwrap_or("-");
    let attempts = job["attempts"].as_u64().unwrap_or(0);
    if code == "retries_exhausted" {
        let message = job["error"]["message"].as_str().unwrap_or_default();
        let last = message
            .split_once("last error: ")
            .and_then(|(_, rest)| rest.split(':').next())
            .unwrap_or("-");
        return (last, true, attempts);
    }
    (
        code,
        job["error"]["retryable"].as_bool().unwrap_or(false),
        attempts,
    )
}

#[test]
fn a_python_type_runs_from_its_declaration_alone() {
    let dir = tempfile::tempdir().expect("a data dir");
    let server = server(dir.path(), &targets_dir().join("job-types.yaml"));
    let base = server.base.as_str();

    let listed = call("GET", &format!("{base}/job-types"), None);
    assert_eq!(listed.status, 200);
    let declared = listed.body["job_types"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["type"] == "test.behave")
        .expect("the declared type is listed beside the built-in ones")
        .clone();
    assert_eq!(declared["input_schema"]["required"], json!(["behave"]));
    assert_eq!(
        declared["example_input"],
        json!({"behave": "ok", "text": "hello"})
    );
    assert_eq!(
        (
            declared["max_attempts"].as_u64(),
            declared["time_limit_seconds"].as_f64()
        ),
        (Some(2), Some(3.0))
    );
    assert!(
        declared.get("run").is_none() && !declared.to_string().contains("behave.py"),
        "where it runs stays private"
    );

    let submitted = call(
        "POST",
        &format!("{base}/jobs"),
        Some(&json!({"type": "test.behave", "input": {"behave": "ok", "text": "hello"}})),
    );
    assert_eq!(submitted.status, 202, "{}", submitted.body);
    let id = submitted.body["id"].as_str().expect("an id");
    let job = finished(base, id);
    assert_eq!(job["status"], "completed", "{job}");
    let result = &job["result"];
    assert_eq!(result["text"], "hello");
    assert_eq!(
        (result["attempt"].as_u64(), result["job_id"].as_str()),
        (Some(1), Some(id))
    );
    assert_eq!(result["correlation_id"], submitted.body["correlation_id"]);
    let (deadline, now) = (
        result["deadline_ms"].as_u64().expect("a deadline"),
        result["now_ms"].as_u64().expect("now"),
    );
    assert!(
        deadline > now && deadline <= now + 3_000,
        "the deadline is the type's 3 s limit: {result}"
    );
    assert_eq!(result["greeting"], "hej", "declared variables are set");
    assert_eq!(
        result["inherited_secret"],
        Value::Null,
        "the server's environment is not passed on"
    );
    assert_eq!(
        result["cwd"].as_str().map(PathBuf::from),
        Some(targets_dir())
    );
}

#[test]
fn input_off_the_declared_schema_is_refused_with_pointers_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("a data dir");
    let server = server(dir.path(), &targets_dir().join("job-types.yaml"));
    let base = server.base.as_str();
    let refused = call(
        "POST",
        &format!("{base}/jobs"),
        Some(&json!({"type": "test.behave", "input": {"behave": "fly", "colour": "red"}})),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        accepted_tests::pointers(&refused.body),
        ["/input/behave", "/input/colour"]
    );
    let listed = call("GET", &format!("{base}/jobs"), None);
    assert_eq!(listed.body["jobs"], json!([]), "nothing was written");
}

#[test]
fn every_outcome_of_a_command_maps_onto_the_job() {
    let dir = tempfile::tempdir().expect("a data dir");
    let server = server(dir.path(), &targets_dir().join("job-types.yaml"));
    let base = server.base.as_str();

    let retried = behave(base, json!({"behave": "retry_once"}));
    assert_eq!(
        (retried["status"].as_str(), retried["attempts"].as_u64()),
        (Some("completed"), Some(2))
    );
    for (input, status, expected) in [
        (
            json!({"behave": "retryable"}),
            "failed",
            ("downstream_busy", true, 2),
        ),
        (
            json!({"behave": "permanent"}),
            "failed",
            ("no_words", false, 1),
        ),
        (
            json!({"behave": "crash"}),
            "failed",
            ("target_crashed", true, 2),
        ),
        (
            json!({"behave": "malformed"}),
            "failed",
            ("malformed_answer", false, 1),
        ),
        (
            json!({"behave": "wrong_shape"}),
            "failed",
            ("result_invalid", false, 1),
        ),
        (
            json!({"behave": "sleep", "seconds": 30}),
            "failed",
            ("timeout", true, 2),
        ),
    ] {
        let job = behave(base, input.clone());
        assert_eq!(job["status"], status, "{input}: {job}");
        assert_eq!(error_of(&job), expected, "{input}: {job}");
    }
}

#[test]
fn progress_and_cancellation_reach_the_command() {
    let dir = tempfile::tempdir().expect("a data dir");
    let server = server(dir.path(), &targets_dir().join("job-types.yaml"));
    let base = server.base.as_str();

    let id = submit(
        base,
        json!({"type": "test.behave", "input": {"behave": "progress", "seconds": 2}}),
    );
    let seen = poll_until(base, &id, |job| job["progress"]["percent"] == 40);
    assert_eq!(seen["progress"]["message"], "reading", "{seen}");
    assert_eq!(finished(base, &id)["status"], "completed");

    let id = submit(
        base,
        json!({"type": "test.behave", "input": {"behave": "sleep", "seconds": 30}}),
    );
    poll_until(base, &id, |job| job["status"] == "running");
    let cancel = call("DELETE", &format!("{base}/jobs/{id}"), None);
    assert_eq!(cancel.status, 202, "{}", cancel.body);
    let job = finished(base, &id);
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(
        job["attempts"], 1,
        "stopped inside its first attempt, not timed out"
    );
}

fn poll_until(base: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let job = call("GET", &format!("{base}/jobs/{id}"), None).body;
        if done(&job) {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never reached: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A small HTTP handler speaking the contract: what it answers depends on the input.
async fn handler(Json(invocation): Json<Value>) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let input = &invocation["input"];
    match input["behave"].as_str().unwrap_or_default() {
        "ok" => Json(
            json!({"result": {"doubled": input["n"].as_i64().unwrap_or(0) * 2,
                                       "contract": invocation["contract"]}}),
        )
        .into_response(),
        "busy" => (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response(),
        "gone" => (StatusCode::NOT_FOUND, "no such route").into_response(),
        "error" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": {"code": "odd_number", "message": "n is odd"}})),
        )
            .into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Json(json!({"result": null})).into_response()
        }
        _ => (StatusCode::OK, "not an answer").into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_endpoint_runs_jobs_with_the_same_contract() {
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move {
        let app = Router::new().route("/double", post(handler));
        axum::serve(listener, app).await.expect("serve");
    });
    let dir = tempfile::tempdir().expect("a data dir");
    let declarations = dir.path().join("job-types.yaml");
    std::fs::write(
        &declarations,
        format!(
            "version: 1\ntypes:\n  - name: math.double\n    input_schema: {{type: object, required: [behave]}}\n    retry: {{max_attempts: 2, base_ms: 50, cap_ms: 100}}\n    time_limit_seconds: 1\n    run: {{http: 'http://127.0.0.1:{port}/double'}}\n"
        ),
    )
    .expect("write");
    let data = dir.path().join("data");
    let base = tokio::task::spawn_blocking(move || {
        let server = server(&data, &declarations);
        let base = server.base.clone();
        let run = |input: Value| {
            finished(
                &base,
                &submit(&base, json!({"type": "math.double", "input": input})),
            )
        };
        let done = run(json!({"behave": "ok", "n": 21}));
        assert_eq!(
            done["result"],
            json!({"doubled": 42, "contract": "accepted.job/v1"})
        );
        for (input, expected) in [
            (json!({"behave": "busy"}), ("target_unavailable", true, 2)),
            (json!({"behave": "gone"}), ("target_refused", false, 1)),
            (json!({"behave": "error"}), ("odd_number", false, 1)),
            (json!({"behave": "garbage"}), ("malformed_answer", false, 1)),
            (json!({"behave": "slow"}), ("timeout", true, 2)),
        ] {
            let job = run(input.clone());
            assert_eq!(
                (job["status"].as_str(), error_of(&job)),
                (Some("failed"), expected),
                "{input}: {job}"
            );
        }
        base
    })
    .await
    .expect("the checks ran");
    // Nobody listening any more once the server is gone: nothing else to check.
    drop(base);
}

#[test]
fn a_declaration_that_cannot_run_here_stops_the_start_and_says_why() {
    let dir = tempfile::tempdir().expect("a dir");
    for (declaration, expected) in [
        (
            "version: 1\ntypes:\n  - {name: img.resize, input_schema: {}, time_limit_seconds: 5, run: {lambda: resize}}\n",
            "job type \"img.resize\": runs only as a Lambda function",
        ),
        (
            "version: 1\ntypes:\n  - {name: img.resize, input_schema: {type: 7}, time_limit_seconds: 5, run: {command: [x]}}\n",
            "its input schema is not a usable JSON Schema",
        ),
        (
            "version: 1\ntypes:\n  - {name: demo.sleep, input_schema: {}, time_limit_seconds: 5, run: {command: [x]}}\n",
            "registered twice",
        ),
        (
            "version: 1\ntypes:\n  - {name: img.resize, input_schema: {}, time_limit_seconds: 300, run: {command: [x]}}\n",
            "may run 300 s per attempt, longer than --worker-timeout-secs 30",
        ),
    ] {
        let file = dir.path().join("job-types.yaml");
        std::fs::write(&file, declaration).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_accepted"))
            .args(["serve", "--port", &free_port().to_string(), "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--job-types")
            .arg(&file)
            .output()
            .expect("accepted runs");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        if !expected.contains("--worker-timeout-secs") {
            let named = stderr.contains(&file.display().to_string());
            assert!(named, "the error names the file: {stderr}");
        }
    }
}
