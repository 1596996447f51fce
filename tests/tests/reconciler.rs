//! The reconciler on moto: a job that lost its message is enqueued again (by its dispatch
//! check a minute after it was stored, or by the sweep), a job whose worker died is taken
//! over, and no job stays unfinished past the bound.

use std::sync::Arc;
use std::time::Duration;

use accepted_aws::SqsJobQueue;
use accepted_core::batch::sqs_event;
use accepted_core::{
    Job, JobId, JobMessage, JobStatus, JobStore, NewJob, Owner, QueueConsumer, Timestamp,
    Transition,
};
use accepted_reconciler::checks::check;
use accepted_reconciler::{check_dispatch, sweep, Checked, Reconciler, Sweep};
use accepted_tests::faults::{Faults, FaultyStore, Strike};
use accepted_tests::streams::run_events_function;
use accepted_tests::TestStack;
use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::json;

fn reconciler(t: &TestStack) -> Reconciler {
    Reconciler::new(t.store.clone(), Arc::new(t.consumer.clone()), &t.config)
}

/// A job stored as `submit` stores it, whose message was never sent (the crash between the
/// write and the send).
async fn orphan(t: &TestStack) -> Job {
    let job = Job::create(
        NewJob {
            owner: Owner::anonymous(),
            job_type: "demo.sleep".into(),
            input: json!({"duration_ms": 1}),
            callback_url: None,
            correlation_id: accepted_core::CorrelationId::generate(),
            idempotency_key: None,
            fingerprint: "f".into(),
        },
        Timestamp::now(),
        t.config.job_retention,
    );
    t.store.create(&job).await.unwrap();
    job
}

fn later(by: Duration) -> Timestamp {
    Timestamp::now().plus(by)
}

