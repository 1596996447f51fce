//! The worker on SQS and DynamoDB: runs jobs once in effect, fails only bad records, retries
//! within limits, and lets SQS move what keeps failing to the dead-letter queue.

use accepted_core::{FieldError, JobStatus};
use accepted_core::{JobContext, JobFailure, JobHandler};
use accepted_tests::TestStack;
use accepted_worker::sqs_event;
use async_trait::async_trait;
use serde_json::{json, Value};

async fn submit(t: &TestStack, body: Value) -> String {
    let (res, body) = t.post_job(&body, &[]).await;
    assert_eq!(res.status(), 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_submitted_job_runs_to_completion_and_status_shows_it() {
    let t = TestStack::new().await;
    let id = submit(
        &t,
        json!({"type": "csv.summary", "input": {"csv": "n,city\n1,Oslo\n3,Oslo\n"}}),
    )
    .await;
    let (pending, body) = t.get_job(&id, None).await;
    assert_eq!(
        (pending.status().as_u16(), body["status"].as_str()),
        (200, Some("pending"))
    );
    assert!(pending.headers().contains_key("retry-after"));

    let responses = t.drain(5).await;
    assert_eq!(responses.len(), 1);
    assert!(responses[0].batch_item_failures.is_empty());

    let (done, body) = t.get_job(&id, None).await;
    assert_eq!(done.status(), 200);
    assert!(
        !done.headers().contains_key("retry-after"),
        "a finished job needs no polling"
    );
    assert_eq!(body["status"], "completed");
    assert_eq!(body["attempts"], 1);
    assert_eq!(body["result"]["rows"], 2);
    assert_eq!(body["result"]["columns"][0]["mean"], 2.0);
    assert!(body["started_at"].is_string() && body["finished_at"].is_string());
    assert_eq!(t.queue_depth(&t.queue_url).await, (0, 0));
}

#[tokio::test]
async fn a_duplicated_message_never_runs_a_finished_job_again() {
    let t = TestStack::new().await;
    let id = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
    )
    .await;
    let original = t.receive(&t.consumer, 1).await;
    // The same message delivered twice in one batch, then once more after completion.
    let mut event = sqs_event(&[original[0].clone(), original[0].clone()], &t.queue_url);
    event.records[1].message_id = Some("duplicate-copy".into());
    let response = accepted_worker::handle_batch(&t.worker, event, None).await;
    let failures: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let after_first = t.stored(&id).await;
    assert_eq!(after_first.attempts, 1, "one of the two copies ran the job");
    // The other copy either saw the live lease (retry) or the finished job (done).
    assert!(failures.len() <= 1);

    let again =
        accepted_worker::handle_batch(&t.worker, sqs_event(&original, &t.queue_url), None).await;
    assert!(
        again.batch_item_failures.is_empty(),
        "a finished job's message is acknowledged"
    );
    let after_again = t.stored(&id).await;
    assert_eq!(after_again, after_first, "nothing about the job changed");
    assert_eq!(after_again.status, JobStatus::Completed);
}

#[tokio::test]
async fn one_bad_record_fails_alone_and_poison_is_set_aside_at_once() {
    let t = TestStack::new().await;
    let good = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
    )
    .await;
    let flaky = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "fail_attempts": 1}}),
    )
    .await;
    let poison_id = t.send_raw("this is not a job message").await;
    let future_id = t
        .send_raw(&json!({"version": 99, "job_id": good, "correlation_id": "c"}).to_string())
        .await;

    let response = t.poll_worker_once().await.expect("a batch");
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed.len(), 1, "only the flaky job is retried: {failed:?}");
    assert!(!failed.contains(&poison_id) && !failed.contains(&future_id));

    assert_eq!(t.stored(&good).await.status, JobStatus::Completed);
    let flaky_job = t.stored(&flaky).await;
    assert_eq!(flaky_job.status, JobStatus::Pending, "released for a retry");
    assert_eq!(
        flaky_job.error.as_ref().map(|e| e.code.as_str()),
        Some("demo_failure")
    );

    // Poison never comes back: it waits on the dead-letter queue with the reason.
    let mut dead = t.receive(&t.dead_letters, 10).await;
    dead.sort_by_key(|m| m.attributes["dead_letter_reason"].clone());
    let reasons: Vec<(&str, &str)> = dead
        .iter()
        .map(|m| {
            (
                m.attributes["dead_letter_reason"].as_str(),
                m.attributes["source_message_id"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("not_json", poison_id.as_str()),
            ("unsupported_version", future_id.as_str())
        ]
    );
    assert_eq!(dead[0].body, "this is not a job message");

    // The retry succeeds; nothing else is left on the queue.
    t.poll_worker_once().await.expect("second batch");
    let flaky_job = t.stored(&flaky).await;
    assert_eq!(
        (flaky_job.status, flaky_job.attempts),
        (JobStatus::Completed, 2)
    );
    assert_eq!(flaky_job.error, None);
    assert!(t.poll_worker_once().await.is_none());
}

#[tokio::test]
async fn permanent_failures_fail_at_once_and_retryable_ones_stop_at_the_limit() {
    let t =
        TestStack::with_registry(accepted_builtin_jobs::registry(), &[("MAX_ATTEMPTS", "3")]).await;
    let permanent = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "fail_attempts": 5, "failure": "permanent"}}),
    )
    .await;
    let exhausted = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "fail_attempts": 5}}),
    )
    .await;
    let bad_csv = submit(
        &t,
        json!({"type": "csv.summary", "input": {"csv": "a,b\n1\n"}}),
    )
    .await;
    t.drain(10).await;

    let p = t.stored(&permanent).await;
    assert_eq!((p.status, p.attempts), (JobStatus::Failed, 1));
    let err = p.error.unwrap();
    assert_eq!((err.code.as_str(), err.retryable), ("demo_failure", false));

    let e = t.stored(&exhausted).await;
    assert_eq!((e.status, e.attempts), (JobStatus::Failed, 3));
    assert_eq!(e.error.unwrap().code, "retries_exhausted");

    let c = t.stored(&bad_csv).await;
    assert_eq!(
        (c.status, c.error.unwrap().code.as_str()),
        (JobStatus::Failed, "invalid_csv")
    );
    assert_eq!(
        t.queue_depth(&t.queue_url).await,
        (0, 0),
        "every message was settled"
    );
}

