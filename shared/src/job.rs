//! The job and its state machine.
//!
//! ```text
//! pending ──start──▶ running ──complete──▶ completed
//!    ▲                 │  ├────fail──────▶ failed
//!    └────release──────┘  └─(lease expiry: start again, by another delivery)
//! pending ──cancel_pending──▶ cancelled
//! running ──request_cancel──▶ running (cancel requested) ──conclude_cancel──▶ cancelled
//! pending/running ──abandon──▶ failed   (its message died, or it outlived its deadline)
//! ```
//!
//! Cancelling a running job is cooperative: the request is recorded on the job, the attempt
//! learns of it at its next heartbeat or progress write, and the worker concludes it. Once a
//! cancel is requested nothing may start, complete, fail or release the job, so a cancelled
//! job never completes afterwards.
//!
//! Every transition names the state it expects. Stores apply a transition as one conditional
//! write, so a duplicated or stale actor loses the race and changes nothing; [`Job::apply`] is
//! the reference semantics every store adapter must match.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{CorrelationId, IdempotencyKey, JobId, Owner};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// A job never leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Why a job failed (or why its last attempt failed), in a form clients can branch on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// Stable, documented, snake_case: `timeout`, `invalid_input`, `retries_exhausted`, ...
    pub code: String,
    /// Human-readable; never contains secrets or the job input.
    pub message: String,
    pub retryable: bool,
}

impl JobError {
    pub fn new(code: impl Into<String>, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retryable,
        }
    }
}

/// Progress a running handler reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub percent: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where a completed job's result lives when it is too large to keep in the job itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRef {
    /// The object's key in the result store (`results/<job id>.json`).
    pub key: String,
    pub bytes: u64,
    /// Hex SHA-256 of the stored document.
    pub sha256: String,
}

/// Serialized as a whole only by the embedded store; the public shape is [`crate::view`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub owner: Owner,
    pub job_type: String,
    pub input: Value,
    pub callback_url: Option<String>,
    pub status: JobStatus,
    /// Number of times a worker has started this job; also the fencing token of the lease.
    pub attempts: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// While `running`: until when the current attempt owns the job.
    pub lease_until: Option<Timestamp>,
    pub result: Option<Value>,
    /// A completed job's result stored outside the job (then `result` is `None`).
    pub result_ref: Option<ResultRef>,
    /// The final error of a failed job, or the last error of a job waiting for a retry.
    pub error: Option<JobError>,
    pub progress: Option<Progress>,
    /// While `running`: when its owner asked for it to be cancelled.
    pub cancel_requested_at: Option<Timestamp>,
    /// While `pending` after a retryable failure: when the next attempt is due.
    pub retry_at: Option<Timestamp>,
    pub correlation_id: CorrelationId,
    pub idempotency_key: Option<IdempotencyKey>,
    /// SHA-256 of the canonical request, to tell a replay from a key reused for other work.
    pub fingerprint: String,
    /// When the store may forget the job (DynamoDB TTL).
    pub expires_at: Timestamp,
}

/// What a new job is made of; everything else starts at its initial value.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub owner: Owner,
    pub job_type: String,
    pub input: Value,
    pub callback_url: Option<String>,
    pub correlation_id: CorrelationId,
    pub idempotency_key: Option<IdempotencyKey>,
    pub fingerprint: String,
}

impl Job {
    pub fn create(new: NewJob, now: Timestamp, retention: Duration) -> Self {
        Self {
            id: JobId::generate(),
            owner: new.owner,
            job_type: new.job_type,
            input: new.input,
            callback_url: new.callback_url,
            status: JobStatus::Pending,
            attempts: 0,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            lease_until: None,
            result: None,
            result_ref: None,
            error: None,
            progress: None,
            cancel_requested_at: None,
            retry_at: None,
            correlation_id: new.correlation_id,
            idempotency_key: new.idempotency_key,
            fingerprint: new.fingerprint,
            // Whole seconds: DynamoDB's TTL attribute holds seconds, and every store must
            // hand back the job it was given.
            expires_at: Timestamp::from_millis(now.plus(retention).as_secs() * 1000),
        }
    }

