//! Conformance of the lifecycle operations clients drive — cancellation, progress, retry
//! times and listing — on both backends (see `accepted_tests::ports`).

use accepted_core::{
    Job, JobError, JobQuery, JobStatus, ListPosition, Owner, Progress, Transition, TransitionError,
};
use accepted_tests::conformance;
use accepted_tests::ports::{at, new_job, Ports};

conformance!(
    a_pending_job_is_cancelled_at_once,
    a_running_job_is_cancelled_through_a_request_and_never_completes,
    progress_is_stored_for_the_current_attempt_only,
    a_released_job_carries_its_retry_time_until_it_starts_again,
    listing_pages_through_an_owners_jobs_newest_first,
    listing_filters_by_status_and_type,
);

async fn created(p: &Ports, owner: &str, created_ms: i64) -> Job {
    let mut job = new_job(owner, None, "f");
    job.created_at = at(created_ms);
    job.updated_at = at(created_ms);
    p.store.create(&job).await.unwrap();
    job
}

async fn started(p: &Ports, job: &Job) -> Job {
    let start = Transition::Start {
        now: at(1_000),
        lease_until: at(61_000),
    };
    p.store.transition(&job.id, &start).await.unwrap()
}

async fn conflict(p: &Ports, job: &Job, t: &Transition) -> Job {
    match p.store.transition(&job.id, t).await {
        Err(TransitionError::Conflict(current)) => *current,
        other => panic!("{} must be refused: {other:?}", t.name()),
    }
}

async fn a_pending_job_is_cancelled_at_once(p: Ports) {
    let job = created(&p, "owner-a", 0).await;
    let cancelled = p
        .store
        .transition(&job.id, &Transition::CancelPending { now: at(500) })
        .await
        .unwrap();
    assert_eq!(
        cancelled,
        job.apply(&Transition::CancelPending { now: at(500) })
            .unwrap()
    );
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let start = Transition::Start {
        now: at(1_000),
        lease_until: at(2_000),
    };
    assert_eq!(conflict(&p, &job, &start).await, cancelled);
    assert!(p.store.find_stale(at(10_000), 10).await.unwrap().is_empty());
}

async fn a_running_job_is_cancelled_through_a_request_and_never_completes(p: Ports) {
    let job = created(&p, "owner-a", 0).await;
    let running = started(&p, &job).await;
    let pending_only = Transition::CancelPending { now: at(1_100) };
    assert_eq!(conflict(&p, &job, &pending_only).await, running);

    let request = Transition::RequestCancel { now: at(1_200) };
    let requested = p.store.transition(&job.id, &request).await.unwrap();
    assert_eq!(requested, running.apply(&request).unwrap());
    assert_eq!(requested.cancel_requested_at, Some(at(1_200)));
    assert_eq!(conflict(&p, &job, &request).await, requested);

    for refused in [
        Transition::Complete {
            attempt: 1,
            now: at(1_300),
            result: serde_json::json!({"done": true}),
        },
        Transition::Release {
            attempt: 1,
            now: at(1_300),
            error: JobError::new("flaky", "x", true),
            retry_at: at(2_000),
        },
        Transition::Abandon {
            now: at(1_300),
            error: JobError::new("dead_lettered", "x", false),
        },
        Transition::Start {
            now: at(100_000),
            lease_until: at(200_000),
        },
    ] {
        assert_eq!(conflict(&p, &job, &refused).await, requested);
    }
    let beat = Transition::Heartbeat {
        attempt: 1,
        now: at(1_400),
        lease_until: at(70_000),
    };
    let beaten = p.store.transition(&job.id, &beat).await.unwrap();
    assert_eq!(beaten.cancel_requested_at, Some(at(1_200)));

    let conclude = Transition::ConcludeCancel { now: at(1_500) };
    let cancelled = p.store.transition(&job.id, &conclude).await.unwrap();
    assert_eq!(cancelled, beaten.apply(&conclude).unwrap());
    assert_eq!(
        (
            cancelled.status,
            cancelled.finished_at,
            cancelled.lease_until
        ),
        (JobStatus::Cancelled, Some(at(1_500)), None)
    );
    assert_eq!(conflict(&p, &job, &conclude).await, cancelled);
}

