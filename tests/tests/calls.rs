//! The AWS requests a job costs, counted on the wire by the SDK interceptor, on moto.
//!
//! Each request is billed and adds a round trip, so these figures are part of the design: the
//! counts are deterministic, and a change that adds a request fails here. BENCHMARKS.md
//! prices them.

use std::time::Duration;

use accepted_aws::{item, CallCounts};
use accepted_core::JobStatus;
use accepted_tests::TestStack;
use serde_json::{json, Value};

/// Polls the worker (as the event source mapping would) until the job is finished.
async fn run_to_end(t: &TestStack, id: &str) -> JobStatus {
    for _ in 0..200 {
        t.poll_worker_once().await;
        // Read through the harness's own client: the functions' tally stays the job's.
        let job_id = accepted_core::JobId::parse(id).expect("job id");
        let found = t
            .dynamo
            .get_item()
            .table_name(&t.config.table_name)
            .key(item::PK, item::job_pk(&job_id))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
            .expect("the job item");
        let status = item::decode_job(&found).expect("a job").status;
        if !matches!(status, JobStatus::Pending | JobStatus::Running) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

async fn accept(t: &TestStack, body: &Value, key: &str) -> String {
    let (res, job) = t.post_job(body, &[("idempotency-key", key)]).await;
    assert_eq!(res.status(), 202, "{job}");
    job["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn the_happy_path_costs_three_requests_to_accept_and_two_to_run_a_job() {
    let t = TestStack::new().await;
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1}});
    t.calls.take();

    let (res, _) = t.post_job(&body, &[]).await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        t.calls.take(),
        CallCounts::from([
            ("DynamoDB.Query", 1),   // the per-owner cap
            ("DynamoDB.PutItem", 1), // the job, conditionally
            ("SQS.SendMessage", 1),
        ]),
        "accept without a key"
    );

    let id = accept(&t, &body, "calls-happy").await;
    assert_eq!(
        t.calls.take(),
        CallCounts::from([
            ("DynamoDB.Query", 1),
            // The job under the id its key determines: its own idempotency record.
            ("DynamoDB.PutItem", 1),
            ("SQS.SendMessage", 1),
        ]),
        "accept with a key"
    );

    // A replay's put is refused, and the refusal carries the earlier job: nothing to read,
    // nothing to send.
    assert_eq!(accept(&t, &body, "calls-happy").await, id);
    assert_eq!(
        t.calls.take(),
        CallCounts::from([("DynamoDB.Query", 1), ("DynamoDB.PutItem", 1)]),
        "replay"
    );

    assert_eq!(run_to_end(&t, &id).await, JobStatus::Completed);
    assert_eq!(
        t.calls.take(),
        // Both jobs: each started (leased) and completed, nothing else.
        CallCounts::from([("DynamoDB.UpdateItem", 2 * 2)]),
        "run"
    );

    let (res, _) = t.get_job(&id, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        t.calls.take(),
        CallCounts::from([("DynamoDB.GetItem", 1)]),
        "status"
    );
}

#[tokio::test]
async fn a_retry_costs_one_start_one_record_and_one_backoff_per_failed_attempt() {
    let t = TestStack::new().await;
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1, "fail_attempts": 2}});
    let id = accept(&t, &body, "calls-retry").await;
    t.calls.take();

    assert_eq!(run_to_end(&t, &id).await, JobStatus::Completed);
    assert_eq!(
        t.calls.take(),
        CallCounts::from([
            // Per attempt: start; per failed attempt, its record; the last, completion.
            ("DynamoDB.UpdateItem", 3 + 2 + 1),
            ("SQS.ChangeMessageVisibility", 2), // the backoff of each failed attempt
        ]),
        "two failed attempts, then success"
    );
}

#[tokio::test]
async fn a_large_result_adds_one_write_to_s3_and_its_fetch_only_a_read_of_the_job() {
    let t = TestStack::new().await;
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1, "result_bytes": 300_000}});
    let id = accept(&t, &body, "calls-large").await;
    t.calls.take();

    assert_eq!(run_to_end(&t, &id).await, JobStatus::Completed);
    assert_eq!(
        t.calls.take(),
        CallCounts::from([("DynamoDB.UpdateItem", 2), ("S3.PutObject", 1)]),
        "run"
    );
    let (res, _) = t
        .call(
            lambda_http::http::Method::GET,
            &format!("/jobs/{id}/result"),
            &[],
            None,
        )
        .await;
    // A redirect to a presigned URL, signed locally: the bytes never pass the function.
    assert_eq!(res.status(), 303);
    assert_eq!(
        t.calls.take(),
        CallCounts::from([("DynamoDB.GetItem", 1)]),
        "fetch the result"
    );
}

#[tokio::test]
async fn a_listing_page_costs_one_query_of_keys_and_one_batch_read() {
    let t = TestStack::new().await;
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1}});
    for key in ["calls-list-1", "calls-list-2", "calls-list-3"] {
        accept(&t, &body, key).await;
    }
    t.calls.take();

    let (res, page) = t
        .call(lambda_http::http::Method::GET, "/jobs?limit=10", &[], None)
        .await;
    assert_eq!(res.status(), 200, "{page}");
    assert_eq!(page["jobs"].as_array().map(Vec::len), Some(3), "{page}");
    assert_eq!(
        t.calls.take(),
        // The index holds keys only; one BatchGetItem reads up to 100 jobs.
        CallCounts::from([("DynamoDB.Query", 1), ("DynamoDB.BatchGetItem", 1)]),
        "list"
    );
}
