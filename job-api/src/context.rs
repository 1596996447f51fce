//! What a running handler can see and say: its attempt, its progress, whether it is cancelled.
//!
//! The handler side ([`JobContext`]) never does I/O: reporting progress only replaces the
//! latest value, and the worker ([`AttemptSignals`]) decides when to write it, so a chatty
//! handler costs no more store writes than the worker's throttle allows.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::ids::{CorrelationId, JobId};

/// Progress a running handler reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub percent: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Longest progress message kept; longer ones are cut at a character boundary.
pub const MAX_PROGRESS_MESSAGE_CHARS: usize = 200;

/// What a handler knows about the attempt it runs in.
#[derive(Clone)]
pub struct JobContext {
    pub job_id: JobId,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub correlation_id: CorrelationId,
    deadline: Option<SystemTime>,
    progress: Arc<watch::Sender<Option<Progress>>>,
    cancelled: watch::Receiver<bool>,
}

/// The worker's side of one attempt: reads reported progress, signals cancellation.
pub struct AttemptSignals {
    progress: watch::Receiver<Option<Progress>>,
    cancel: watch::Sender<bool>,
}

impl JobContext {
    /// A context and the worker's side of it. The worker makes one per attempt; a test of a
    /// job type makes one to call [`JobHandler::run`](crate::JobHandler::run) directly.
    pub fn new(
        job_id: JobId,
        attempt: u32,
        correlation_id: CorrelationId,
    ) -> (Self, AttemptSignals) {
        let (progress_tx, progress_rx) = watch::channel(None);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let ctx = Self {
            job_id,
            attempt,
            correlation_id,
            deadline: None,
            progress: Arc::new(progress_tx),
            cancelled: cancel_rx,
        };
        let signals = AttemptSignals {
            progress: progress_rx,
            cancel: cancel_tx,
        };
        (ctx, signals)
    }

    /// The same context, told when the worker will stop waiting for this attempt.
    pub fn with_deadline(mut self, deadline: SystemTime) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// When the worker stops waiting for this attempt and records it as timed out: work
    /// handed to another process (a Lambda function, a command) is told this, so it can stop
    /// in time. `None` when the attempt has no limit (a unit test's context).
    pub fn deadline(&self) -> Option<SystemTime> {
        self.deadline
    }

    /// Records how far the attempt is (`percent` is capped at 100). Cheap: call it as often
    /// as is convenient; only the latest value is written, at most once per throttle interval.
    pub fn report_progress(&self, percent: u8, message: Option<&str>) {
        let progress = Progress {
            percent: percent.min(100),
            message: message.map(|m| m.chars().take(MAX_PROGRESS_MESSAGE_CHARS).collect()),
        };
        self.progress.send_replace(Some(progress));
    }

    /// Whether the job's owner asked for it to be cancelled. Handlers that check this (or
    /// await [`JobContext::cancelled`]) stop early; the job ends `cancelled` either way.
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }

    /// Resolves once cancellation is requested; pending forever if it never is.
    pub async fn cancelled(&self) {
        let mut rx = self.cancelled.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            // The worker side is gone: no cancellation can arrive any more.
            std::future::pending::<()>().await;
        }
    }
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job_id)
            .field("attempt", &self.attempt)
            .field("correlation_id", &self.correlation_id)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl AttemptSignals {
    /// Tells the handler its job is being cancelled.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Waits for progress not seen yet and returns it; pending forever once the handler's
    /// context is dropped.
    pub async fn next_progress(&mut self) -> Progress {
        loop {
            if self.progress.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            if let Some(progress) = self.progress.borrow_and_update().clone() {
                return progress;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> (JobContext, AttemptSignals) {
        JobContext::new(JobId::generate(), 1, CorrelationId::generate())
    }

    #[tokio::test]
    async fn only_the_latest_progress_is_seen() {
        let (ctx, mut signals) = context();
        ctx.report_progress(10, Some("a"));
        ctx.report_progress(250, Some(&"x".repeat(500)));
        let seen = signals.next_progress().await;
        assert_eq!(seen.percent, 100);
        assert_eq!(
            seen.message.map(|m| m.len()),
            Some(MAX_PROGRESS_MESSAGE_CHARS)
        );
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            signals.next_progress(),
        );
        assert!(waiting.await.is_err(), "nothing new was reported");
    }

    #[tokio::test]
    async fn cancellation_reaches_every_clone_of_the_context() {
        let (ctx, signals) = context();
        let clone = ctx.clone();
        assert!(!ctx.is_cancelled());
        let waiter = tokio::spawn(async move { clone.cancelled().await });
        signals.cancel();
        assert!(ctx.is_cancelled() && signals.is_cancelled());
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
