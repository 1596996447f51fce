//! The routes operators point probes and Prometheus at: `/healthz`, `/readyz`, `/metrics`.

mod common;

use common::{call, finished, free_port, submit, Server};
use serde_json::json;

fn text(url: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent.get(url).call().expect("GET");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.body_mut().read_to_string().unwrap_or_default();
    (res.status().as_u16(), content_type, body)
}

#[test]
fn probes_answer_and_metrics_count_what_the_jobs_did() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]);
    assert_eq!(
        call("GET", &format!("{}/healthz", server.base), None).status,
        200
    );
    let ready = call("GET", &format!("{}/readyz", server.base), None);
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (200, Some("ready"))
    );

    let ok = json!({"type": "demo.sleep", "input": {"duration_ms": 5}});
    let ids = [submit(&server.base, ok.clone()), submit(&server.base, ok)];
    for id in &ids {
        assert_eq!(finished(&server.base, id)["status"], "completed");
    }
    let refused = call(
        "POST",
        &format!("{}/jobs", server.base),
        Some(&json!({"type": "no.such.type", "input": {}})),
    );
    assert_eq!(refused.status, 422);

    let (status, content_type, metrics) = text(&format!("{}/metrics", server.base));
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    for line in [
        "accepted_jobs_accepted_total{job_type=\"demo.sleep\"} 2",
        "accepted_jobs_started_total{job_type=\"demo.sleep\"} 2",
        "accepted_jobs_completed_total{job_type=\"demo.sleep\"} 2",
        "accepted_jobs_rejected_total{reason=\"validation-failed\"} 1",
        "accepted_run_time_seconds_count{job_type=\"demo.sleep\"} 2",
        "accepted_end_to_end_seconds_bucket{job_type=\"demo.sleep\",le=\"+Inf\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    let counter = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} ")));
        let value = line.and_then(|l| l.rsplit(' ').next()?.parse().ok());
        value.unwrap_or_else(|| panic!("{name} in:\n{metrics}"))
    };
    // Two jobs: two submits, and each one's receive, start, finish and delete at least.
    let (commits, writes) = (
        counter("accepted_sqlite_commits_total"),
        counter("accepted_sqlite_writes_total"),
    );
    assert!(writes >= 2 * 5, "{writes} writes");
    assert!((1..=writes).contains(&commits), "{commits} commits");
    server.stop();
}

#[test]
fn a_server_that_cannot_reach_its_store_is_alive_but_not_ready() {
    let data = tempfile::tempdir().unwrap();
    let nothing = format!("http://127.0.0.1:{}", free_port());
    let queue = format!("{nothing}/000000000000/jobs");
    let env = [
        ("AWS_ENDPOINT_URL", nothing.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("JOBS_TABLE", "jobs"),
        ("JOBS_QUEUE_URL", queue.as_str()),
        // Read on the first keyed job only.
        (
            "JOB_ID_KEY_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:job-id-key",
        ),
    ];
    let server = Server::start(data.path(), &["--backend", "aws"], &env);
    assert_eq!(
        call("GET", &format!("{}/healthz", server.base), None).status,
        200
    );
    let ready = call("GET", &format!("{}/readyz", server.base), None);
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["type"], "/problems/unavailable");
}
