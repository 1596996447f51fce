//! The reconciler on moto: a job that lost its message is enqueued again, a job whose worker
//! died is taken over, and no job stays unfinished past the bound.

use std::sync::Arc;
use std::time::Duration;

use accepted_core::{Job, JobStatus, JobStore, NewJob, Owner, Timestamp, Transition};
use accepted_reconciler::{sweep, Reconciler, Sweep};
use accepted_tests::TestStack;
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