#[tokio::test]
async fn a_job_that_was_never_enqueued_is_found_and_runs() {
    let t = TestStack::new().await;
    let r = reconciler(&t);
    let job = orphan(&t).await;
    assert_eq!(
        sweep(&r, Timestamp::now()).await.unwrap(),
        Sweep::default(),
        "not stale yet"
    );
    assert!(
        t.poll_worker_once().await.is_none(),
        "nothing was ever queued"
    );

    let report = sweep(&r, later(t.config.stale_after + Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!((report.examined, report.reenqueued), (1, 1));
    t.drain(3).await;
    let done = t.stored(job.id.as_str()).await;
    assert_eq!((done.status, done.attempts), (JobStatus::Completed, 1));
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over() {
    let t = TestStack::new().await;
    let r = reconciler(&t);
    let job = orphan(&t).await;
    let now = Timestamp::now();
    // The attempt started, then its worker vanished: no heartbeat, no outcome, no message.
    let start = Transition::Start {
        now,
        lease_until: now.plus(Duration::from_millis(1)),
    };
    t.store.transition(&job.id, &start).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;

    let report = sweep(&r, later(t.config.stale_after + Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(report.reenqueued, 1);
    t.drain(3).await;
    let done = t.stored(job.id.as_str()).await;
    assert_eq!((done.status, done.attempts), (JobStatus::Completed, 2));
}

#[tokio::test]
async fn no_job_stays_unfinished_past_the_bound() {
    let t = TestStack::new().await;
    let r = reconciler(&t);
    let job = orphan(&t).await;
    let report = sweep(&r, later(t.config.max_job_age + Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        (report.examined, report.expired, report.reenqueued),
        (1, 1, 0)
    );
    let failed = t.stored(job.id.as_str()).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.unwrap().code, "deadline_exceeded");
    // Finished jobs are never looked at again.
    let again = sweep(&r, later(t.config.max_job_age * 2)).await.unwrap();
    assert_eq!(again.examined, 0);
}

#[tokio::test]
async fn a_cancel_whose_attempt_died_is_concluded() {
    let t = TestStack::new().await;
    let r = reconciler(&t);
    let job = orphan(&t).await;
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now.plus(Duration::from_secs(1)),
    };
    t.store.transition(&job.id, &start).await.unwrap();
    t.store
        .transition(&job.id, &Transition::RequestCancel { now })
        .await
        .unwrap();
    let report = sweep(&r, later(t.config.stale_after + Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!((report.examined, report.cancelled), (1, 1));
    assert_eq!(t.stored(job.id.as_str()).await.status, JobStatus::Cancelled);
    assert!(t.poll_worker_once().await.is_none(), "nothing re-enqueued");
}

/// The dispatch-check queue, read as the reconciler's event source mapping reads it.
fn checks_queue(t: &TestStack) -> SqsJobQueue {
    let url = t.config.dispatch_check_queue_url.as_deref();
    SqsJobQueue::from_sdk_config(&t.sdk, url.expect("the template sets the queue"))
}

/// Waits up to `within` for checks on the dispatch-check queue.
async fn checks_arriving(t: &TestStack, within: Duration) -> Vec<accepted_core::ReceivedMessage> {
    let queue = checks_queue(t);
    let deadline = std::time::Instant::now() + within;
    loop {
        let got = queue.receive(10, Duration::ZERO).await.unwrap();
        if !got.is_empty() || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_job_never_enqueued_starts_at_its_dispatch_check_without_the_sweep() {
    let t = TestStack::with_registry(
        accepted_builtin_jobs::registry(),
        &[("DISPATCH_CHECK_DELAY_SECONDS", "1")],
    )
    .await;
    let r = reconciler(&t);
    let job = orphan(&t).await;
    run_events_function(&t).await;
    // The check is delayed: nothing is on its queue at once.
    assert!(checks_queue(&t)
        .receive(10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    let checks = checks_arriving(&t, Duration::from_secs(10)).await;
    assert_eq!(checks.len(), 1, "one check per stored job");
    let response = check_dispatch(&r, sqs_event(&checks, "checks")).await;
    assert!(response.batch_item_failures.is_empty());

    t.drain(3).await;
    let done = t.stored(job.id.as_str()).await;
    assert_eq!((done.status, done.attempts), (JobStatus::Completed, 1));
    assert_eq!(done.correlation_id, job.correlation_id);
}

fn check_record(body: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(uuid::Uuid::new_v4().to_string());
    record.body = Some(body.to_owned());
    record
}

fn check_of(job: &Job) -> SqsMessage {
    check_record(&JobMessage::new(job.id.clone(), job.correlation_id.clone()).encode())
}

#[tokio::test]
async fn a_dispatch_check_of_a_started_missing_or_unreadable_job_sends_nothing() {
    let t = TestStack::new().await;
    let r = reconciler(&t);
    let started = orphan(&t).await;
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now.plus(Duration::from_secs(60)),
    };
    t.store.transition(&started.id, &start).await.unwrap();
    let cancelled = orphan(&t).await;
    t.store
        .transition(&cancelled.id, &Transition::CancelPending { now })
        .await
        .unwrap();
    let missing = JobMessage::new(JobId::generate(), accepted_core::CorrelationId::generate());

    assert_eq!(check(&r, &check_of(&started)).await, Checked::Dispatched);
    assert_eq!(check(&r, &check_of(&cancelled)).await, Checked::Dispatched);
    assert_eq!(
        check(&r, &check_record(&missing.encode())).await,
        Checked::Gone
    );
    assert_eq!(
        check(&r, &check_record("not a run reference")).await,
        Checked::Unreadable
    );
    assert!(t.poll_worker_once().await.is_none(), "nothing enqueued");
}

#[tokio::test]
async fn a_dispatch_check_whose_store_fails_comes_back() {
    let t = TestStack::new().await;
    let job = orphan(&t).await;
    let faults = Faults::new(1.0, Strike::Before, 11, |op| op == "get");
    let store: Arc<dyn JobStore> = FaultyStore::new(t.store.clone(), faults);
    let r = Reconciler::new(store, Arc::new(t.consumer.clone()), &t.config);
    let record = check_of(&job);
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records.push(record.clone());
    let response = check_dispatch(&r, event).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        Some(response.batch_item_failures[0].item_identifier.clone()),
        record.message_id
    );
    assert!(t.poll_worker_once().await.is_none(), "nothing enqueued");
}
