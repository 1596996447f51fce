//! The invocation contract `accepted.job/v1`: what a target receives and what it may answer.
//!
//! Every target — a Lambda function, a command, an HTTP endpoint — gets the same document and
//! answers the same way, so one script can move between them. The answer is read strictly:
//! anything that is not exactly one of the two documented shapes is a permanent
//! `malformed_answer`, because retrying a target that answers nonsense only repeats it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use accepted_job::{JobContext, JobFailure};

/// The contract's name and version; the `contract` member of every invocation.
pub const CONTRACT: &str = "accepted.job/v1";
/// Longest error message kept from an answer; longer ones are cut at a character boundary.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 1000;

/// What a target receives.
#[derive(Debug, Serialize)]
pub struct Invocation<'a> {
    pub contract: &'static str,
    pub job: InvokedJob<'a>,
    pub input: &'a Value,
}

#[derive(Debug, Serialize)]
pub struct InvokedJob<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub job_type: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub correlation_id: &'a str,
    /// When the worker stops waiting, in milliseconds since the epoch; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

impl<'a> Invocation<'a> {
    pub fn new(job_type: &'a str, ctx: &'a JobContext, input: &'a Value) -> Self {
        let deadline_ms = ctx.deadline().map(|d| {
            d.duration_since(UNIX_EPOCH).map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            })
        });
        Self {
            contract: CONTRACT,
            job: InvokedJob {
                id: ctx.job_id.as_str(),
                job_type,
                attempt: ctx.attempt,
                correlation_id: ctx.correlation_id.as_str(),
                deadline_ms,
            },
            input,
        }
    }

    /// The document as bytes, as every target sends it.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// How long is left until `ctx`'s deadline, if it has one.
pub fn remaining(ctx: &JobContext) -> Option<std::time::Duration> {
    ctx.deadline()
        .map(|d| d.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Reads an answer: `{"result": …}` is the job's result; `{"error": {"code", "message",
/// "retryable"}}` a failure of the class the target chose. Other members are ignored.
pub fn read_answer(bytes: &[u8]) -> Result<Value, JobFailure> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| malformed(format!("the answer is not JSON ({e})")))?;
    let Value::Object(mut answer) = value else {
        return Err(malformed("the answer must be a JSON object"));
    };
    match (answer.remove("result"), answer.remove("error")) {
        (Some(result), None) => Ok(result),
        (None, Some(Value::Object(error))) => Err(answered_error(error)?),
        (None, Some(_)) => Err(malformed("\"error\" must be an object")),
        (Some(_), Some(_)) => Err(malformed("an answer has \"result\" or \"error\", not both")),
        (None, None) => Err(malformed("an answer needs \"result\" or \"error\"")),
    }
}

fn answered_error(mut error: Map<String, Value>) -> Result<JobFailure, JobFailure> {
    let code = match error.remove("code") {
        Some(Value::String(code)) if valid_code(&code) => code,
        _ => {
            return Err(malformed(
                "error.code must be snake_case: a-z, 0-9 and '_', 1 to 64 characters, starting with a letter",
            ))
        }
    };
    let message = match error.remove("message") {
        None => String::new(),
        Some(Value::String(m)) => m.chars().take(MAX_ERROR_MESSAGE_CHARS).collect(),
        Some(_) => return Err(malformed("error.message must be a string")),
    };
    match error.remove("retryable") {
        None | Some(Value::Bool(false)) => Ok(JobFailure::permanent(code, message)),
        Some(Value::Bool(true)) => Ok(JobFailure::retryable(code, message)),
        Some(_) => Err(malformed("error.retryable must be true or false")),
    }
}

fn valid_code(code: &str) -> bool {
    let mut chars = code.chars();
    (1..=64).contains(&code.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A permanent failure: the target answered, but not in the contract's shape.
pub fn malformed(why: impl Into<String>) -> JobFailure {
    JobFailure::permanent("malformed_answer", why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use accepted_job::{CorrelationId, JobId};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn the_invocation_carries_the_job_and_its_deadline() {
        let id = JobId::generate();
        let (ctx, _signals) = JobContext::new(id.clone(), 2, CorrelationId::parse("c-1").unwrap());
        let ctx = ctx.with_deadline(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        let input = json!({"text": "a b"});
        let sent: Value =
            serde_json::from_slice(&Invocation::new("text.count", &ctx, &input).to_bytes())
                .unwrap();
        assert_eq!(
            sent,
            json!({
                "contract": "accepted.job/v1",
                "job": {"id": id.as_str(), "type": "text.count", "attempt": 2,
                        "correlation_id": "c-1", "deadline_ms": 1_700_000_000_123u64},
                "input": {"text": "a b"}
            })
        );
    }

    #[test]
    fn answers_of_both_shapes_are_read() {
        assert_eq!(
            read_answer(br#"{"result": {"n": 2}, "log": "x"}"#),
            Ok(json!({"n": 2}))
        );
        assert_eq!(read_answer(br#"{"result": null}"#), Ok(Value::Null));
        assert_eq!(
            read_answer(br#"{"error": {"code": "busy", "message": "later", "retryable": true}}"#),
            Err(JobFailure::retryable("busy", "later"))
        );
        assert_eq!(
            read_answer(br#"{"error": {"code": "bad_text"}}"#),
            Err(JobFailure::permanent("bad_text", "")),
            "an error is permanent unless it says otherwise"
        );
        let long = "é".repeat(MAX_ERROR_MESSAGE_CHARS + 5);
        let answer = json!({"error": {"code": "x", "message": long}}).to_string();
        let failure = read_answer(answer.as_bytes()).unwrap_err();
        assert_eq!(failure.message().chars().count(), MAX_ERROR_MESSAGE_CHARS);
    }

    #[test]
    fn anything_else_is_a_permanent_malformed_answer() {
        for bad in [
            &b"not json"[..],
            b"[1]",
            b"{}",
            br#"{"result": 1, "error": {"code": "x"}}"#,
            br#"{"error": "boom"}"#,
            br#"{"error": {"message": "no code"}}"#,
            br#"{"error": {"code": "Not-Snake"}}"#,
            br#"{"error": {"code": "x", "retryable": "yes"}}"#,
            br#"{"error": {"code": "x", "message": 7}}"#,
        ] {
            let failure = read_answer(bad).unwrap_err();
            assert_eq!(
                (failure.code(), failure.is_retryable()),
                ("malformed_answer", false),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