    /// The transition applied to this job, or why it does not apply.
    pub fn apply(&self, t: &Transition) -> Result<Job, Rejected> {
        let mut next = self.clone();
        match t {
            Transition::Start { now, lease_until } => {
                let lease_expired = self.status == JobStatus::Running
                    && self.lease_until.is_some_and(|until| until < *now);
                if (self.status != JobStatus::Pending && !lease_expired)
                    || self.cancel_requested_at.is_some()
                {
                    return Err(Rejected);
                }
                next.retry_at = None;
                next.status = JobStatus::Running;
                next.attempts += 1;
                next.lease_until = Some(*lease_until);
                next.started_at = Some(self.started_at.unwrap_or(*now));
                next.updated_at = *now;
            }
            Transition::Complete {
                attempt,
                now,
                result,
            } => {
                self.expect_running_uncancelled(*attempt)?;
                next.status = JobStatus::Completed;
                next.result = Some(result.clone());
                next.error = None;
                next.finish(*now);
            }
            Transition::CompleteStored {
                attempt,
                now,
                result_ref,
            } => {
                self.expect_running_uncancelled(*attempt)?;
                next.status = JobStatus::Completed;
                next.result = None;
                next.result_ref = Some(result_ref.clone());
                next.error = None;
                next.finish(*now);
            }
            Transition::Fail {
                attempt,
                now,
                error,
            } => {
                self.expect_running_uncancelled(*attempt)?;
                next.status = JobStatus::Failed;
                next.error = Some(error.clone());
                next.finish(*now);
            }
            Transition::Heartbeat {
                attempt,
                now,
                lease_until,
            } => {
                self.expect_running(*attempt)?;
                next.lease_until = Some(*lease_until);
                next.updated_at = *now;
            }
            Transition::Progress {
                attempt,
                now,
                progress,
            } => {
                self.expect_running(*attempt)?;
                next.progress = Some(progress.clone());
                next.updated_at = *now;
            }
            Transition::Abandon { now, error } => {
                if self.status.is_terminal() || self.cancel_requested_at.is_some() {
                    return Err(Rejected);
                }
                next.status = JobStatus::Failed;
                next.error = Some(error.clone());
                next.finish(*now);
            }
            Transition::Release {
                attempt,
                now,
                error,
                retry_at,
            } => {
                self.expect_running_uncancelled(*attempt)?;
                next.status = JobStatus::Pending;
                next.error = Some(error.clone());
                next.lease_until = None;
                next.retry_at = Some(*retry_at);
                next.updated_at = *now;
            }
            Transition::CancelPending { now } => {
                if self.status != JobStatus::Pending {
                    return Err(Rejected);
                }
                next.status = JobStatus::Cancelled;
                next.finish(*now);
            }
            Transition::RequestCancel { now } => {
                if self.status != JobStatus::Running || self.cancel_requested_at.is_some() {
                    return Err(Rejected);
                }
                next.cancel_requested_at = Some(*now);
                next.updated_at = *now;
            }
            Transition::ConcludeCancel { now } => {
                if self.status != JobStatus::Running || self.cancel_requested_at.is_none() {
                    return Err(Rejected);
                }
                next.status = JobStatus::Cancelled;
                next.finish(*now);
            }
        }
        Ok(next)
    }

    fn expect_running(&self, attempt: u32) -> Result<(), Rejected> {
        if self.status == JobStatus::Running && self.attempts == attempt {
            Ok(())
        } else {
            Err(Rejected)
        }
    }

    fn expect_running_uncancelled(&self, attempt: u32) -> Result<(), Rejected> {
        self.expect_running(attempt)?;
        match self.cancel_requested_at {
            None => Ok(()),
            Some(_) => Err(Rejected),
        }
    }

    fn finish(&mut self, now: Timestamp) {
        self.lease_until = None;
        self.retry_at = None;
        self.finished_at = Some(now);
        self.updated_at = now;
    }
}

/// One step of the state machine, with the expectation that makes it safe to race.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// `pending` → `running`, or take over a `running` job whose lease expired before `now`.
    /// Increments `attempts`; the new value fences every later step of this attempt.
    Start {
        now: Timestamp,
        lease_until: Timestamp,
    },
    /// `running` (this attempt) → `running` with a later lease: a long attempt is alive.
    Heartbeat {
        attempt: u32,
        now: Timestamp,
        lease_until: Timestamp,
    },
    /// `running` (this attempt) → `running` with the handler's latest progress.
    Progress {
        attempt: u32,
        now: Timestamp,
        progress: Progress,
    },
    /// `running` (this attempt, no cancel requested) → `completed`.
    Complete {
        attempt: u32,
        now: Timestamp,
        result: Value,
    },
    /// `running` (this attempt, no cancel requested) → `completed`, with a result too large
    /// for the job kept in the result store.
    CompleteStored {
        attempt: u32,
        now: Timestamp,
        result_ref: ResultRef,
    },
    /// `running` (this attempt, no cancel requested) → `failed`.
    Fail {
        attempt: u32,
        now: Timestamp,
        error: JobError,
    },
    /// `pending` or `running` (any attempt, no cancel requested) → `failed`: nothing will run
    /// the job again — its message reached the dead-letter queue, or it outlived the bound on
    /// unfinished jobs. A job with a cancel request is concluded as cancelled instead.
    Abandon { now: Timestamp, error: JobError },
    /// `running` (this attempt, no cancel requested) → `pending`: a retryable failure, to be
    /// delivered again at `retry_at`.
    Release {
        attempt: u32,
        now: Timestamp,
        error: JobError,
        retry_at: Timestamp,
    },
    /// `pending` → `cancelled`: nothing has started, so the cancel takes effect at once.
    CancelPending { now: Timestamp },
    /// `running` (no cancel requested yet) → `running` with the request recorded.
    RequestCancel { now: Timestamp },
    /// `running` with a cancel requested → `cancelled`. Not fenced by attempt: once a cancel
    /// is requested no new attempt can start, so whoever concludes it concludes the same one.
    ConcludeCancel { now: Timestamp },
}

impl Transition {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::Heartbeat { .. } => "heartbeat",
            Self::Progress { .. } => "progress",
            Self::CompleteStored { .. } => "complete_stored",
            Self::CancelPending { .. } => "cancel_pending",
            Self::RequestCancel { .. } => "request_cancel",
            Self::ConcludeCancel { .. } => "conclude_cancel",
            Self::Complete { .. } => "complete",
            Self::Fail { .. } => "fail",
            Self::Release { .. } => "release",
            Self::Abandon { .. } => "abandon",
        }
    }
}

/// The job was not in the state the transition expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

#[cfg(test)]
mod tests {
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
}