#[tokio::test]
async fn without_a_dead_letter_sink_poison_reaches_the_dlq_by_redrive() {
    use accepted_worker::Worker;
    use std::sync::Arc;

    let t = TestStack::new().await;
    // A worker that cannot set messages aside: SQS's redrive policy is the safety net.
    let worker = Arc::new(
        Worker::new(
            t.store.clone(),
            accepted_builtin_jobs::registry(),
            &t.config,
        )
        .with_queue(Arc::new(t.consumer.clone())),
    );
    let poison = t.send_raw("{\"version\": 1, \"job_id\": 7}").await;
    let max_receive: usize = 5; // MaxReceiveCount's default in template.yaml
    let mut polls = 0;
    while t.poll_with(&worker).await.is_some() {
        polls += 1;
        assert!(
            polls <= max_receive + 1,
            "the message should have left the queue"
        );
    }
    assert_eq!(polls, max_receive);
    let dead = t.receive(&t.dead_letters, 10).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, poison);
}

/// A job type whose handler panics, to prove the panic stays inside its record.
struct Panics;

#[async_trait]
impl JobHandler for Panics {
    fn job_type(&self) -> &str {
        "test.panic"
    }
    fn validate(&self, _input: &Value) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
    async fn run(&self, _ctx: &JobContext, _input: &Value) -> Result<Value, JobFailure> {
        panic!("handler bug")
    }
}

#[tokio::test]
async fn a_panicking_handler_fails_its_own_job_only() {
    let t = TestStack::with_registry(accepted_builtin_jobs::registry().with(Panics), &[]).await;
    let bad = submit(&t, json!({"type": "test.panic", "input": {}})).await;
    let good = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
    )
    .await;
    let response = t.poll_worker_once().await.expect("a batch");
    assert!(response.batch_item_failures.is_empty());
    let bad = t.stored(&bad).await;
    assert_eq!(bad.status, JobStatus::Failed);
    assert_eq!(bad.error.unwrap().code, "handler_panicked");
    assert_eq!(t.stored(&good).await.status, JobStatus::Completed);
}

