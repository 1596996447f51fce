//! One conformance suite for the ports, run against the embedded adapters (SQLite) and the
//! AWS adapters (DynamoDB and SQS on moto). A behaviour that differs is a bug in the embedded
//! one: the AWS services are the reference.

use std::sync::Arc;
use std::time::Duration;

use accepted_core::{
    CorrelationId, CreateOutcome, IdempotencyKey, Job, JobError, JobMessage, JobStatus, Owner,
    QueueError, StoreError, Timestamp, Transition, TransitionError,
};
use accepted_embedded::QueueSettings;
use accepted_tests::conformance;
use accepted_tests::ports::{at, new_job, Ports};
use serde_json::json;

conformance!(
    create_then_get_returns_the_same_job,
    a_key_replays_its_job_only_for_the_same_request_and_owner,
    a_key_whose_job_expired_starts_a_new_job,
    transitions_follow_the_state_machine,
    an_expired_lease_is_taken_over_and_fences_the_old_attempt,
    heartbeats_extend_the_lease_of_the_current_attempt_only,
    dead_lettering_fails_unfinished_jobs_only,
    stale_unfinished_jobs_are_found_oldest_first,
    transitions_on_a_missing_job_are_not_found,
    concurrent_starts_let_exactly_one_attempt_run,
    a_received_message_is_hidden_until_deleted_or_released,
    visibility_timeouts_expire,
    a_message_received_too_often_moves_to_the_dead_letter_queue,
    batches_hold_at_most_ten_and_lose_nothing,
    a_batch_delete_answers_for_each_message,
    a_waiting_receive_returns_a_message_sent_meanwhile,
    unfinished_jobs_are_counted_per_owner_up_to_a_bound,
);

async fn create_then_get_returns_the_same_job(p: Ports) {
    let job = new_job("alice", None, "fp");
    assert_eq!(
        p.store.create(&job).await.unwrap(),
        CreateOutcome::Created(job.clone())
    );
    assert_eq!(p.store.get(&job.id).await.unwrap(), Some(job));
    assert_eq!(
        p.store
            .get(&accepted_core::JobId::generate())
            .await
            .unwrap(),
        None
    );
}

/// The job a creation stored: `job` itself, except that a store may give a keyed job an id
/// of its own (DynamoDB derives it from the owner and the key).
fn stored_as(outcome: CreateOutcome, job: &Job) -> Job {
    let CreateOutcome::Created(stored) = outcome else {
        panic!("{} was not created: {outcome:?}", job.id);
    };
    let mut expected = job.clone();
    if job.idempotency_key.is_some() {
        expected.id = stored.id.clone();
    }
    assert_eq!(stored, expected);
    stored
}

async fn a_key_replays_its_job_only_for_the_same_request_and_owner(p: Ports) {
    let first = new_job("alice", Some("key-1"), "fp-a");
    let first = stored_as(p.store.create(&first).await.unwrap(), &first);
    assert_eq!(p.store.get(&first.id).await.unwrap(), Some(first.clone()));
    let again = new_job("alice", Some("key-1"), "fp-a");
    assert_eq!(
        p.store.create(&again).await.unwrap(),
        CreateOutcome::Replayed(first.clone())
    );
    assert_eq!(
        p.store.get(&again.id).await.unwrap(),
        None,
        "the replay stored nothing"
    );
    let other = new_job("alice", Some("key-1"), "fp-b");
    assert_eq!(p.store.create(&other).await, Err(StoreError::KeyReused));
    let bobs = new_job("bob", Some("key-1"), "fp-b");
    let bobs = stored_as(p.store.create(&bobs).await.unwrap(), &bobs);
    assert_ne!(bobs.id, first.id);
    let alice = Owner::parse("alice").unwrap();
    let key = IdempotencyKey::parse("key-1").unwrap();
    assert_eq!(
        p.store.find_by_idempotency_key(&alice, &key).await.unwrap(),
        Some(first)
    );
}

