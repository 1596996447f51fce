//! The client commands of `accepted` against a real local server: submit and follow to
//! success and to failure, cancel, status, result, list, JSON output, problem documents, and
//! a submit retried after a server error that still makes one job, and the type listing.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accepted_server::client::{ApiClient, Auth, RetryPolicy};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::Server;
use serde_json::{json, Value};

fn accepted(base: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accepted"))
        .args(args)
        .env("ACCEPTED_URL", base)
        .env_remove("ACCEPTED_TOKEN")
        .env_remove("ACCEPTED_IAM")
        .output()
        .expect("accepted runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&output.stdout)))
}

#[test]
fn submit_wait_status_result_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let base = server.base.as_str();

    let done = accepted(
        base,
        &[
            "submit",
            "csv.summary",
            "--input",
            r#"{"csv":"city,temp\nOslo,3\nLima,19\n"}"#,
            "--wait",
            "--correlation-id",
            "cli-test-1",
        ],
    );
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    let out = text(&done.stdout);
    assert!(out.contains("completed in"), "{out}");
    let err = text(&done.stderr);
    assert!(err.contains("correlation id cli-test-1"), "{err}");
    let id = out
        .split_whitespace()
        .nth(1)
        .expect("job <id> completed")
        .to_owned();

    let status = accepted(base, &["status", &id]);
    assert_eq!(status.status.code(), Some(0));
    let shown = text(&status.stdout);
    assert!(shown.contains("status:         completed"), "{shown}");
    assert!(shown.contains("type:           csv.summary"), "{shown}");
    let status = json_of(&accepted(base, &["status", &id, "--json"]));
    assert_eq!(status["status"], "completed");
    assert_eq!(status["correlation_id"], "cli-test-1");

    let result = json_of(&accepted(base, &["result", &id]));
    assert_eq!(result["rows"], 2, "{result}");
    let file = dir.path().join("result.json");
    let saved = accepted(base, &["result", &id, "-o", file.to_str().unwrap()]);
    assert_eq!(saved.status.code(), Some(0));
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved, result);

    // A permanent failure: exit 3 with the job's error; with --json, the final document.
    let fail = |extra: &[&str]| {
        let input = r#"{"duration_ms":10,"fail_attempts":1,"failure":"permanent"}"#;
        let mut args = vec!["submit", "demo.sleep", "--input", input, "--wait"];
        args.extend_from_slice(extra);
        accepted(base, &args)
    };
    let failed = fail(&[]);
    assert_eq!(failed.status.code(), Some(3), "{}", text(&failed.stderr));
    let err = text(&failed.stderr);
    assert!(
        err.contains("failed after 1 attempt(s): demo_failure"),
        "{err}"
    );
    let failed = fail(&["--json"]);
    assert_eq!(failed.status.code(), Some(3));
    let failed_job = json_of(&failed);
    assert_eq!(failed_job["status"], "failed");
    assert_eq!(failed_job["error"]["code"], "demo_failure");

    // The list, as a table and as JSON, with filters.
    let table = accepted(base, &["jobs", "--status", "completed"]);
    assert_eq!(table.status.code(), Some(0));
    let table = text(&table.stdout);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID "), "{table}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].starts_with(&id) && rows[0].contains("csv.summary"));
    let page = json_of(&accepted(base, &["jobs", "--type", "demo.sleep", "--json"]));
    let jobs = page["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j["status"] == "failed"));
    let one = json_of(&accepted(base, &["jobs", "--limit", "1", "--json"]));
    let cursor = one["next_cursor"].as_str().expect("a second page");
    let next = json_of(&accepted(
        base,
        &["jobs", "--limit", "1", "--cursor", cursor, "--json"],
    ));
    assert_ne!(next["jobs"][0]["id"], one["jobs"][0]["id"]);
    server.stop();
}

#[test]
fn types_lists_the_servers_types_and_shows_one_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let base = server.base.as_str();

    let table = accepted(base, &["types"]);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table.stderr));
    let out = text(&table.stdout);
    let rows: Vec<&str> = out.lines().collect();
    assert!(rows[0].starts_with("TYPE"), "{out}");
    assert!(
        rows[1].starts_with("csv.summary") && rows[2].starts_with("demo.sleep"),
        "{out}"
    );

    let one = accepted(base, &["types", "demo.sleep"]);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one.stderr));
    let out = text(&one.stdout);
    assert!(
        out.contains("input schema:") && out.contains("duration_ms"),
        "{out}"
    );

    let listed = json_of(&accepted(base, &["types", "--json"]));
    assert_eq!(listed["job_types"][1]["type"], "demo.sleep");

    let unknown = accepted(base, &["types", "no.such"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("csv.summary, demo.sleep"));
}