#[tokio::test]
async fn a_retryable_failure_comes_back_after_its_backoff() {
    use accepted_core::retry::Jitter;
    use accepted_worker::Worker;
    use std::sync::Arc;
    use std::time::Duration;

    let t = TestStack::with_registry(
        accepted_builtin_jobs::registry(),
        &[("RETRY_BASE_MS", "1500"), ("RETRY_CAP_MS", "60000")],
    )
    .await;
    let mut worker = Worker::new(
        t.store.clone(),
        accepted_builtin_jobs::registry(),
        &t.config,
    )
    .with_queue(Arc::new(t.consumer.clone()));
    worker.jitter = Jitter::None; // the whole first window: 1.5 s
    let worker = Arc::new(worker);
    let id = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "fail_attempts": 1}}),
    )
    .await;
    let messages = t.receive(&t.consumer, 1).await;
    let response =
        accepted_worker::handle_batch(&worker, sqs_event(&messages, &t.queue_url), None).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(t.stored(&id).await.status, JobStatus::Pending);

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        t.receive(&t.consumer, 1).await.is_empty(),
        "still backing off"
    );
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let back = t.receive(&t.consumer, 1).await;
    assert_eq!(back.len(), 1, "visible again once the backoff ran out");
    assert_eq!(back[0].receive_count, 2);
    let response =
        accepted_worker::handle_batch(&worker, sqs_event(&back, &t.queue_url), None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(t.stored(&id).await.attempts, 2);
}

#[tokio::test]
async fn heartbeats_keep_a_long_job_from_being_taken_over() {
    use std::time::Duration;

    // A one-second lease and a job of 2.5 s: only heartbeats keep the first attempt's lease.
    let t = TestStack::with_registry(accepted_builtin_jobs::registry(), &[("LEASE_SECONDS", "1")])
        .await;
    let id = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 2500}}),
    )
    .await;
    let original = t.receive(&t.consumer, 1).await;
    let worker = t.worker.clone();
    let event = sqs_event(&original, &t.queue_url);
    let first =
        tokio::spawn(async move { accepted_worker::handle_batch(&worker, event, None).await });

    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let mut duplicate = sqs_event(&original, &t.queue_url);
    duplicate.records[0].message_id = Some("duplicate".into());
    duplicate.records[0].receipt_handle = None;
    let second = accepted_worker::handle_batch(&t.worker, duplicate, None).await;
    assert_eq!(
        second.batch_item_failures.len(),
        1,
        "the live attempt keeps the job"
    );
    assert_eq!(t.stored(&id).await.attempts, 1);

    assert!(first.await.unwrap().batch_item_failures.is_empty());
    let job = t.stored(&id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Completed, 1));
}

/// A job type whose downstream can be switched off; counts the calls it makes.
struct Downstream {
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl JobHandler for Downstream {
    fn job_type(&self) -> &str {
        "test.downstream"
    }
    fn validate(&self, _input: &Value) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
    async fn run(&self, _ctx: &JobContext, _input: &Value) -> Result<Value, JobFailure> {
        use std::sync::atomic::Ordering;
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(JobFailure::retryable(
                "downstream_unavailable",
                "503 from downstream",
            ));
        }
        Ok(json!({"ok": true}))
    }
}

#[tokio::test]
async fn an_open_breaker_delays_a_failing_types_jobs_without_calling_its_downstream() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let down = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    let registry = accepted_builtin_jobs::registry().with(Downstream {
        down: Arc::clone(&down),
        calls: Arc::clone(&calls),
    });
    let t = TestStack::with_registry(
        registry,
        &[
            ("BREAKER_FAILURES", "3"),
            ("BREAKER_COOL_DOWN_MS", "800"),
            ("WORKER_CONCURRENCY", "1"), // one record at a time, so the breaker sees each
            ("MAX_ATTEMPTS", "50"),
        ],
    )
    .await;
    let ids: Vec<String> = futures::future::join_all(
        (0..8).map(|_| submit(&t, json!({"type": "test.downstream", "input": {}}))),
    )
    .await;
    let first = t.poll_worker_once().await.expect("a batch");
    assert_eq!(
        first.batch_item_failures.len(),
        8,
        "all retried, none failed"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the breaker opened after three failures"
    );
    for id in &ids {
        let job = t.stored(id).await;
        assert_eq!(job.status, JobStatus::Pending, "delayed, not failed");
    }

    // The downstream recovers; after the cool-down a probe closes the breaker and all run.
    down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(900)).await;
    for _ in 0..20 {
        if t.poll_worker_once().await.is_none() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let done = futures::future::join_all(ids.iter().map(|id| t.stored(id))).await;
        if done.iter().all(|j| j.status == JobStatus::Completed) {
            break;
        }
    }
    for id in &ids {
        assert_eq!(t.stored(id).await.status, JobStatus::Completed);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3 + 8,
        "each job ran once more, no storm"
    );
}

