//! End to end over HTTP: the job resource's routes on the `accepted serve` binary (embedded
//! backend) — query strings, long polls, cancelling, results, listing, and the lifecycle events
//! the server writes to its JSON-lines sink.

mod common;

use common::{call, finished, submit, Server};
use std::time::Duration;

use serde_json::{json, Value};

#[test]
fn the_job_resource_over_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Heartbeats every third of a second carry a cancel request to the handler.
    let server = Server::start(
        dir.path(),
        &[],
        &[("LEASE_SECONDS", "1"), ("PROGRESS_INTERVAL_MS", "50")],
    );
    let base = server.base.as_str();

    // The contract it is built to.
    let openapi = call("GET", &format!("{base}/openapi.json"), None);
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.body["openapi"], "3.1.0");
    assert!(openapi.body["paths"]["/jobs/{id}/result"]["get"].is_object());

    // A job that runs to completion: its result route serves the report.
    let csv = submit(
        base,
        json!({"type": "csv.summary", "input": {"csv": "a\n1\n2\n"}}),
    );
    assert_eq!(finished(base, &csv)["status"], "completed");
    let result = call("GET", &format!("{base}/jobs/{csv}/result"), None);
    assert_eq!((result.status, &result.body["rows"]), (200, &json!(2)));

    // A result too large for the job is kept in a file and served from the same route.
    let large = submit(
        base,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "result_bytes": 150000}}),
    );
    let done = finished(base, &large);
    assert!(done.get("result").is_none(), "not inline");
    let result = call("GET", &format!("{base}/jobs/{large}/result"), None);
    assert_eq!(result.status, 200);
    assert_eq!(result.body["padding"].as_str().map(str::len), Some(150_000));
    assert!(dir.path().join(format!("results/{large}.json")).is_file());

    // A long job: progress shows, then a cancel stops it early.
    let long = submit(
        base,
        json!({"type": "demo.sleep", "input": {"duration_ms": 15000}}),
    );
    let mut running = Value::Null;
    for _ in 0..20 {
        running = call("GET", &format!("{base}/jobs/{long}?wait=2"), None).body;
        if running["progress"]["percent"].as_u64().is_some() {
            break;
        }
    }
    assert_eq!(running["status"], "running", "{running}");
    let cancel = call("DELETE", &format!("{base}/jobs/{long}"), None);
    assert_eq!(cancel.status, 202, "{}", cancel.body);
    let cancelled = finished(base, &long);
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["progress"]["percent"].as_u64().unwrap_or(0) < 100);
    let again = call("DELETE", &format!("{base}/jobs/{long}"), None);
    assert_eq!(
        (again.status, &again.body["type"]),
        (409, &json!("/problems/job-finished"))
    );
    assert_eq!(
        again
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );

    // Listing, newest first, one job per page through the cursor; filters in the query.
    let first = call("GET", &format!("{base}/jobs?limit=1"), None);
    assert_eq!(first.status, 200);
    assert_eq!(first.body["jobs"][0]["id"], long.as_str());
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = call("GET", &format!("{base}/jobs?limit=1&cursor={cursor}"), None);
    assert_eq!(second.body["jobs"][0]["id"], large.as_str());
    assert!(second.body.get("next_cursor").is_some());
    let completed = call("GET", &format!("{base}/jobs?status=completed"), None);
    assert_eq!(completed.body["jobs"].as_array().map(Vec::len), Some(2));
    let bad = call("GET", &format!("{base}/jobs?limit=1000"), None);
    assert_eq!(bad.status, 400);
    // Every state change reached the local event sink, as CloudEvents, in order per job.
    let events_of = |id: &str| -> Vec<String> {
        std::fs::read_to_string(dir.path().join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["subject"] == id)
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = events_of(&long);
        if seen.last().map(String::as_str) == Some("accepted.job.cancelled") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        seen,
        [
            "accepted.job.created",
            "accepted.job.started",
            "accepted.job.cancel_requested",
            "accepted.job.cancelled"
        ]
    );
    assert_eq!(
        events_of(&csv),
        [
            "accepted.job.created",
            "accepted.job.started",
            "accepted.job.completed"
        ]
    );

    let put = call("PUT", &format!("{base}/jobs"), None);
    assert_eq!(put.status, 405);
    assert_eq!(
        put.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
}
