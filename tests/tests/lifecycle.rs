//! The job lifecycle through the HTTP API on moto: cancellation, progress, `Retry-After`,
//! long polling, conditional reads and results.

use std::time::Duration;

use accepted_core::{FieldError, JobStatus};
use accepted_core::{JobContext, JobFailure, JobHandler};
use accepted_tests::{header, TestStack};
use async_trait::async_trait;
use lambda_http::http::Method;
use serde_json::{json, Value};

async fn submit(t: &TestStack, body: Value) -> String {
    let (res, job) = t.post_job(&body, &[]).await;
    assert_eq!(res.status(), 202, "{job}");
    job["id"].as_str().expect("id").to_owned()
}

/// A job that takes a millisecond.
async fn quick_job(t: &TestStack) -> String {
    submit(
        t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
    )
    .await
}

/// Waits (bounded) until the stored job is in `status`.
async fn until_status(t: &TestStack, id: &str, status: JobStatus) {
    for _ in 0..500 {
        if t.stored(id).await.status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} never became {}", status.as_str());
}

fn retry_after(res: &lambda_http::Response<lambda_http::Body>) -> Option<u64> {
    header(res, "retry-after").and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_pending_job_is_cancelled_at_once_and_never_runs() {
    let t = TestStack::new().await;
    let id = quick_job(&t).await;
    let (res, body) = t
        .call(Method::DELETE, &format!("/jobs/{id}"), &[], None)
        .await;
    assert_eq!(res.status(), 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert!(retry_after(&res).is_none());

    // Its message is still on the queue: the worker drops it without running the job.
    let response = t.poll_worker_once().await.expect("the job's message");
    assert!(response.batch_item_failures.is_empty());
    let job = t.stored(&id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Cancelled, 0));

    let (again, problem) = t
        .call(Method::DELETE, &format!("/jobs/{id}"), &[], None)
        .await;
    assert_eq!(again.status(), 409);
    assert_eq!(problem["type"], "/problems/job-finished");
    assert_eq!(problem["job_status"], "cancelled");
}

#[tokio::test]
async fn a_running_job_is_cancelled_cooperatively() {
    // A one-second lease: heartbeats every third of a second carry the request to the handler.
    let t = TestStack::with_registry(accepted_builtin_jobs::registry(), &[("LEASE_SECONDS", "1")])
        .await;
    let id = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 10_000}}),
    )
    .await;
    let (poll, (res, body)) = tokio::join!(t.poll_worker_once(), async {
        until_status(&t, &id, JobStatus::Running).await;
        t.call(Method::DELETE, &format!("/jobs/{id}"), &[], None)
            .await
    });
    assert_eq!(res.status(), 202, "{body}");
    assert_eq!(body["status"], "running");
    assert!(body["cancel_requested_at"].is_string());
    assert!(retry_after(&res).is_some());
    assert!(poll.expect("a batch").batch_item_failures.is_empty());

    let job = t.stored(&id).await;
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.result, None);
    let percent = job.progress.map(|p| p.percent).unwrap_or(0);
    assert!(percent < 100, "the handler stopped early, at {percent} %");
}

/// Ignores cancellation and succeeds: the job must end cancelled all the same.
struct Stubborn;

#[async_trait]
impl JobHandler for Stubborn {
    fn job_type(&self) -> &str {
        "test.stubborn"
    }
    fn validate(&self, _input: &Value) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
    async fn run(&self, _ctx: &JobContext, _input: &Value) -> Result<Value, JobFailure> {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        Ok(json!({"done": true}))
    }
}

#[tokio::test]
async fn a_cancelled_job_never_completes_even_if_its_handler_ignores_the_cancel() {
    let registry = accepted_builtin_jobs::registry().with(Stubborn);
    let t = TestStack::with_registry(registry, &[("LEASE_SECONDS", "1")]).await;
    let id = submit(&t, json!({"type": "test.stubborn", "input": {}})).await;
    let (_, (res, _)) = tokio::join!(t.poll_worker_once(), async {
        until_status(&t, &id, JobStatus::Running).await;
        t.call(Method::DELETE, &format!("/jobs/{id}"), &[], None)
            .await
    });
    assert_eq!(res.status(), 202);
    let job = t.stored(&id).await;
    assert_eq!((job.status, job.result), (JobStatus::Cancelled, None));
    let (res, problem) = t
        .call(Method::GET, &format!("/jobs/{id}/result"), &[], None)
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(problem["job_status"], "cancelled");
}