/// A key is retained as long as its job: once the job has expired (TTL may not have deleted
/// it yet), the key starts a new job, whatever its request.
async fn a_key_whose_job_expired_starts_a_new_job(p: Ports) {
    let mut old = new_job("alice", Some("key-x"), "fp-a");
    old.expires_at = Timestamp::from_millis(Timestamp::now().as_millis() - 10_000);
    stored_as(p.store.create(&old).await.unwrap(), &old);
    let alice = Owner::parse("alice").unwrap();
    let key = IdempotencyKey::parse("key-x").unwrap();
    assert_eq!(
        p.store.find_by_idempotency_key(&alice, &key).await.unwrap(),
        None,
        "an expired job does not retain its key"
    );
    let new = new_job("alice", Some("key-x"), "fp-b");
    let new = stored_as(p.store.create(&new).await.unwrap(), &new);
    assert_eq!(p.store.get(&new.id).await.unwrap(), Some(new.clone()));
    assert_eq!(
        p.store.find_by_idempotency_key(&alice, &key).await.unwrap(),
        Some(new)
    );
}

async fn transitions_follow_the_state_machine(p: Ports) {
    let job = new_job("alice", None, "fp");
    p.store.create(&job).await.unwrap();
    let running = p
        .store
        .transition(
            &job.id,
            &Transition::Start {
                now: at(0),
                lease_until: at(60_000),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        running,
        job.apply(&Transition::Start {
            now: at(0),
            lease_until: at(60_000)
        })
        .unwrap()
    );

    let second = Transition::Start {
        now: at(1_000),
        lease_until: at(61_000),
    };
    match p.store.transition(&job.id, &second).await {
        Err(TransitionError::Conflict(current)) => assert_eq!(*current, running),
        other => panic!("a live lease must refuse a second start: {other:?}"),
    }
    let released = Transition::Release {
        attempt: 1,
        now: at(2_000),
        error: JobError::new("flaky", "try again", true),
        retry_at: at(2_500),
    };
    let pending = p.store.transition(&job.id, &released).await.unwrap();
    assert_eq!(
        (pending.status, pending.lease_until),
        (JobStatus::Pending, None)
    );
    assert_eq!(
        pending.error.as_ref().map(|e| e.code.as_str()),
        Some("flaky")
    );

    let restart = Transition::Start {
        now: at(3_000),
        lease_until: at(63_000),
    };
    assert_eq!(
        p.store
            .transition(&job.id, &restart)
            .await
            .unwrap()
            .attempts,
        2
    );
    let wrong_attempt = Transition::Complete {
        attempt: 1,
        now: at(4_000),
        result: json!(1),
    };
    assert!(matches!(
        p.store.transition(&job.id, &wrong_attempt).await,
        Err(TransitionError::Conflict(_))
    ));
    let result = json!({"rows": 2, "columns": [{"name": "a", "mean": 1.5}], "note": null});
    let complete = Transition::Complete {
        attempt: 2,
        now: at(5_000),
        result: result.clone(),
    };
    let done = p.store.transition(&job.id, &complete).await.unwrap();
    assert_eq!(
        (done.status, done.result, done.error),
        (JobStatus::Completed, Some(result), None)
    );
    assert_eq!(done.finished_at, Some(at(5_000)));
    assert_eq!(
        p.store.get(&job.id).await.unwrap().as_ref(),
        Some(&done_job(&p, &job).await)
    );

    for late in [
        Transition::Start {
            now: at(999_999),
            lease_until: at(1_999_999),
        },
        Transition::Fail {
            attempt: 2,
            now: at(6_000),
            error: JobError::new("x", "x", false),
        },
    ] {
        match p.store.transition(&job.id, &late).await {
            Err(TransitionError::Conflict(current)) => {
                assert_eq!(current.status, JobStatus::Completed)
            }
            other => panic!("a terminal job must refuse {}: {other:?}", late.name()),
        }
    }
}

async fn done_job(p: &Ports, job: &Job) -> Job {
    p.store.get(&job.id).await.unwrap().unwrap()
}

async fn an_expired_lease_is_taken_over_and_fences_the_old_attempt(p: Ports) {
    let job = new_job("alice", None, "fp");
    p.store.create(&job).await.unwrap();
    p.store
        .transition(
            &job.id,
            &Transition::Start {
                now: at(0),
                lease_until: at(100),
            },
        )
        .await
        .unwrap();
    let takeover = Transition::Start {
        now: at(101),
        lease_until: at(10_000),
    };
    let taken = p.store.transition(&job.id, &takeover).await.unwrap();
    assert_eq!((taken.attempts, taken.started_at), (2, Some(at(0))));
    let stale = Transition::Fail {
        attempt: 1,
        now: at(200),
        error: JobError::new("late", "late", false),
    };
    assert!(matches!(
        p.store.transition(&job.id, &stale).await,
        Err(TransitionError::Conflict(_))
    ));
}

async fn heartbeats_extend_the_lease_of_the_current_attempt_only(p: Ports) {
    let job = new_job("alice", None, "fp");
    p.store.create(&job).await.unwrap();
    p.store
        .transition(
            &job.id,
            &Transition::Start {
                now: at(0),
                lease_until: at(100),
            },
        )
        .await
        .unwrap();
    let beat = |attempt| Transition::Heartbeat {
        attempt,
        now: at(90),
        lease_until: at(500),
    };
    let extended = p.store.transition(&job.id, &beat(1)).await.unwrap();
    assert_eq!(
        (extended.lease_until, extended.updated_at),
        (Some(at(500)), at(90))
    );
    let too_early = Transition::Start {
        now: at(200),
        lease_until: at(300),
    };
    assert!(matches!(
        p.store.transition(&job.id, &too_early).await,
        Err(TransitionError::Conflict(_))
    ));
    assert!(matches!(
        p.store.transition(&job.id, &beat(2)).await,
        Err(TransitionError::Conflict(_))
    ));
}

async fn dead_lettering_fails_unfinished_jobs_only(p: Ports) {
    let error = JobError::new("dead_lettered", "exhausted", false);
    let dead = Transition::Abandon {
        now: at(50),
        error: error.clone(),
    };
    let pending = new_job("alice", None, "fp");
    p.store.create(&pending).await.unwrap();
    let failed = p.store.transition(&pending.id, &dead).await.unwrap();
    assert_eq!(failed, pending.apply(&dead).unwrap());

    let running = new_job("alice", None, "fp");
    p.store.create(&running).await.unwrap();
    p.store
        .transition(
            &running.id,
            &Transition::Start {
                now: at(0),
                lease_until: at(100),
            },
        )
        .await
        .unwrap();
    let failed = p.store.transition(&running.id, &dead).await.unwrap();
    assert_eq!(
        (failed.status, failed.lease_until, failed.error),
        (JobStatus::Failed, None, Some(error))
    );
    assert!(matches!(
        p.store.transition(&running.id, &dead).await,
        Err(TransitionError::Conflict(_))
    ));
}

async fn stale_unfinished_jobs_are_found_oldest_first(p: Ports) {
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let job = new_job("alice", None, "fp");
        p.store.create(&job).await.unwrap();
        jobs.push(job);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before_all = jobs[0].created_at;
    let after_all = Timestamp::now().plus(Duration::from_secs(1));
    assert!(p.store.find_stale(before_all, 10).await.unwrap().is_empty());
    let ids = |found: Vec<Job>| found.into_iter().map(|j| j.id).collect::<Vec<_>>();
    let all: Vec<_> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids(p.store.find_stale(after_all, 10).await.unwrap()), all);

    // A finished job is no longer stale; a running one still is.
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now.plus(Duration::from_secs(60)),
    };
    p.store.transition(&jobs[0].id, &start).await.unwrap();
    let done = Transition::Complete {
        attempt: 1,
        now,
        result: json!(null),
    };
    p.store.transition(&jobs[0].id, &done).await.unwrap();
    p.store.transition(&jobs[1].id, &start).await.unwrap();
    let later = Timestamp::now().plus(Duration::from_secs(1));
    assert_eq!(
        ids(p.store.find_stale(later, 10).await.unwrap()),
        vec![jobs[2].id.clone(), jobs[1].id.clone()]
    );
    assert_eq!(p.store.find_stale(later, 1).await.unwrap().len(), 1);
}

