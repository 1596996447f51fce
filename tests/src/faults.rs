//! Fault injection at the ports: wrappers around a real `JobStore` and `JobQueue` that fail
//! chosen calls — before the call (the request never arrived) or after it (it took effect,
//! but the answer was lost, the nastier case) — and a recorder that checks every job only
//! ever moves forward; and a flaky event publisher.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use accepted_core::events::CloudEvent;
use accepted_core::{
    CreateOutcome, EventPublisher, IdempotencyKey, Job, JobId, JobPage, JobQuery, JobQueue,
    JobStatus, JobStore, Owner, PublishError, QueueError, StoreError, Timestamp, Transition,
    TransitionError,
};
use async_trait::async_trait;

/// When an injected fault strikes, relative to the real call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// The call fails without reaching the backend.
    Before,
    /// The call takes effect, then the caller sees a failure (a lost response, a crash).
    After,
    /// Either, at random.
    Either,
}

/// Which calls fail: `rate` of the calls whose operation name `matches` (e.g. `create`,
/// `transition:complete`, `send`), seeded for reproducibility.
pub struct Faults {
    rate: Mutex<f64>,
    strike: Strike,
    matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
    rng: Mutex<fastrand::Rng>,
    injected: Mutex<HashMap<String, u64>>,
}

impl Faults {
    pub fn new(
        rate: f64,
        strike: Strike,
        seed: u64,
        matches: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            rate: Mutex::new(rate),
            strike,
            matches: Box::new(matches),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            injected: Mutex::new(HashMap::new()),
        })
    }

    pub fn none() -> Arc<Self> {
        Self::new(0.0, Strike::Before, 0, |_| false)
    }

    pub fn rate(&self) -> f64 {
        *self.rate.lock().unwrap()
    }

    /// Changes the rate from now on (an outage: 1.0, then 0.0).
    pub fn set_rate(&self, rate: f64) {
        *self.rate.lock().unwrap() = rate;
    }

    fn strikes(&self, operation: &str, when: Strike) -> bool {
        if !(self.matches)(operation) {
            return false;
        }
        let mut rng = self.rng.lock().unwrap();
        let applies = match self.strike {
            Strike::Either => (when == Strike::Before) == rng.bool(),
            strike => strike == when,
        };
        if !applies {
            return false;
        }
        let hit = rng.f64() < *self.rate.lock().unwrap();
        drop(rng);
        if hit {
            *self
                .injected
                .lock()
                .unwrap()
                .entry(operation.to_owned())
                .or_default() += 1;
        }
        hit
    }

    /// Faults injected so far, by operation.
    pub fn injected(&self) -> HashMap<String, u64> {
        self.injected.lock().unwrap().clone()
    }
}

fn injected(operation: &str) -> StoreError {
    StoreError::Unavailable(format!("injected fault: {operation}"))
}

/// A `JobStore` that injects faults and records every transition that took effect.
pub struct FaultyStore {
    pub inner: Arc<dyn JobStore>,
    pub faults: Arc<Faults>,
    history: Mutex<HashMap<JobId, Vec<Job>>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn JobStore>, faults: Arc<Faults>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            faults,
            history: Mutex::new(HashMap::new()),
        })
    }

    fn record(&self, job: &Job) {
        self.history
            .lock()
            .unwrap()
            .entry(job.id.clone())
            .or_default()
            .push(job.clone());
    }

    /// Every job's states in the order they were written, checked to only move forward:
    /// a finished job never changes, attempts never go back. Returns the violations.
    pub fn backward_moves(&self) -> Vec<String> {
        let mut violations = Vec::new();
        for (id, states) in self.history.lock().unwrap().iter() {
            for pair in states.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                if a.status.is_terminal() {
                    violations.push(format!(
                        "{id}: left terminal {:?} for {:?}",
                        a.status, b.status
                    ));
                }
                if b.attempts < a.attempts {
                    violations.push(format!(
                        "{id}: attempts went back {} → {}",
                        a.attempts, b.attempts
                    ));
                }
                if b.status == JobStatus::Pending
                    && a.status == JobStatus::Pending
                    && b.attempts == a.attempts
                {
                    violations.push(format!("{id}: pending twice at attempt {}", a.attempts));
                }
            }
        }
        violations
    }
}

