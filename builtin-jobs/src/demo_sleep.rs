//! `demo.sleep`: waits, then succeeds or fails on purpose. Drives demos and failure tests.
//!
//! Input: `{"duration_ms": N, "fail_attempts": K, "failure": "retryable" | "permanent",
//! "result_bytes": B}`. With `result_bytes` the result carries that much padding, to exercise
//! results too large for the job item.
//! The first K attempts fail with the given class (default `retryable`); later ones succeed.
//! It reports progress in tenths of the duration (a zero duration returns at once) and stops
//! early when cancelled.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use accepted_job::input::{into_result, object, optional_str, optional_u64, required_u64};
use accepted_job::FieldError;
use accepted_job::{JobContext, JobFailure, JobHandler};

/// Longest sleep accepted: well inside the worker's Lambda timeout.
pub const MAX_DURATION_MS: u64 = 20_000;
const MAX_FAIL_ATTEMPTS: u64 = 100;
/// Largest padding asked for: above the inline limit, well below Lambda's payload limits.
pub const MAX_RESULT_BYTES: u64 = 1024 * 1024;
/// Progress reports per run.
const STEPS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSleep;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    duration: Duration,
    fail_attempts: u64,
    permanent: bool,
    result_bytes: u64,
}

impl Plan {
    fn parse(input: &Value) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = object(
            input,
            &["duration_ms", "fail_attempts", "failure", "result_bytes"],
            &mut errors,
        ) else {
            return Err(errors);
        };
        let duration_ms = required_u64(obj, "duration_ms", MAX_DURATION_MS, &mut errors);
        let fail_attempts = optional_u64(obj, "fail_attempts", MAX_FAIL_ATTEMPTS, &mut errors);
        let result_bytes = optional_u64(obj, "result_bytes", MAX_RESULT_BYTES, &mut errors);
        let permanent = match optional_str(obj, "failure", &mut errors) {
            None | Some("retryable") => false,
            Some("permanent") => true,
            Some(_) => {
                errors.push(FieldError::new(
                    "/input/failure",
                    "must be \"retryable\" or \"permanent\"",
                ));
                false
            }
        };
        into_result(errors)?;
        Ok(Self {
            duration: Duration::from_millis(duration_ms.unwrap_or(0)),
            fail_attempts: fail_attempts.unwrap_or(0),
            permanent,
            result_bytes: result_bytes.unwrap_or(0),
        })
    }
}

#[async_trait]
impl JobHandler for DemoSleep {
    fn job_type(&self) -> &str {
        "demo.sleep"
    }

    fn description(&self) -> Option<&str> {
        Some("Waits, reporting progress, then succeeds or fails on purpose (demos and failure drills).")
    }

    fn input_schema(&self) -> Option<Value> {
        let count = |max: u64| json!({"type": "integer", "minimum": 0, "maximum": max});
        Some(json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["duration_ms"],
            "properties": {
                "duration_ms": count(MAX_DURATION_MS),
                "fail_attempts": count(MAX_FAIL_ATTEMPTS),
                "failure": {"enum": ["retryable", "permanent"]},
                "result_bytes": count(MAX_RESULT_BYTES)
            }
        }))
    }

    fn validate(&self, input: &Value) -> Result<(), Vec<FieldError>> {
        Plan::parse(input).map(|_| ())
    }

    fn example_input(&self) -> Option<Value> {
        Some(json!({"duration_ms": 3000}))
    }

    async fn run(&self, ctx: &JobContext, input: &Value) -> Result<Value, JobFailure> {
        let plan = Plan::parse(input)
            .map_err(|_| JobFailure::permanent("invalid_input", "input failed validation"))?;
        // A zero duration does not sleep at all: even a zero-length timer waits for the
        // timer's next tick, and ten of them would make a trivial job take ten milliseconds.
        let steps = if plan.duration.is_zero() { 0 } else { STEPS };
        for step in 1..=steps {
            tokio::select! {
                () = tokio::time::sleep(plan.duration / STEPS) => {}
                () = ctx.cancelled() => return Err(JobFailure::cancelled()),
            }
            let percent = (step * 100 / STEPS) as u8;
            ctx.report_progress(percent, Some(&format!("slept {step}/{STEPS} of the time")));
        }
        if u64::from(ctx.attempt) <= plan.fail_attempts {
            let message = format!(
                "failing attempt {} of the first {} on purpose",
                ctx.attempt, plan.fail_attempts
            );
            return Err(if plan.permanent {
                JobFailure::permanent("demo_failure", message)
            } else {
                JobFailure::retryable("demo_failure", message)
            });
        }
        let mut result = json!({
            "slept_ms": plan.duration.as_millis() as u64,
            "attempt": ctx.attempt,
        });
        if plan.result_bytes > 0 {
            result["padding"] = json!("x".repeat(plan.result_bytes as usize));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accepted_job::{CorrelationId, JobId};

    fn ctx(attempt: u32) -> JobContext {
        JobContext::new(JobId::generate(), attempt, CorrelationId::generate()).0
    }

    #[test]
    fn validation_names_each_bad_field() {
        let errs = DemoSleep
            .validate(&json!({"duration_ms": -1, "failure": "sometimes", "extra": 1}))
            .unwrap_err();
        let pointers: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/input/extra", "/input/duration_ms", "/input/failure"]
        );
        assert!(DemoSleep.validate(&json!({})).is_err());
        assert!(DemoSleep.validate(&json!([1])).is_err());
        assert!(DemoSleep
            .validate(&json!({"duration_ms": MAX_DURATION_MS + 1}))
            .is_err());
        assert!(DemoSleep.validate(&json!({"duration_ms": 0})).is_ok());
        assert!(DemoSleep
            .validate(&json!({"duration_ms": 0, "result_bytes": MAX_RESULT_BYTES + 1}))
            .is_err());
    }

    #[tokio::test]
    async fn fails_the_first_attempts_with_the_requested_class() {
        let input = json!({"duration_ms": 0, "fail_attempts": 2, "failure": "permanent"});
        let first = DemoSleep.run(&ctx(1), &input).await.unwrap_err();
        assert!(!first.is_retryable());
        assert!(DemoSleep.run(&ctx(2), &input).await.is_err());
        let third = DemoSleep.run(&ctx(3), &input).await.unwrap();
        assert_eq!(third, json!({"slept_ms": 0, "attempt": 3}));

        let retryable = json!({"duration_ms": 0, "fail_attempts": 1});
        assert!(DemoSleep
            .run(&ctx(1), &retryable)
            .await
            .unwrap_err()
            .is_retryable());
    }

    #[test]
    fn a_zero_duration_returns_without_waiting_for_the_timer() {
        // No timer in this runtime: a sleep, even of zero, would panic.
        let no_timer = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let done = no_timer.block_on(DemoSleep.run(&ctx(1), &json!({"duration_ms": 0})));
        assert_eq!(done, Ok(json!({"slept_ms": 0, "attempt": 1})));
    }

    // Real time: the first tenth of 10 s is 1 s, and the cancel has 9 s to land.
    #[tokio::test]
    async fn reports_progress_and_stops_when_cancelled() {
        let (ctx, mut signals) = JobContext::new(JobId::generate(), 1, CorrelationId::generate());
        let input = json!({"duration_ms": 10_000});
        let run = tokio::spawn({
            let ctx = ctx.clone();
            async move { DemoSleep.run(&ctx, &input).await }
        });
        let first = signals.next_progress().await;
        assert_eq!(first.percent, 10);
        signals.cancel();
        let stopped = run.await.expect("joined").unwrap_err();
        assert_eq!(stopped, JobFailure::cancelled());
    }
}
