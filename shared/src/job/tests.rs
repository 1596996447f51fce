//! The state machine, transition by transition: what each accepts and refuses.

use super::*;
use serde_json::json;

fn new_job() -> NewJob {
    NewJob {
        owner: Owner::anonymous(),
        job_type: "demo.sleep".into(),
        input: json!({"duration_ms": 1}),
        callback_url: None,
        correlation_id: CorrelationId::generate(),
        idempotency_key: None,
        fingerprint: "f".into(),
    }
}

fn pending() -> Job {
    Job::create(
        new_job(),
        Timestamp::from_millis(1_000),
        Duration::from_secs(60),
    )
}

fn start(at: i64) -> Transition {
    Transition::Start {
        now: Timestamp::from_millis(at),
        lease_until: Timestamp::from_millis(at + 100),
    }
}

#[test]
fn happy_path_sets_timestamps_and_counts_attempts() {
    let job = pending();
    assert_eq!(job.expires_at, Timestamp::from_millis(61_000));
    let odd = Job::create(
        new_job(),
        Timestamp::from_millis(1_999),
        Duration::from_secs(1),
    );
    assert_eq!(odd.expires_at, Timestamp::from_millis(2_000));
    let running = job.apply(&start(2_000)).unwrap();
    assert_eq!((running.status, running.attempts), (JobStatus::Running, 1));
    assert_eq!(running.started_at, Some(Timestamp::from_millis(2_000)));
    let done = running
        .apply(&Transition::Complete {
            attempt: 1,
            now: Timestamp::from_millis(3_000),
            result: json!({"ok": true}),
        })
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.finished_at, Some(Timestamp::from_millis(3_000)));
    assert_eq!(done.lease_until, None);
}

#[test]
fn terminal_states_accept_nothing() {
    let running = pending().apply(&start(2_000)).unwrap();
    let failed = running
        .apply(&Transition::Fail {
            attempt: 1,
            now: Timestamp::from_millis(3_000),
            error: JobError::new("boom", "boom", false),
        })
        .unwrap();
    assert!(failed.status.is_terminal());
    assert_eq!(failed.apply(&start(10_000)), Err(Rejected));
    assert_eq!(
        failed.apply(&Transition::Complete {
            attempt: 1,
            now: Timestamp::from_millis(4_000),
            result: json!(null)
        }),
        Err(Rejected)
    );
}

#[test]
fn a_live_lease_blocks_a_second_start_and_an_expired_one_is_taken_over() {
    let running = pending().apply(&start(2_000)).unwrap();
    assert_eq!(running.apply(&start(2_050)), Err(Rejected));
    let taken = running.apply(&start(2_200)).unwrap();
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.started_at, Some(Timestamp::from_millis(2_000)));
    // The first attempt is fenced off: it can no longer complete the job.
    let stale = Transition::Complete {
        attempt: 1,
        now: Timestamp::from_millis(2_300),
        result: json!(1),
    };
    assert_eq!(taken.apply(&stale), Err(Rejected));
}

#[test]
fn a_heartbeat_extends_only_the_current_attempts_lease() {
    let running = pending().apply(&start(2_000)).unwrap();
    let beat = |attempt| Transition::Heartbeat {
        attempt,
        now: Timestamp::from_millis(2_090),
        lease_until: Timestamp::from_millis(2_500),
    };
    let extended = running.apply(&beat(1)).unwrap();
    assert_eq!(extended.lease_until, Some(Timestamp::from_millis(2_500)));
    assert_eq!(
        extended.apply(&start(2_200)),
        Err(Rejected),
        "still leased at 2 200"
    );
    assert_eq!(running.apply(&beat(2)), Err(Rejected));
    assert_eq!(pending().apply(&beat(0)), Err(Rejected));
}

#[test]
fn release_returns_the_job_to_pending_with_its_last_error() {
    let running = pending().apply(&start(2_000)).unwrap();
    let released = running
        .apply(&Transition::Release {
            attempt: 1,
            now: Timestamp::from_millis(2_500),
            error: JobError::new("flaky", "try again", true),
            retry_at: Timestamp::from_millis(2_900),
        })
        .unwrap();
    assert_eq!(released.status, JobStatus::Pending);
    assert_eq!(released.retry_at, Some(Timestamp::from_millis(2_900)));
    assert_eq!(released.error.as_ref().map(|e| e.retryable), Some(true));
    let again = released.apply(&start(3_000)).unwrap();
    assert_eq!((again.attempts, again.retry_at), (2, None));
}