#[tokio::test]
async fn a_job_of_a_type_this_worker_does_not_know_fails_at_once() {
    use accepted_core::{
        CorrelationId, Job, JobMessage, JobQueue, JobStore, NewJob, Owner, Timestamp,
    };

    let t = TestStack::new().await;
    // Stored by a deployment that knew the type, run by one that no longer does.
    let job = Job::create(
        NewJob {
            owner: Owner::anonymous(),
            job_type: "retired.type".into(),
            input: json!({}),
            callback_url: None,
            correlation_id: CorrelationId::generate(),
            idempotency_key: None,
            fingerprint: "f".into(),
        },
        Timestamp::now(),
        t.config.job_retention,
    );
    t.store.create(&job).await.unwrap();
    t.consumer
        .send(
            &JobMessage::new(job.id.clone(), job.correlation_id.clone()),
            &job.owner,
        )
        .await
        .unwrap();
    let response = t.poll_worker_once().await.expect("a batch");
    assert!(response.batch_item_failures.is_empty(), "nothing to retry");
    let failed = t.stored(job.id.as_str()).await;
    assert_eq!((failed.status, failed.attempts), (JobStatus::Failed, 1));
    let error = failed.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.retryable),
        ("unknown_job_type", false)
    );
}

#[tokio::test]
async fn every_step_of_a_job_is_counted_in_the_job_metrics() {
    use accepted_core::metrics::name;
    let t =
        TestStack::with_registry(accepted_builtin_jobs::registry(), &[("MAX_ATTEMPTS", "3")]).await;
    let sleep = |input: Value| json!({"type": "demo.sleep", "input": input});
    submit(&t, sleep(json!({"duration_ms": 20}))).await;
    submit(&t, sleep(json!({"duration_ms": 1, "fail_attempts": 1}))).await;
    submit(
        &t,
        sleep(json!({"duration_ms": 1, "fail_attempts": 9, "failure": "permanent"})),
    )
    .await;
    let (replay, _) = t
        .post_job(
            &sleep(json!({"duration_ms": 20})),
            &[("idempotency-key", "k")],
        )
        .await;
    assert_eq!(replay.status(), 202);
    t.post_job(
        &sleep(json!({"duration_ms": 20})),
        &[("idempotency-key", "k")],
    )
    .await;
    t.post_job(&sleep(json!({"duration_ms": "soon"})), &[])
        .await;
    t.drain(10).await;

    let m = &t.metrics;
    let sleep_type = [("JobType", "demo.sleep")];
    assert_eq!(m.total(name::ACCEPTED, &sleep_type), 4.0);
    assert_eq!(m.total(name::REPLAYED, &sleep_type), 1.0);
    assert_eq!(
        m.total(name::REJECTED, &[("Reason", "validation-failed")]),
        1.0
    );
    // Four jobs started five times: one retried once.
    assert_eq!(m.total(name::STARTED, &sleep_type), 5.0);
    assert_eq!(m.total(name::RETRIED, &sleep_type), 1.0);
    assert_eq!(m.total(name::COMPLETED, &sleep_type), 3.0);
    assert_eq!(
        m.total(
            name::FAILED,
            &[("JobType", "demo.sleep"), ("ErrorCode", "demo_failure")]
        ),
        1.0
    );
    // Durations: one queue wait per job (first attempts only), a run time per completion
    // at least as long as the job slept.
    let lines = m.lines();
    let waits = lines
        .iter()
        .filter(|l| l[name::QUEUE_WAIT].is_number())
        .count();
    assert_eq!(waits, 4);
    let runs: Vec<f64> = lines
        .iter()
        .filter_map(|l| l[name::RUN_TIME].as_f64())
        .collect();
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter().filter(|ms| **ms >= 20.0).count() >= 2,
        "{runs:?}"
    );
    // Each line is a valid EMF document: the metrics it carries are the ones it declares.
    for line in &lines {
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "accepted");
        for metric in declared["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                line[name].is_number(),
                "{name} declared but missing: {line}"
            );
        }
    }
}
