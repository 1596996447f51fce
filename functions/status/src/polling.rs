//! When a client should look at a job again, and how it can tell that nothing changed.
//!
//! `Retry-After` follows what the job is doing instead of being a constant: a job waiting
//! out a backoff is due at its `retry_at`; a running job with progress is due about when the
//! rate so far says it will finish; a running job without progress is asked about less often
//! the longer it runs. The value is clamped between the configured floor and [`MAX_RETRY_AFTER`].

use std::time::Duration;

use accepted_core::{Job, JobStatus, Timestamp};
use sha2::{Digest, Sha256};

/// Longest `Retry-After` given: progress should still show up reasonably often.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Seconds until the job is worth asking about again; `None` once it is finished.
pub fn retry_after(job: &Job, now: Timestamp, floor: Duration) -> Option<u64> {
    if job.status.is_terminal() {
        return None;
    }
    let estimate = match job.status {
        JobStatus::Pending => job.retry_at.map(|at| at.since(now)).unwrap_or(floor),
        _ if job.cancel_requested_at.is_some() => floor,
        _ => {
            let elapsed = job.started_at.map(|at| now.since(at)).unwrap_or_default();
            match job.progress.as_ref().map(|p| u32::from(p.percent)) {
                Some(percent @ 1..=99) => elapsed * (100 - percent) / percent,
                _ => elapsed / 4,
            }
        }
    };
    let clamped = estimate.clamp(floor, MAX_RETRY_AFTER.max(floor));
    Some(clamped.as_secs_f64().ceil().max(1.0) as u64)
}

/// A weak entity tag over what a client watches: status, attempts, progress, cancellation,
/// retry time and outcome. Heartbeats change none of these, so they wake no long poll.
pub fn etag(job: &Job) -> String {
    let observed = serde_json::json!([
        job.status,
        job.attempts,
        job.progress,
        job.cancel_requested_at,
        job.retry_at,
        job.finished_at,
        job.error.as_ref().map(|e| &e.code),
    ]);
    let digest = Sha256::digest(observed.to_string().as_bytes());
    format!("W/\"{}\"", hex::encode(&digest[..12]))
}

/// Whether an `If-None-Match` header value names `etag` (weak comparison, RFC 9110 §13.1.2).
pub fn matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if_none_match.trim() == "*" || if_none_match.split(',').any(|t| bare(t) == bare(etag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use accepted_core::{CorrelationId, NewJob, Owner, Progress, Transition};
    use serde_json::json;

    const FLOOR: Duration = Duration::from_secs(2);

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + secs * 1000)
    }

    fn job() -> Job {
        let new = NewJob {
            owner: Owner::anonymous(),
            job_type: "demo.sleep".into(),
            input: json!({}),
            callback_url: None,
            correlation_id: CorrelationId::generate(),
            idempotency_key: None,
            fingerprint: "f".into(),
        };
        Job::create(new, at(0), Duration::from_secs(86_400))
    }

    fn running(started: i64) -> Job {
        job()
            .apply(&Transition::Start {
                now: at(started),
                lease_until: at(started + 60),
            })
            .unwrap()
    }

    #[test]
    fn a_new_job_is_asked_about_at_the_floor() {
        assert_eq!(retry_after(&job(), at(0), FLOOR), Some(2));
    }

    #[test]
    fn a_job_in_backoff_is_due_at_its_retry_time() {
        let mut waiting = job();
        waiting.retry_at = Some(at(17));
        assert_eq!(retry_after(&waiting, at(10), FLOOR), Some(7));
        waiting.retry_at = Some(at(500));
        assert_eq!(retry_after(&waiting, at(10), FLOOR), Some(30), "capped");
        waiting.retry_at = Some(at(5));
        assert_eq!(retry_after(&waiting, at(10), FLOOR), Some(2), "overdue");
    }

    #[test]
    fn a_running_job_is_due_when_its_progress_says_it_finishes() {
        let mut job = running(0);
        job.progress = Some(Progress {
            percent: 40,
            message: None,
        });
        // 40 % in 8 s: 60 % more takes about 12 s.
        assert_eq!(retry_after(&job, at(8), FLOOR), Some(12));
        job.progress = Some(Progress {
            percent: 95,
            message: None,
        });
        assert_eq!(retry_after(&job, at(8), FLOOR), Some(2));
    }

    #[test]
    fn a_long_running_job_without_progress_is_asked_about_less_often() {
        let job = running(0);
        assert_eq!(retry_after(&job, at(1), FLOOR), Some(2));
        assert_eq!(retry_after(&job, at(40), FLOOR), Some(10));
        assert_eq!(retry_after(&job, at(4000), FLOOR), Some(30));
    }

    #[test]
    fn finished_jobs_have_no_retry_after() {
        let done = running(0)
            .apply(&Transition::Complete {
                attempt: 1,
                now: at(3),
                result: json!(1),
            })
            .unwrap();
        assert_eq!(retry_after(&done, at(4), FLOOR), None);
    }

    #[test]
    fn heartbeats_keep_the_etag_and_progress_changes_it() {
        let job = running(0);
        let beat = job
            .apply(&Transition::Heartbeat {
                attempt: 1,
                now: at(5),
                lease_until: at(65),
            })
            .unwrap();
        assert_eq!(etag(&job), etag(&beat));
        let progressed = beat
            .apply(&Transition::Progress {
                attempt: 1,
                now: at(6),
                progress: Progress {
                    percent: 10,
                    message: None,
                },
            })
            .unwrap();
        assert_ne!(etag(&beat), etag(&progressed));
        let tag = etag(&progressed);
        assert!(matches(&tag, &tag));
        assert!(matches(
            &format!("\"x\", {}", tag.trim_start_matches("W/")),
            &tag
        ));
        assert!(matches("*", &tag));
        assert!(!matches(&etag(&job), &tag));
    }
}