#[test]
fn idempotency_keys_cancel_and_problems() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let base = &server.base.clone();

    // The same key twice: one job, and the second answer says so.
    let args = [
        "submit",
        "demo.sleep",
        "--input",
        r#"{"duration_ms":20000}"#,
        "--idempotency-key",
        "order-42",
    ];
    let first = accepted(base, &args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let first = text(&first.stdout);
    let id = first.split_whitespace().nth(1).unwrap().to_owned();
    assert!(first.contains(&format!("accepted wait {id}")), "{first}");
    let again = text(&accepted(base, &args).stdout);
    assert!(
        again.starts_with(&format!("job {id} already accepted")),
        "{again}"
    );

    // Cancel the long job (pending or running), then wait: exit 4.
    let cancelled = accepted(base, &["cancel", &id, "--json"]);
    assert_eq!(
        cancelled.status.code(),
        Some(0),
        "{}",
        text(&cancelled.stderr)
    );
    let doc = json_of(&cancelled);
    assert!(
        doc["status"] == "cancelled" || doc["cancel_requested_at"].is_string(),
        "{doc}"
    );
    let waited = accepted(base, &["wait", &id]);
    assert_eq!(waited.status.code(), Some(4), "{}", text(&waited.stderr));
    assert!(text(&waited.stderr).contains("was cancelled"));
    // Cancelling a finished job is a conflict, told as the API's problem.
    let again = accepted(base, &["cancel", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("(409)"),
        "{}",
        text(&again.stderr)
    );

    // A refused submit: the problem's title, the field and the correlation id; nothing made.
    let bad = accepted(
        base,
        &["submit", "demo.sleep", "--input", r#"{"duration_ms":-1}"#],
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(
        err.contains("(422)") && err.contains("/input/duration_ms"),
        "{err}"
    );
    assert!(err.contains("correlation id: "), "{err}");
    let bad = accepted(base, &["submit", "no.such.type", "--input", "{}", "--json"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(json_of(&bad)["status"], 422);
    let listed = json_of(&accepted(base, &["jobs", "--json"]));
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);

    // Usage errors never reach the API.
    let not_json = accepted(base, &["submit", "demo.sleep", "--input", "{oops"]);
    assert_eq!(not_json.status.code(), Some(1));
    assert!(text(&not_json.stderr).contains("--input is not JSON"));
    let traversal = accepted(base, &["status", "../webhook-secret"]);
    assert!(text(&traversal.stderr).contains("not a job id"));
    server.stop();

    // Nobody listening: a clear error after the retries.
    let gone = accepted(base, &["status", &id]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        text(&gone.stderr).contains("cannot reach the API"),
        "{}",
        text(&gone.stderr)
    );
}

/// A stand-in API that fails the first submit with 503 and accepts the second: the client
/// retries with the same idempotency key, so a real API would make one job.
#[tokio::test]
async fn a_submit_retried_after_a_server_error_reuses_its_idempotency_key() {
    let keys: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = keys.clone();
    let app = Router::new().route(
        "/jobs",
        post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let mut keys = seen.lock().unwrap();
                keys.push(
                    headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned(),
                );
                if keys.len() == 1 {
                    let problem = json!({"type": "about:blank", "title": "Unavailable",
                        "status": 503, "detail": "try again", "correlation_id": "c"});
                    return (StatusCode::SERVICE_UNAVAILABLE, problem.to_string());
                }
                let job = json!({"id": "6f1c2a3e-8d4b-4f5a-9b7c-0d1e2f3a4b5c", "type": "demo.sleep",
                    "status": "pending", "attempts": 0, "created_at": "2026-12-01T00:00:00Z",
                    "updated_at": "2026-12-01T00:00:00Z", "correlation_id": "c",
                    "links": {"self": "/jobs/6f1c2a3e-8d4b-4f5a-9b7c-0d1e2f3a4b5c"}});
                (StatusCode::ACCEPTED, job.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = ApiClient::new(
        format!("http://{address}").parse().unwrap(),
        Auth::None,
        Duration::from_secs(5),
    )
    .unwrap()
    .with_retry(RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
    });
    let submitted = client
        .submit(
            &json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
            "cli-key-1",
        )
        .await
        .unwrap();
    assert_eq!(submitted.job.id, "6f1c2a3e-8d4b-4f5a-9b7c-0d1e2f3a4b5c");
    // Sent both times, as the IETF draft's structured-field string.
    assert_eq!(*keys.lock().unwrap(), ["\"cli-key-1\"", "\"cli-key-1\""]);
}
