//! `lambda-target`: a Lambda function for the tests of Lambda targets (tests/tests/
//! lambda_targets.rs). It speaks the invocation contract `accepted.job/v1` and does what its
//! input's `behave` says, so each outcome class of a target has a function that produces it.
//! It runs under `cargo lambda watch --only-lambda-apis`, polling the Runtime API as Lambda
//! runs a function.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn answer(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let invocation = event.payload;
    if invocation["contract"] != "accepted.job/v1" {
        return Err(format!("not an accepted.job/v1 invocation: {invocation}").into());
    }
    let job = &invocation["job"];
    let input = &invocation["input"];
    let attempt = job["attempt"].as_u64().unwrap_or(0);
    Ok(match input["behave"].as_str().unwrap_or_default() {
        "ok" => json!({"result": {
            "text": input["text"],
            "job": job,
            "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        }}),
        "retry_once" if attempt == 1 => {
            json!({"error": {"code": "warming_up", "message": "try again", "retryable": true}})
        }
        "retry_once" => json!({"result": {"attempt": attempt}}),
        "retryable" => {
            json!({"error": {"code": "downstream_busy", "message": "try later", "retryable": true}})
        }
        "permanent" => json!({"error": {"code": "no_words", "message": "the text has no words"}}),
        "crash" => panic!("the function has a bug"),
        "fail" => return Err("an unhandled error".into()),
        "sleep" => {
            let seconds = input["seconds"].as_f64().unwrap_or(60.0);
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            json!({"result": {"slept": seconds}})
        }
        "wrong_shape" => json!({"result": {"count": "many"}}),
        "malformed" => json!({"done": true}),
        other => return Err(format!("no behaviour {other:?}").into()),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(answer)).await
}
