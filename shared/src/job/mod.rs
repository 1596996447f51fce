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

/// What a handler's failure becomes on the job: its code, message and class.
impl From<&accepted_job::JobFailure> for JobError {
    fn from(failure: &accepted_job::JobFailure) -> Self {
        Self::new(failure.code(), failure.message(), failure.is_retryable())
    }
}

pub use accepted_job::Progress;

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
mod tests;