#[async_trait]
impl JobStore for FaultyStore {
    async fn create(&self, job: &Job) -> Result<CreateOutcome, StoreError> {
        if self.faults.strikes("create", Strike::Before) {
            return Err(injected("create"));
        }
        let out = self.inner.create(job).await?;
        if let CreateOutcome::Created(job) = &out {
            self.record(job);
        }
        if self.faults.strikes("create", Strike::After) {
            return Err(injected("create"));
        }
        Ok(out)
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        if self.faults.strikes("get", Strike::Before) {
            return Err(injected("get"));
        }
        self.inner.get(id).await
    }

    async fn find_by_idempotency_key(
        &self,
        owner: &Owner,
        key: &IdempotencyKey,
    ) -> Result<Option<Job>, StoreError> {
        self.inner.find_by_idempotency_key(owner, key).await
    }

    async fn find_stale(
        &self,
        updated_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        self.inner.find_stale(updated_before, limit).await
    }

    async fn count_unfinished(&self, owner: &Owner, up_to: u32) -> Result<u32, StoreError> {
        if self.faults.strikes("count_unfinished", Strike::Before) {
            return Err(injected("count_unfinished"));
        }
        self.inner.count_unfinished(owner, up_to).await
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        self.inner.list(query).await
    }

    async fn transition(&self, id: &JobId, t: &Transition) -> Result<Job, TransitionError> {
        let operation = format!("transition:{}", t.name());
        if self.faults.strikes(&operation, Strike::Before) {
            return Err(injected(&operation).into());
        }
        let job = self.inner.transition(id, t).await?;
        self.record(&job);
        if self.faults.strikes(&operation, Strike::After) {
            return Err(injected(&operation).into());
        }
        Ok(job)
    }
}

/// A `JobQueue` that injects faults into sends, and can deliver every message twice.
pub struct FaultyQueue {
    pub inner: Arc<dyn JobQueue>,
    pub faults: Arc<Faults>,
    pub duplicate_every_send: bool,
}

#[async_trait]
impl JobQueue for FaultyQueue {
    async fn send_raw(
        &self,
        body: &str,
        attributes: &[(&str, &str)],
        group: Option<&str>,
    ) -> Result<String, QueueError> {
        if self.faults.strikes("send", Strike::Before) {
            return Err(QueueError::Unavailable("injected fault: send".into()));
        }
        let id = self.inner.send_raw(body, attributes, group).await?;
        if self.duplicate_every_send {
            self.inner.send_raw(body, attributes, group).await?;
        }
        if self.faults.strikes("send", Strike::After) {
            return Err(QueueError::Unavailable("injected fault: send".into()));
        }
        Ok(id)
    }
}

/// An [`EventPublisher`] whose first `failures` publications fail: before reaching `inner`
/// ([`Strike::Before`]: the bus was down) or after it ([`Strike::After`]: published, then the
/// publisher crashed before it could record that). The rest go through.
pub struct FlakyPublisher {
    inner: Arc<dyn EventPublisher>,
    failures: std::sync::atomic::AtomicUsize,
    strike: Strike,
}

impl FlakyPublisher {
    pub fn new(inner: Arc<dyn EventPublisher>, failures: usize, strike: Strike) -> Self {
        Self {
            inner,
            failures: failures.into(),
            strike,
        }
    }
}

#[async_trait]
impl EventPublisher for FlakyPublisher {
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), PublishError> {
        use std::sync::atomic::Ordering;
        let fail = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail && self.strike != Strike::After {
            return Err(PublishError("injected: publication never arrived".into()));
        }
        self.inner.publish(events).await?;
        if fail {
            return Err(PublishError("injected: crashed after publishing".into()));
        }
        Ok(())
    }
}

/// An [`EventPublisher`] that keeps what it is given: a subscriber, for tests.
#[derive(Default)]
pub struct RecordingPublisher {
    pub received: Mutex<Vec<CloudEvent>>,
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), PublishError> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(events);
        Ok(())
    }
}