async fn unfinished_jobs_are_counted_per_owner_up_to_a_bound(p: Ports) {
    let owner = format!("counted-{}", uuid::Uuid::new_v4().simple());
    let count = |up_to| {
        let (store, owner) = (Arc::clone(&p.store), owner.clone());
        async move {
            let owner = accepted_core::Owner::parse(&owner).unwrap();
            store.count_unfinished(&owner, up_to).await.unwrap()
        }
    };
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let job = new_job(&owner, None, "fp");
        p.store.create(&job).await.unwrap();
        jobs.push(job);
    }
    p.store
        .create(&new_job("someone-else", None, "fp"))
        .await
        .unwrap();
    assert_eq!((count(10).await, count(3).await), (4, 3));

    // Running still counts; every way of finishing stops counting.
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now.plus(Duration::from_secs(60)),
    };
    p.store.transition(&jobs[0].id, &start).await.unwrap();
    assert_eq!(count(10).await, 4);
    let done = Transition::Complete {
        attempt: 1,
        now,
        result: json!(null),
    };
    p.store.transition(&jobs[0].id, &done).await.unwrap();
    let cancel = Transition::CancelPending { now };
    p.store.transition(&jobs[1].id, &cancel).await.unwrap();
    let dead = Transition::Abandon {
        now,
        error: JobError::new("dead_lettered", "exhausted", false),
    };
    p.store.transition(&jobs[2].id, &dead).await.unwrap();
    assert_eq!(count(10).await, 1);
}