#[test]
fn a_pending_job_is_cancelled_at_once() {
    let at = Timestamp::from_millis(1_500);
    let cancelled = pending()
        .apply(&Transition::CancelPending { now: at })
        .unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(cancelled.finished_at, Some(at));
    assert_eq!(cancelled.apply(&start(2_000)), Err(Rejected));
    assert_eq!(
        cancelled.apply(&Transition::RequestCancel { now: at }),
        Err(Rejected)
    );
}

#[test]
fn a_running_job_is_cancelled_cooperatively_and_never_completes() {
    let running = pending().apply(&start(2_000)).unwrap();
    assert_eq!(
        running.apply(&Transition::CancelPending {
            now: Timestamp::from_millis(2_010)
        }),
        Err(Rejected)
    );
    let requested = running
        .apply(&Transition::RequestCancel {
            now: Timestamp::from_millis(2_010),
        })
        .unwrap();
    assert_eq!(requested.status, JobStatus::Running);
    assert_eq!(
        requested.cancel_requested_at,
        Some(Timestamp::from_millis(2_010))
    );
    let at = Timestamp::from_millis(2_050);
    let refused = [
        Transition::Complete {
            attempt: 1,
            now: at,
            result: json!(1),
        },
        Transition::Fail {
            attempt: 1,
            now: at,
            error: JobError::new("x", "x", false),
        },
        Transition::Release {
            attempt: 1,
            now: at,
            error: JobError::new("x", "x", true),
            retry_at: at,
        },
        Transition::Abandon {
            now: at,
            error: JobError::new("x", "x", false),
        },
        Transition::RequestCancel { now: at },
        // Not even once the lease has expired: no new attempt after a cancel request.
        start(10_000),
    ];
    for t in refused {
        assert_eq!(requested.apply(&t), Err(Rejected), "{}", t.name());
    }
    // The attempt keeps its lease and may still report progress while it winds down.
    let beat = Transition::Heartbeat {
        attempt: 1,
        now: at,
        lease_until: Timestamp::from_millis(2_500),
    };
    assert!(requested.apply(&beat).is_ok());
    let cancelled = requested
        .apply(&Transition::ConcludeCancel { now: at })
        .unwrap();
    assert_eq!(
        (cancelled.status, cancelled.finished_at),
        (JobStatus::Cancelled, Some(at))
    );
    assert_eq!(
        running.apply(&Transition::ConcludeCancel { now: at }),
        Err(Rejected),
        "nothing to conclude without a request"
    );
}

#[test]
fn progress_is_recorded_only_for_the_current_attempt() {
    let running = pending().apply(&start(2_000)).unwrap();
    let report = |attempt| Transition::Progress {
        attempt,
        now: Timestamp::from_millis(2_040),
        progress: Progress {
            percent: 40,
            message: Some("rows".into()),
        },
    };
    let updated = running.apply(&report(1)).unwrap();
    assert_eq!(updated.progress.as_ref().map(|p| p.percent), Some(40));
    assert_eq!(updated.updated_at, Timestamp::from_millis(2_040));
    assert_eq!(running.apply(&report(2)), Err(Rejected));
    assert_eq!(pending().apply(&report(0)), Err(Rejected));
}

#[test]
fn dead_lettering_fails_any_unfinished_job_and_nothing_else() {
    let error = JobError::new("dead_lettered", "gone", false);
    let dead = |job: &Job| {
        job.apply(&Transition::Abandon {
            now: Timestamp::from_millis(9_000),
            error: error.clone(),
        })
    };
    let running = pending().apply(&start(2_000)).unwrap();
    for job in [pending(), running.clone()] {
        let failed = dead(&job).unwrap();
        assert_eq!(
            (failed.status, failed.lease_until),
            (JobStatus::Failed, None)
        );
        assert_eq!(failed.finished_at, Some(Timestamp::from_millis(9_000)));
    }
    let done = running
        .apply(&Transition::Complete {
            attempt: 1,
            now: Timestamp::from_millis(3_000),
            result: json!(1),
        })
        .unwrap();
    assert_eq!(dead(&done), Err(Rejected));
}

#[test]
fn statuses_round_trip_through_their_names() {
    for s in JobStatus::ALL {
        assert_eq!(JobStatus::parse(s.as_str()), Some(s));
    }
    assert_eq!(JobStatus::parse("done"), None);
}
