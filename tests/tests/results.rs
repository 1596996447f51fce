//! Large results on moto: kept in the S3 bucket of the template, fetched through a presigned
//! URL that `/jobs/{id}/result` redirects to.

use std::sync::Arc;
use std::time::Duration;

use accepted_core::JobStatus;
use accepted_tests::{header, TestStack};
use accepted_worker::Worker;
use lambda_http::http::Method;
use serde_json::{json, Value};

async fn submit(t: &TestStack, result_bytes: u64) -> String {
    let body =
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "result_bytes": result_bytes}});
    let (res, job) = t.post_job(&body, &[]).await;
    assert_eq!(res.status(), 202, "{job}");
    job["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_large_result_is_stored_in_the_bucket_and_served_by_a_presigned_url() {
    let t = TestStack::new().await;
    let id = submit(&t, 200_000).await;
    t.drain(3).await;

    let job = t.stored(&id).await;
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.result, None, "not in the item");
    let stored = job.result_ref.expect("a stored result");
    assert_eq!(stored.key, format!("results/{id}.json"));
    assert!(stored.bytes > 200_000);

    let (status, view) = t.get_job(&id, None).await;
    assert_eq!(status.status(), 200);
    assert!(view.get("result").is_none());
    assert_eq!(view["links"]["result"], format!("/jobs/{id}/result"));

    let (res, _) = t
        .call(Method::GET, &format!("/jobs/{id}/result"), &[], None)
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "cache-control"), Some("private, no-store"));
    let location = header(&res, "location")
        .expect("a presigned URL")
        .to_owned();
    assert!(location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires=300"));
    let mut fetched = ureq::get(&location)
        .call()
        .expect("the presigned URL works");
    let document: Value = serde_json::from_str(
        &fetched
            .body_mut()
            .with_config()
            .limit(2 << 20)
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(document["padding"].as_str().map(str::len), Some(200_000));
    assert_eq!(document["attempt"], 1);

    // Another owner gets nothing, not even the redirect.
    let (foreign, _) = t
        .call(
            Method::GET,
            &format!("/jobs/{id}/result"),
            &[],
            Some("mallory"),
        )
        .await;
    assert_eq!(foreign.status(), 404);
}

#[tokio::test]
async fn a_result_just_under_the_limit_stays_in_the_job() {
    let t = TestStack::new().await;
    let id = submit(&t, 60_000).await;
    t.drain(3).await;
    let job = t.stored(&id).await;
    assert!(job.result.is_some() && job.result_ref.is_none());
    let (res, document) = t
        .call(Method::GET, &format!("/jobs/{id}/result"), &[], None)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(document["padding"].as_str().map(str::len), Some(60_000));
}

#[tokio::test]
async fn a_large_result_without_a_result_store_fails_the_job_explicitly() {
    let t = TestStack::new().await;
    let id = submit(&t, 200_000).await;
    // A deployment without RESULTS_BUCKET.
    let worker = Arc::new(
        Worker::new(
            t.store.clone(),
            accepted_builtin_jobs::registry(),
            &t.config,
        )
        .with_queue(Arc::new(t.consumer.clone())),
    );
    assert!(worker.results.is_none());
    t.poll_with(&worker).await.expect("a batch");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let job = t.stored(&id).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.expect("an error");
    assert_eq!(
        (error.code.as_str(), error.retryable),
        ("result_too_large", false)
    );
}
