//! The dead-letter queue consumer on moto: no job waits forever once its message is dead.

use accepted_core::message::{DEAD_LETTER_DETAIL, DEAD_LETTER_REASON, SOURCE_MESSAGE_ID};
use accepted_core::{JobMessage, JobQueue, JobStatus, JobStore, Timestamp, Transition};
use accepted_dlq::{settle, DeadLetters, Settled};
use accepted_tests::TestStack;
use accepted_worker::sqs_event;
use serde_json::json;

async fn submit(t: &TestStack, input: serde_json::Value) -> accepted_core::Job {
    let (res, body) = t
        .post_job(&json!({"type": "demo.sleep", "input": input}), &[])
        .await;
    assert_eq!(res.status(), 202);
    t.stored(body["id"].as_str().unwrap()).await
}

/// Sends `body` to the dead-letter queue, receives it back as the consumer would.
async fn dead_letter(
    t: &TestStack,
    body: &str,
    attributes: &[(&str, &str)],
) -> aws_lambda_events::event::sqs::SqsMessage {
    t.dead_letters
        .send_raw(body, attributes, None)
        .await
        .unwrap();
    let received = t.receive(&t.dead_letters, 1).await;
    sqs_event(&received, &t.dlq_url).records.remove(0)
}

#[tokio::test]
async fn a_dead_lettered_job_fails_with_the_evidence() {
    let t = TestStack::new().await;
    let consumer = DeadLetters::new(t.store.clone(), &t.config);
    // A job that failed once (retryable) and whose message then ran out of receives.
    let job = submit(&t, json!({"duration_ms": 1, "fail_attempts": 9})).await;
    t.poll_worker_once().await.expect("first attempt");
    let message = JobMessage::new(job.id.clone(), job.correlation_id.clone()).encode();
    let record = dead_letter(&t, &message, &[]).await;

    assert_eq!(settle(&consumer, &record).await, Settled::JobFailed);
    let failed = t.stored(job.id.as_str()).await;
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.retryable),
        ("dead_lettered", false)
    );
    assert!(
        error.message.contains("received 1 times"),
        "{}",
        error.message
    );
    assert!(error.message.contains("(1 attempts)"), "{}", error.message);
    assert!(
        error.message.contains("last error: demo_failure"),
        "{}",
        error.message
    );

    // Delivered again (at-least-once): nothing changes.
    assert_eq!(settle(&consumer, &record).await, Settled::AlreadyFinished);
    assert_eq!(
        t.stored(job.id.as_str()).await.error.unwrap().code,
        "dead_lettered"
    );
}

#[tokio::test]
async fn a_running_job_whose_message_died_is_failed_too_and_a_finished_one_is_left_alone() {
    let t = TestStack::new().await;
    let consumer = DeadLetters::new(t.store.clone(), &t.config);
    let stuck = submit(&t, json!({"duration_ms": 1})).await;
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now.plus(std::time::Duration::from_secs(600)),
    };
    t.store.transition(&stuck.id, &start).await.unwrap();
    let record = dead_letter(
        &t,
        &JobMessage::new(stuck.id.clone(), stuck.correlation_id.clone()).encode(),
        &[],
    )
    .await;
    assert_eq!(settle(&consumer, &record).await, Settled::JobFailed);
    let failed = t.stored(stuck.id.as_str()).await;
    assert_eq!(
        (failed.status, failed.lease_until),
        (JobStatus::Failed, None)
    );

    let done = submit(&t, json!({"duration_ms": 1})).await;
    t.drain(3).await;
    let record = dead_letter(
        &t,
        &JobMessage::new(done.id.clone(), done.correlation_id.clone()).encode(),
        &[],
    )
    .await;
    assert_eq!(settle(&consumer, &record).await, Settled::AlreadyFinished);
    assert_eq!(
        t.stored(done.id.as_str()).await.status,
        JobStatus::Completed
    );
}

#[tokio::test]
async fn dead_letters_that_name_no_job_are_logged_and_a_batch_settles_each_alone() {
    let t = TestStack::new().await;
    let consumer = DeadLetters::new(t.store.clone(), &t.config);
    let set_aside = dead_letter(
        &t,
        "not json",
        &[
            (DEAD_LETTER_REASON, "not_json"),
            (DEAD_LETTER_DETAIL, "expected value"),
            (SOURCE_MESSAGE_ID, "m-1"),
        ],
    )
    .await;
    assert_eq!(settle(&consumer, &set_aside).await, Settled::Logged);
    let unknown = JobMessage::new(
        accepted_core::JobId::generate(),
        accepted_core::CorrelationId::generate(),
    );
    let record = dead_letter(&t, &unknown.encode(), &[]).await;
    assert_eq!(settle(&consumer, &record).await, Settled::Logged);
    let request = json!({"version": 1, "type": "demo.sleep", "input": {"duration_ms": 1}, "idempotency_key": "never"});
    let record = dead_letter(&t, &request.to_string(), &[]).await;
    assert_eq!(settle(&consumer, &record).await, Settled::Logged);

    // A producer's request whose job exists: that job is failed.
    let accepted = json!({"version": 1, "type": "demo.sleep", "input": {"duration_ms": 1},
                          "idempotency_key": "req-1", "owner": "team-a"});
    let job = accepted_core::Job::create(
        accepted_core::NewJob {
            owner: accepted_core::Owner::parse("team-a").unwrap(),
            job_type: "demo.sleep".into(),
            input: json!({"duration_ms": 1}),
            callback_url: None,
            correlation_id: accepted_core::CorrelationId::generate(),
            idempotency_key: accepted_core::IdempotencyKey::parse("req-1"),
            fingerprint: "f".into(),
        },
        Timestamp::now(),
        std::time::Duration::from_secs(3600),
    );
    let job = t.store.create(&job).await.unwrap().job().clone();
    let record = dead_letter(&t, &accepted.to_string(), &[]).await;
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = vec![set_aside, record];
    let response = accepted_dlq::handle_batch(&consumer, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        t.stored(job.id.as_str()).await.error.unwrap().code,
        "dead_lettered"
    );
}

#[tokio::test]
async fn a_dead_letter_of_a_job_being_cancelled_concludes_the_cancel() {
    let t = TestStack::new().await;
    let consumer = DeadLetters::new(t.store.clone(), &t.config);
    let job = submit(&t, json!({"duration_ms": 1})).await;
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now.plus(std::time::Duration::from_secs(60)),
    };
    t.store.transition(&job.id, &start).await.unwrap();
    t.store
        .transition(&job.id, &Transition::RequestCancel { now })
        .await
        .unwrap();
    let message = JobMessage::new(job.id.clone(), job.correlation_id.clone()).encode();
    let record = dead_letter(&t, &message, &[]).await;
    assert_eq!(settle(&consumer, &record).await, Settled::JobCancelled);
    assert_eq!(t.stored(job.id.as_str()).await.status, JobStatus::Cancelled);
}
