//! A declared job type run by a Lambda function: one synchronous `Invoke` per attempt, the
//! invocation contract (`accepted.job/v1`) as the payload, the function's answer read by the
//! same strict rules as every other target.
//!
//! Lambda reports failures in several shapes, and each maps onto the job's semantics once:
//! an answered `{"error": …}` by its own `retryable` flag; an unhandled function error (a
//! crash, a panic, an out-of-memory) and a function timeout as retryable; throttling and any
//! refusal of the service as retryable, so the job's backoff — not the SDK — spaces the
//! retries; a request Lambda will never accept as permanent. The client sends each attempt
//! once (its own retries are off, see [`AwsClients::lambda`](crate::AwsClients::lambda)):
//! re-sending an `Invoke` runs the user's work again, which only the job's policy may decide.

use async_trait::async_trait;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::Client;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use serde_json::Value;

use accepted_core::declared::contract::{read_answer, MAX_ERROR_MESSAGE_CHARS};
use accepted_core::declared::{DeclaredType, Target};
use accepted_core::{JobContext, JobFailure};

/// The error types Lambda gives a function that ran past its timeout.
const TIMED_OUT: &str = "Sandbox.Timedout";

/// Invokes one function (a name, `name:alias`, or an ARN) for every attempt of its type.
#[derive(Debug, Clone)]
pub struct LambdaTarget {
    client: Client,
    function: String,
}

impl LambdaTarget {
    pub fn new(client: Client, function: impl Into<String>) -> Self {
        Self {
            client,
            function: function.into(),
        }
    }

    /// The target of `declared` on AWS, or why it has none: a type that declares only local
    /// targets (a command, an HTTP endpoint) cannot run there, and the start says so.
    pub fn for_declared(client: &Client, declared: &DeclaredType) -> Result<Self, String> {
        accepted_core::declared::lambda_function(declared)
            .map(|function| Self::new(client.clone(), function))
    }
}

#[async_trait]
impl Target for LambdaTarget {
    async fn invoke(&self, ctx: &JobContext, invocation: &[u8]) -> Result<Value, JobFailure> {
        let invoke = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(invocation))
            .send();
        // Lambda cannot stop an invocation; a cancelled job stops waiting for it.
        let answer = tokio::select! {
            answer = invoke => answer,
            () = ctx.cancelled() => return Err(JobFailure::cancelled()),
        };
        match answer {
            Ok(output) => answered(&output),
            Err(err) => Err(not_run(&self.function, &err)),
        }
    }
}

/// An invocation that ran: the function's answer, or the error Lambda reports for it.
fn answered(output: &InvokeOutput) -> Result<Value, JobFailure> {
    let payload = output.payload().map_or(&[][..], Blob::as_ref);
    match output.function_error() {
        Some(_) => Err(function_error(payload)),
        None => read_answer(payload),
    }
}

/// What Lambda reports of a function that did not answer: its error type and message
/// (`{"errorType", "errorMessage"}`), a timeout among them.
fn function_error(payload: &[u8]) -> JobFailure {
    let reported: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let error_type = reported["errorType"].as_str().unwrap_or("Unhandled");
    let message = reported["errorMessage"].as_str().unwrap_or_default();
    let text: String = format!("{error_type}: {message}")
        .chars()
        .take(MAX_ERROR_MESSAGE_CHARS)
        .collect();
    if error_type == TIMED_OUT || message.contains("Task timed out") {
        JobFailure::retryable("timeout", text)
    } else {
        JobFailure::retryable("target_crashed", text)
    }
}

/// An invocation Lambda did not run, or whose answer never arrived.
fn not_run(function: &str, err: &SdkError<InvokeError, HttpResponse>) -> JobFailure {
    let detail = format!("invoking {function}: {}", DisplayErrorContext(err));
    let SdkError::ServiceError(refusal) = err else {
        // Not sent, no answer, or an answer that could not be read: worth another attempt.
        return JobFailure::retryable("target_unavailable", detail);
    };
    match refusal.err() {
        // Too many invocations at once, for the function or the account.
        InvokeError::TooManyRequestsException(_) | InvokeError::Ec2ThrottledException(_) => {
            JobFailure::retryable("target_throttled", detail)
        }
        // The request itself is wrong: no retry changes that.
        InvokeError::InvalidParameterValueException(_)
        | InvokeError::InvalidRequestContentException(_)
        | InvokeError::RequestTooLargeException(_)
        | InvokeError::SerializedRequestEntityTooLargeException(_)
        | InvokeError::UnsupportedMediaTypeException(_) => {
            JobFailure::permanent("target_refused", detail)
        }
        // Lambda's emulators (cargo lambda's Invoke API) answer a function error with a 500
        // that carries the function's error document and no error code.
        other if other.code().is_none() => match emulated_function_error(refusal.raw()) {
            Some(payload) => function_error(payload),
            None => JobFailure::retryable("target_unavailable", detail),
        },
        // Missing, not ready, not permitted, or Lambda's own failure: worth another attempt
        // (a deployment may be under way), within the job's retries.
        _ => JobFailure::retryable("target_unavailable", detail),
    }
}