#[tokio::test]
async fn progress_shows_in_the_status_and_shapes_retry_after() {
    let t = TestStack::with_registry(
        accepted_builtin_jobs::registry(),
        &[("PROGRESS_INTERVAL_MS", "10")],
    )
    .await;
    let id = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 2_000}}),
    )
    .await;
    let (_, seen) = tokio::join!(t.poll_worker_once(), async {
        for _ in 0..400 {
            let (res, body) = t.get_job(&id, None).await;
            let percent = body["progress"]["percent"].as_u64().unwrap_or(0);
            if body["status"] == "running" && (1..100).contains(&percent) {
                return Some((body, retry_after(&res)));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    });
    let (body, retry) = seen.expect("progress was visible while the job ran");
    assert!(body["progress"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("slept")));
    assert!(retry.is_some_and(|s| (1..=30).contains(&s)), "{retry:?}");
    assert_eq!(t.stored(&id).await.status, JobStatus::Completed);
}

#[tokio::test]
async fn a_job_waiting_out_a_backoff_shows_when_it_is_due() {
    let overrides = [("RETRY_BASE_MS", "20000"), ("RETRY_CAP_MS", "20000")];
    let t = TestStack::with_registry(accepted_builtin_jobs::registry(), &overrides).await;
    let id = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "fail_attempts": 1}}),
    )
    .await;
    t.poll_worker_once().await.expect("a batch");
    let (res, body) = t.get_job(&id, None).await;
    assert_eq!(body["status"], "pending");
    assert_eq!(body["error"]["code"], "demo_failure");
    assert!(body["retry_at"].is_string(), "{body}");
    assert!(retry_after(&res).is_some_and(|s| (1..=30).contains(&s)));
}

#[tokio::test]
async fn a_completed_jobs_result_is_linked_and_served() {
    let t = TestStack::new().await;
    let id = submit(
        &t,
        json!({"type": "csv.summary", "input": {"csv": "a,b\n1,x\n2,y\n"}}),
    )
    .await;
    let (early, problem) = t
        .call(Method::GET, &format!("/jobs/{id}/result"), &[], None)
        .await;
    assert_eq!(early.status(), 409);
    assert_eq!(problem["type"], "/problems/result-not-available");
    assert_eq!(problem["job_status"], "pending");
    assert!(retry_after(&early).is_some());

    t.drain(5).await;
    let (status, job) = t.get_job(&id, None).await;
    let result_path = format!("/jobs/{id}/result");
    assert_eq!(job["links"]["result"], result_path.as_str());
    assert_eq!(
        header(&status, "link"),
        Some(format!("<{result_path}>; rel=\"result\"").as_str())
    );
    assert!(retry_after(&status).is_none());
    let (res, result) = t.call(Method::GET, &result_path, &[], None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), Some("application/json"));
    assert_eq!(result, job["result"]);
    assert_eq!(result["rows"], 2);
}

#[tokio::test]
async fn a_long_poll_returns_when_the_job_changes() {
    let t = TestStack::new().await;
    let id = quick_job(&t).await;
    let path = format!("/jobs/{id}?wait=15");
    let ((res, body), _) = tokio::join!(t.call(Method::GET, &path, &[], None), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        t.poll_worker_once().await
    });
    assert_eq!(res.status(), 200);
    assert_ne!(body["status"], "pending", "answered after the change");

    // A finished job is answered at once, whatever the wait.
    t.drain(3).await;
    let (res, body) = t.call(Method::GET, &path, &[], None).await;
    assert_eq!(
        (res.status().as_u16(), &body["status"]),
        (200, &json!("completed"))
    );
}

#[tokio::test]
async fn a_long_poll_without_change_returns_the_job_as_it_is() {
    let t = TestStack::new().await;
    let id = quick_job(&t).await;
    let (res, body) = t
        .call(Method::GET, &format!("/jobs/{id}?wait=1"), &[], None)
        .await;
    assert_eq!(
        (res.status().as_u16(), &body["status"]),
        (200, &json!("pending"))
    );
    for bad in ["-1", "21", "soon", "1.5"] {
        let (res, problem) = t
            .call(Method::GET, &format!("/jobs/{id}?wait={bad}"), &[], None)
            .await;
        assert_eq!(res.status(), 400, "wait={bad}");
        assert_eq!(problem["type"], "/problems/invalid-parameter");
    }
}

#[tokio::test]
async fn conditional_reads_answer_not_modified_until_the_job_changes() {
    let t = TestStack::new().await;
    let id = quick_job(&t).await;
    let (first, _) = t.get_job(&id, None).await;
    let etag = header(&first, "etag").expect("an etag").to_owned();
    assert!(etag.starts_with("W/\""));
    let path = format!("/jobs/{id}");
    let (same, body) = t
        .call(Method::GET, &path, &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(same.status(), 304);
    assert_eq!(body, Value::Null);
    assert_eq!(header(&same, "etag"), Some(etag.as_str()));
    assert!(retry_after(&same).is_some());

    t.drain(3).await;
    // Long-polling from an old version answers at once with the new one.
    let (changed, body) = t
        .call(
            Method::GET,
            &format!("{path}?wait=10"),
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(body["status"], "completed");
    assert_ne!(header(&changed, "etag"), Some(etag.as_str()));
}

#[tokio::test]
async fn a_redelivered_message_of_a_job_being_cancelled_concludes_the_cancel() {
    use accepted_core::{JobId, JobStore, Timestamp, Transition};
    let t = TestStack::new().await;
    let id = quick_job(&t).await;
    let job_id = JobId::parse(&id).unwrap();
    // The attempt that saw the request died: its lease has run out, its message is back.
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now,
    };
    t.store.transition(&job_id, &start).await.unwrap();
    t.store
        .transition(&job_id, &Transition::RequestCancel { now })
        .await
        .unwrap();
    let response = t.poll_worker_once().await.expect("the message");
    assert!(response.batch_item_failures.is_empty());
    let job = t.stored(&id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Cancelled, 1));
}