async fn progress_is_stored_for_the_current_attempt_only(p: Ports) {
    let job = created(&p, "owner-a", 0).await;
    let report = |attempt| Transition::Progress {
        attempt,
        now: at(1_100),
        progress: Progress {
            percent: 42,
            message: Some("row 420 of 1000".into()),
        },
    };
    assert_eq!(conflict(&p, &job, &report(0)).await, job);
    let running = started(&p, &job).await;
    let reported = p.store.transition(&job.id, &report(1)).await.unwrap();
    assert_eq!(reported, running.apply(&report(1)).unwrap());
    assert_eq!(p.store.get(&job.id).await.unwrap(), Some(reported.clone()));
    assert_eq!(conflict(&p, &job, &report(2)).await, reported);
}

async fn a_released_job_carries_its_retry_time_until_it_starts_again(p: Ports) {
    let job = created(&p, "owner-a", 0).await;
    started(&p, &job).await;
    let release = Transition::Release {
        attempt: 1,
        now: at(1_100),
        error: JobError::new("flaky", "try again", true),
        retry_at: at(5_100),
    };
    let released = p.store.transition(&job.id, &release).await.unwrap();
    assert_eq!(released.retry_at, Some(at(5_100)));
    let restart = Transition::Start {
        now: at(5_200),
        lease_until: at(65_200),
    };
    let again = p.store.transition(&job.id, &restart).await.unwrap();
    assert_eq!(again, released.apply(&restart).unwrap());
    assert_eq!(again.retry_at, None);
}

fn query(owner: &str, limit: usize, after: Option<ListPosition>) -> JobQuery {
    JobQuery {
        owner: Owner::parse(owner).unwrap(),
        status: None,
        job_type: None,
        limit,
        after,
    }
}

async fn listing_pages_through_an_owners_jobs_newest_first(p: Ports) {
    let mut mine = Vec::new();
    for i in 0..7 {
        mine.push(created(&p, "owner-a", i * 10).await);
        created(&p, "owner-b", i * 10 + 5).await;
    }
    mine.reverse();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = p.store.list(&query("owner-a", 3, after)).await.unwrap();
        pages += 1;
        assert!(page.jobs.len() <= 3);
        seen.extend(page.jobs);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 10, "listing does not end");
    }
    assert_eq!(seen, mine);
    assert_eq!(pages, 3);

    let nobody = p.store.list(&query("owner-c", 3, None)).await.unwrap();
    assert!(nobody.jobs.is_empty() && nobody.next.is_none());
}

async fn listing_filters_by_status_and_type(p: Ports) {
    let mut all = Vec::new();
    for i in 0..6 {
        let mut job = new_job("owner-a", None, "f");
        job.created_at = at(i * 10);
        if i % 2 == 1 {
            job.job_type = "csv.summary".into();
        }
        p.store.create(&job).await.unwrap();
        all.push(job);
    }
    let cancelled = [&all[1], &all[4]];
    for job in cancelled {
        p.store
            .transition(&job.id, &Transition::CancelPending { now: at(100) })
            .await
            .unwrap();
    }
    let ids = |jobs: &[Job]| jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>();

    let mut by_status = query("owner-a", 10, None);
    by_status.status = Some(JobStatus::Cancelled);
    let page = p.store.list(&by_status).await.unwrap();
    assert_eq!(ids(&page.jobs), [all[4].id.clone(), all[1].id.clone()]);
    assert!(page.jobs.iter().all(|j| j.status == JobStatus::Cancelled));

    let mut by_type = query("owner-a", 2, None);
    by_type.job_type = Some("csv.summary".into());
    let first = p.store.list(&by_type).await.unwrap();
    assert_eq!(ids(&first.jobs), [all[5].id.clone(), all[3].id.clone()]);
    by_type.after = first.next;
    let second = p.store.list(&by_type).await.unwrap();
    assert_eq!(ids(&second.jobs), [all[1].id.clone()]);

    let mut both = query("owner-a", 10, None);
    both.status = Some(JobStatus::Pending);
    both.job_type = Some("demo.sleep".into());
    let page = p.store.list(&both).await.unwrap();
    assert_eq!(
        ids(&page.jobs),
        [all[2].id.clone(), all[0].id.clone()],
        "pending demo.sleep jobs: 4 is cancelled"
    );
}