async fn transitions_on_a_missing_job_are_not_found(p: Ports) {
    let t = Transition::Start {
        now: at(0),
        lease_until: at(1),
    };
    assert_eq!(
        p.store
            .transition(&accepted_core::JobId::generate(), &t)
            .await,
        Err(TransitionError::NotFound)
    );
}

async fn concurrent_starts_let_exactly_one_attempt_run(p: Ports) {
    let job = new_job("alice", None, "fp");
    p.store.create(&job).await.unwrap();
    let start = Transition::Start {
        now: at(0),
        lease_until: at(60_000),
    };
    let attempts = (0..20).map(|_| p.store.transition(&job.id, &start));
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .all(|r| r.is_ok() || matches!(r, Err(TransitionError::Conflict(_)))));
}

fn message() -> JobMessage {
    JobMessage::new(accepted_core::JobId::generate(), CorrelationId::generate())
}

/// The tenant the conformance suite's messages are sent for.
fn owner() -> Owner {
    Owner::parse("tenant-a").expect("an owner")
}

async fn a_received_message_is_hidden_until_deleted_or_released(p: Ports) {
    let (a, b) = (message(), message());
    p.queue.send(&a, &owner()).await.unwrap();
    p.queue.send(&b, &owner()).await.unwrap();
    let got = p.consumer.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 2);
    let first = got.iter().find(|m| m.body == a.encode()).expect("a");
    assert_eq!(first.receive_count, 1);
    assert_eq!(first.correlation_id(), Some(a.correlation_id.as_str()));
    assert!(p
        .consumer
        .receive(10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());

    let second = got.iter().find(|m| m.body == b.encode()).expect("b");
    p.consumer.delete(&first.receipt_handle).await.unwrap();
    p.consumer
        .change_visibility(&second.receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let again = p.consumer.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(
        again.len(),
        1,
        "the deleted message is gone, the released one is back"
    );
    assert_eq!(
        (again[0].body.as_str(), again[0].receive_count),
        (b.encode().as_str(), 2)
    );
    assert_eq!(again[0].message_id, second.message_id);
}

async fn visibility_timeouts_expire(p: Ports) {
    p.queue.send(&message(), &owner()).await.unwrap();
    let got = p.consumer.receive(1, Duration::ZERO).await.unwrap();
    p.consumer
        .change_visibility(&got[0].receipt_handle, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(p
        .consumer
        .receive(1, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    // Back after the timeout: SQS promises no sub-second timing, and LocalStack re-checks
    // in-flight messages once a second, so allow up to 5 s.
    let started = std::time::Instant::now();
    let back = loop {
        let back = p.consumer.receive(1, Duration::ZERO).await.unwrap();
        if !back.is_empty() || started.elapsed() > Duration::from_secs(5) {
            break back;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(back.len(), 1, "visible again within 5 s");
    assert_eq!(back[0].receive_count, 2);
}

async fn a_message_received_too_often_moves_to_the_dead_letter_queue(p: Ports) {
    let msg = message();
    p.queue.send(&msg, &owner()).await.unwrap();
    for receive in 1..=p.max_receive_count {
        let got = p.consumer.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1, "receive {receive}");
        assert_eq!(got[0].receive_count, receive);
        p.consumer
            .change_visibility(&got[0].receipt_handle, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(p
        .consumer
        .receive(1, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    let dead = p.dead_letters.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, msg.encode());
}

async fn batches_hold_at_most_ten_and_lose_nothing(p: Ports) {
    let sent: Vec<JobMessage> = (0..12).map(|_| message()).collect();
    // Two tenants' fair-queue groups: neither loses a message.
    let other = Owner::parse("tenant-b").expect("an owner");
    for (i, m) in sent.iter().enumerate() {
        let tenant = if i % 3 == 0 { other.clone() } else { owner() };
        p.queue.send(m, &tenant).await.unwrap();
    }
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let got = p.consumer.receive(10, Duration::ZERO).await.unwrap();
        assert!(got.len() <= 10);
        for m in &got {
            p.consumer.delete(&m.receipt_handle).await.unwrap();
        }
        bodies.extend(got.into_iter().map(|m| m.body));
        if bodies.len() == sent.len() {
            break;
        }
    }
    bodies.sort();
    let mut expected: Vec<String> = sent.iter().map(JobMessage::encode).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    assert!(p
        .consumer
        .receive(10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
}

async fn a_batch_delete_answers_for_each_message(p: Ports) {
    // More than one SQS request holds: the adapter splits them.
    for _ in 0..12 {
        p.queue.send(&message(), &owner()).await.unwrap();
    }
    let mut received = Vec::new();
    for _ in 0..10 {
        received.extend(p.consumer.receive(10, Duration::ZERO).await.unwrap());
        if received.len() == 12 {
            break;
        }
    }
    assert_eq!(received.len(), 12);
    let handles: Vec<&str> = received.iter().map(|m| m.receipt_handle.as_str()).collect();
    assert_eq!(p.consumer.delete_batch(&handles).await, vec![Ok(()); 12]);
    assert_eq!(
        p.consumer.delete_batch(&handles).await,
        vec![Ok(()); 12],
        "deleted twice, as `delete`"
    );
    assert_eq!(p.consumer.delete_batch(&[]).await, vec![]);
    for message in &received {
        p.consumer
            .change_visibility(&message.receipt_handle, Duration::ZERO)
            .await
            .expect_err("gone");
    }
    assert!(p
        .consumer
        .receive(10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
}

async fn a_waiting_receive_returns_a_message_sent_meanwhile(p: Ports) {
    let queue = Arc::clone(&p.queue);
    let msg = message();
    let sent = msg.clone();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        queue.send(&sent, &owner()).await.unwrap();
    });
    let got = p.consumer.receive(1, Duration::from_secs(3)).await.unwrap();
    sender.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, msg.encode());
    let deleted_twice = p.consumer.delete(&got[0].receipt_handle).await;
    assert_eq!(deleted_twice, Ok(()));
    assert!(matches!(
        p.consumer
            .change_visibility("not-a-receipt-handle", Duration::ZERO)
            .await,
        Err(QueueError::NotInFlight)
    ));
}

/// The embedded queue's defaults must be the template's, or local runs would redrive
/// differently from AWS.
#[test]
fn embedded_queue_defaults_match_the_template() {
    let text = std::fs::read_to_string(accepted_infra::default_template_path()).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let defaults = QueueSettings::default();
    // The queue's visibility follows the worker's timeout (six times it), by a mapping.
    let timeout = doc["Parameters"]["WorkerTimeoutSeconds"]["Default"]
        .as_u64()
        .expect("a default worker timeout");
    assert_eq!(
        doc["Mappings"]["WorkerTimeouts"][timeout.to_string().as_str()]["QueueVisibility"].as_u64(),
        Some(defaults.visibility_timeout.as_secs())
    );
    assert_eq!(
        doc["Parameters"]["MaxReceiveCount"]["Default"].as_u64(),
        defaults.max_receive_count.map(u64::from)
    );
}