fn emulated_function_error(raw: &HttpResponse) -> Option<&[u8]> {
    let payload = raw.body().bytes()?;
    let reported: Value = serde_json::from_slice(payload).ok()?;
    (raw.status().as_u16() == 500 && reported.get("errorType").is_some()).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::types::error::{ResourceNotFoundException, TooManyRequestsException};
    use aws_smithy_types::body::SdkBody;
    use serde_json::json;

    fn ran(function_error: Option<&str>, payload: Value) -> Result<Value, JobFailure> {
        let output = InvokeOutput::builder()
            .status_code(200)
            .set_function_error(function_error.map(str::to_owned))
            .payload(Blob::new(payload.to_string()))
            .build();
        answered(&output)
    }

    fn refused(err: InvokeError, status: u16, body: &str) -> JobFailure {
        let raw = HttpResponse::new(
            status.try_into().expect("a status"),
            SdkBody::from(body.to_owned()),
        );
        not_run("f", &SdkError::service_error(err, raw))
    }

    fn class(failure: &JobFailure) -> (&str, bool) {
        (failure.code(), failure.is_retryable())
    }

    #[test]
    fn an_answer_is_read_by_the_contract() {
        assert_eq!(ran(None, json!({"result": {"n": 1}})), Ok(json!({"n": 1})));
        let answered = ran(None, json!({"error": {"code": "no_such_invoice"}})).unwrap_err();
        assert_eq!(class(&answered), ("no_such_invoice", false));
        let malformed = ran(None, json!({"n": 1})).unwrap_err();
        assert_eq!(class(&malformed), ("malformed_answer", false));
    }

    #[test]
    fn a_function_error_is_a_retryable_crash_and_a_timeout_a_retryable_timeout() {
        let crash = ran(
            Some("Unhandled"),
            json!({"errorType": "Runtime.ExitError", "errorMessage": "exit status 1"}),
        )
        .unwrap_err();
        assert_eq!(class(&crash), ("target_crashed", true));
        assert_eq!(crash.message(), "Runtime.ExitError: exit status 1");
        let timeout = ran(
            Some("Unhandled"),
            json!({"errorType": "Sandbox.Timedout",
                   "errorMessage": "RequestId: 1 Error: Task timed out after 3.00 seconds"}),
        )
        .unwrap_err();
        assert_eq!(class(&timeout), ("timeout", true));
    }

    #[test]
    fn refusals_are_retryable_unless_no_retry_can_change_them() {
        let throttled = InvokeError::TooManyRequestsException(
            TooManyRequestsException::builder()
                .message("Rate exceeded")
                .build(),
        );
        assert_eq!(
            class(&refused(throttled, 429, "")),
            ("target_throttled", true)
        );
        let missing =
            InvokeError::ResourceNotFoundException(ResourceNotFoundException::builder().build());
        assert_eq!(
            class(&refused(missing, 404, "")),
            ("target_unavailable", true)
        );
        let too_large = InvokeError::RequestTooLargeException(
            aws_sdk_lambda::types::error::RequestTooLargeException::builder().build(),
        );
        assert_eq!(
            class(&refused(too_large, 413, "")),
            ("target_refused", false)
        );
    }

    #[test]
    fn the_emulators_500_with_an_error_document_is_a_function_error() {
        let unknown = || InvokeError::generic(aws_sdk_lambda::error::ErrorMetadata::default());
        let crash = refused(
            unknown(),
            500,
            r#"{"errorType": "alloc::boxed::Box<dyn core::any::Any>", "errorMessage": "boom"}"#,
        );
        assert_eq!(class(&crash), ("target_crashed", true));
        assert_eq!(
            class(&refused(unknown(), 500, "Internal Server Error")),
            ("target_unavailable", true)
        );
    }
}
