//! Circuit breakers, one per downstream (a job type for the worker, a destination for webhook
//! delivery): when a downstream keeps failing, stop sending it work for a while instead of
//! burning attempts and hammering it.
//!
//! Closed: work goes through; `failure_threshold` failures in a row open the breaker.
//! Open: nothing is sent; the callers delay their messages until the cool-down ends.
//! Half-open: after the cool-down one call goes through as a probe; its success closes the
//! breaker, its failure opens it again.
//!
//! The state lives in the process, so each Lambda instance learns on its own; the number of
//! instances is bounded by the event source's maximum concurrency.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub cool_down: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe was let through; if it never reports (it could not start), another is let
    /// through after `until`.
    HalfOpen {
        until: Instant,
    },
}

#[derive(Debug)]
pub struct CircuitBreakers {
    settings: BreakerSettings,
    states: Mutex<HashMap<String, State>>,
}

impl CircuitBreakers {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            states: Mutex::new(HashMap::new()),
        }
    }

    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any breaker is not closed: only then is a job's type looked up before it starts.
    pub fn any_tripped(&self) -> bool {
        self.states()
            .values()
            .any(|s| !matches!(s, State::Closed { .. }))
    }

    /// `Ok` when a call to `key` may go ahead now (possibly as the half-open probe), or how
    /// long to wait before asking again.
    pub fn admit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut states = self.states();
        match states.get(key).copied() {
            None | Some(State::Closed { .. }) => Ok(()),
            Some(State::Open { until } | State::HalfOpen { until }) if now >= until => {
                let probe = State::HalfOpen {
                    until: now + self.settings.cool_down,
                };
                states.insert(key.to_owned(), probe);
                Ok(())
            }
            // Open, or a probe is out: the others wait.
            Some(State::Open { until } | State::HalfOpen { until }) => Err(until - now),
        }
    }

    /// Records how a call to `key` went: `healthy` is false for failures that point at a
    /// downstream (retryable failures, timeouts).
    pub fn record(&self, key: &str, healthy: bool, now: Instant) {
        let mut states = self.states();
        let state = states
            .entry(key.to_owned())
            .or_insert(State::Closed { failures: 0 });
        let open = State::Open {
            until: now + self.settings.cool_down,
        };
        *state = match (*state, healthy) {
            (State::Closed { .. }, true) | (State::HalfOpen { .. }, true) => {
                State::Closed { failures: 0 }
            }
            (State::Closed { failures }, false)
                if failures + 1 >= self.settings.failure_threshold =>
            {
                open
            }
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            (State::HalfOpen { .. }, false) => open,
            // Jobs admitted before the breaker opened do not move it.
            (State::Open { until }, _) => State::Open { until },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: BreakerSettings = BreakerSettings {
        failure_threshold: 3,
        cool_down: Duration::from_secs(10),
    };

    #[test]
    fn opens_after_consecutive_failures_and_probes_after_the_cool_down() {
        let b = CircuitBreakers::new(SETTINGS);
        let t0 = Instant::now();
        b.record("t", false, t0);
        b.record("t", true, t0); // a success resets the count
        b.record("t", false, t0);
        b.record("t", false, t0);
        assert!(!b.any_tripped());
        assert_eq!(b.admit("t", t0), Ok(()));
        b.record("t", false, t0);
        assert!(b.any_tripped());
        assert_eq!(
            b.admit("t", t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(b.admit("other", t0), Ok(()), "breakers are per type");

        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.admit("t", later), Ok(()), "the probe");
        assert!(b.admit("t", later).is_err(), "one probe at a time");
        let lost_probe = later + Duration::from_secs(10);
        assert_eq!(
            b.admit("t", lost_probe),
            Ok(()),
            "a probe that never reported is replaced"
        );
        let later = lost_probe;
        b.record("t", false, later);
        assert!(
            b.admit("t", later + Duration::from_secs(1)).is_err(),
            "a failed probe reopens"
        );

        let much_later = later + Duration::from_secs(10);
        assert_eq!(b.admit("t", much_later), Ok(()));
        b.record("t", true, much_later);
        assert!(!b.any_tripped());
        assert_eq!(b.admit("t", much_later), Ok(()));
    }
}
