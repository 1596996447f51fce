//! Retry policy: how many attempts a job gets and how long to wait between them.
//!
//! Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and
//! Jitter"): the wait before attempt `n + 1` is uniform in `[0, min(cap, base · 2^(n-1)))`.
//! Full jitter spreads a burst of failures over the whole window, so a recovering dependency
//! is not hit by every retry at the same instant. The worker applies the wait by changing
//! the message's visibility timeout, so a waiting job costs nothing.

use std::time::Duration;

/// SQS refuses visibility timeouts over 12 hours.
pub const MAX_DELAY: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; a retryable failure of the last one is final.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

/// How much of the exponential window to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Uniformly random in the window (the default, and what production should use).
    #[default]
    Full,
    /// The whole window: deterministic, for tests and for reasoning about worst cases.
    None,
}

impl RetryPolicy {
    /// Whether a retryable failure of `attempt` (1-based) gets another attempt.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// The exponential window after `attempt` (1-based): `min(cap, base · 2^(attempt-1))`.
    pub fn window(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        let grown = self.base.saturating_mul(1u32 << exponent);
        grown.min(self.cap).min(MAX_DELAY)
    }

    /// The wait after `attempt`, drawing the jitter from `unit` (a number in `[0, 1)`).
    pub fn delay_with(&self, attempt: u32, jitter: Jitter, unit: f64) -> Duration {
        let window = self.window(attempt);
        match jitter {
            Jitter::None => window,
            Jitter::Full => window.mul_f64(unit.clamp(0.0, 1.0)),
        }
    }

    pub fn delay(&self, attempt: u32, jitter: Jitter) -> Duration {
        self.delay_with(attempt, jitter, fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        base: Duration::from_secs(2),
        cap: Duration::from_secs(30),
    };

    #[test]
    fn the_window_doubles_up_to_the_cap() {
        let windows: Vec<u64> = (1..=6).map(|a| POLICY.window(a).as_secs()).collect();
        assert_eq!(windows, [2, 4, 8, 16, 30, 30]);
        assert_eq!(POLICY.window(1_000), Duration::from_secs(30), "no overflow");
        let huge = RetryPolicy {
            cap: Duration::from_secs(86_400),
            ..POLICY
        };
        assert_eq!(huge.window(40), MAX_DELAY);
    }

    #[test]
    fn full_jitter_spans_the_window_and_none_takes_all_of_it() {
        assert_eq!(POLICY.delay_with(3, Jitter::Full, 0.0), Duration::ZERO);
        assert_eq!(
            POLICY.delay_with(3, Jitter::Full, 0.5),
            Duration::from_secs(4)
        );
        assert_eq!(
            POLICY.delay_with(3, Jitter::None, 0.1),
            Duration::from_secs(8)
        );
        for _ in 0..100 {
            assert!(POLICY.delay(2, Jitter::Full) < Duration::from_secs(4));
        }
    }

    #[test]
    fn attempts_stop_at_the_limit() {
        assert!(POLICY.allows_another(3));
        assert!(!POLICY.allows_another(4));
    }
}
