//! Job requests that other producers put straight on the queue — raw, SNS-wrapped or
//! EventBridge-wrapped: the worker creates their job idempotently and runs it, and sets aside
//! what it cannot accept.

use accepted_core::{IdempotencyKey, JobStatus, JobStore, Owner};
use accepted_tests::TestStack;
use accepted_worker::sqs_event;
use serde_json::{json, Value};

fn request(extra: Value) -> Value {
    let mut doc = json!({"version": 1, "type": "demo.sleep", "input": {"duration_ms": 1}});
    doc.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    doc
}

async fn job_of(t: &TestStack, owner: &str, key: &str) -> Option<accepted_core::Job> {
    t.store
        .find_by_idempotency_key(
            &Owner::parse(owner).unwrap(),
            &IdempotencyKey::parse(key).unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_raw_request_creates_its_job_once_and_runs_it() {
    let t = TestStack::new().await;
    let body = request(json!({"idempotency_key": "order-17", "owner": "team-a",
                              "correlation_id": "producer-trace-1"}));
    t.send_raw(&body.to_string()).await;
    t.send_raw(&body.to_string()).await; // the producer retried its send
                                         // The copy may arrive while the first runs: it then waits out the lease, and finds the
                                         // job finished when it comes back.
    t.drain(5).await;

    let job = job_of(&t, "team-a", "order-17")
        .await
        .expect("the job exists");
    assert_eq!((job.status, job.attempts), (JobStatus::Completed, 1));
    assert_eq!(job.correlation_id.as_str(), "producer-trace-1");
    assert_eq!(
        t.item_count().await,
        1,
        "one job (its own key record), not two"
    );
    let (status, _) = t.get_job(job.id.as_str(), Some("team-a")).await;
    assert_eq!(status.status(), 200, "the owner reads it over the API");
}

#[tokio::test]
async fn a_redelivered_request_without_a_key_is_keyed_by_its_message_id() {
    let t = TestStack::new().await;
    let sqs_id = t.send_raw(&request(json!({})).to_string()).await;
    let messages = t.receive(&t.consumer, 1).await;
    for _ in 0..2 {
        let r = accepted_worker::handle_batch(&t.worker, sqs_event(&messages, &t.queue_url), None)
            .await;
        assert!(r.batch_item_failures.is_empty());
    }
    let job = job_of(&t, "sqs", &sqs_id)
        .await
        .expect("keyed by the SQS message id");
    assert_eq!((job.status, job.attempts), (JobStatus::Completed, 1));
    assert_eq!(t.item_count().await, 1, "one job");
}

#[tokio::test]
async fn sns_and_eventbridge_envelopes_create_jobs_keyed_by_their_ids() {
    let t = TestStack::new().await;
    let topic = "arn:aws:sns:us-east-1:123456789012:job-requests";
    let notification = json!({
        "Type": "Notification", "MessageId": "sns-msg-1", "TopicArn": topic,
        "Message": request(json!({})).to_string(), "Timestamp": "2026-11-27T07:00:00.000Z",
    });
    // SNS delivers at least once: the same notification twice, as two SQS messages.
    t.send_raw(&notification.to_string()).await;
    t.send_raw(&notification.to_string()).await;
    let event = json!({
        "version": "0", "id": "evt-42", "detail-type": "JobRequested",
        "source": "com.example.orders", "account": "123456789012",
        "time": "2026-11-27T07:00:00Z", "region": "us-east-1", "resources": [],
        "detail": request(json!({"input": {"duration_ms": 2}})),
    });
    t.send_raw(&event.to_string()).await;
    t.drain(5).await;

    let from_sns = job_of(&t, &format!("sns:{topic}"), "sns-msg-1")
        .await
        .expect("sns job");
    assert_eq!(
        (from_sns.status, from_sns.attempts),
        (JobStatus::Completed, 1)
    );
    let from_events = job_of(&t, "events:com.example.orders", "evt-42")
        .await
        .expect("event job");
    assert_eq!(from_events.status, JobStatus::Completed);
    assert_eq!(from_events.input, json!({"duration_ms": 2}));
    assert_eq!(t.item_count().await, 2, "two jobs");
}

#[tokio::test]
async fn requests_that_cannot_be_accepted_are_set_aside_with_the_reason() {
    let t = TestStack::new().await;
    let first = request(json!({"idempotency_key": "k-1"}));
    t.send_raw(&first.to_string()).await;
    t.drain(3).await;
    let reused = request(json!({"idempotency_key": "k-1", "input": {"duration_ms": 9}}));
    let unknown = request(json!({"type": "rm.rf"}));
    let invalid = request(json!({"input": {"duration_ms": "soon"}}));
    for body in [&reused, &unknown, &invalid] {
        t.send_raw(&body.to_string()).await;
    }
    let responses = t.drain(3).await;
    assert!(responses.iter().all(|r| r.batch_item_failures.is_empty()));
    let dead = t.receive(&t.dead_letters, 10).await;
    let mut reasons: Vec<&str> = dead
        .iter()
        .map(|m| m.attributes["dead_letter_reason"].as_str())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "idempotency_key_reused",
            "invalid_request",
            "invalid_request"
        ]
    );
    let invalid_detail = dead
        .iter()
        .find(|m| m.body.contains("soon"))
        .map(|m| m.attributes["dead_letter_detail"].clone());
    assert_eq!(
        invalid_detail.as_deref(),
        Some(r#"/input/duration_ms: value is not of type "integer""#)
    );
    assert_eq!(
        t.item_count().await,
        1,
        "only the first request created a job"
    );
}
