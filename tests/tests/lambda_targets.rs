//! A declared type run by a Lambda function, end to end on SQS and DynamoDB: the worker's own
//! wiring (`accepted_worker::with_declared`) reads `tests/targets/lambda-types.yaml` and
//! invokes `lambda-target` (tests/src/bin/lambda_target.rs) through the Lambda Invoke API of
//! `cargo lambda watch`, and each outcome class of the invocation contract lands on the job
//! as docs/declared-types.md says.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use accepted_core::{Job, JobStatus};
use accepted_tests::lambda_emulator::LambdaEmulator;
use accepted_tests::TestStack;
use serde_json::{json, Value};

fn declarations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("targets/lambda-types.yaml")
}

/// The emulator with `instances` of the test function, and a stack whose worker invokes it.
async fn stack(instances: usize) -> (LambdaEmulator, TestStack) {
    let emulator = LambdaEmulator::start(
        "lambda-target",
        env!("CARGO_BIN_EXE_lambda-target").as_ref(),
        instances,
    );
    // DynamoDB and SQS stay on moto; the worker's Lambda client goes to the emulator.
    let aws = accepted_infra::emulator_sdk_config(&emulator.endpoint()).await;
    let registry = accepted_worker::with_declared(
        accepted_builtin_jobs::registry(),
        Some(&declarations()),
        &aws,
    )
    .expect("the declarations load");
    (emulator, TestStack::with_registry(registry, &[]).await)
}

async fn submit(t: &TestStack, job_type: &str, input: Value) -> String {
    let (res, body) = t
        .post_job(
            &json!({"type": job_type, "input": input}),
            &[("x-correlation-id", "lambda-test-1")],
        )
        .await;
    assert_eq!(res.status(), 202, "{body}");
    body["id"].as_str().expect("an id").to_owned()
}

/// Runs the worker until every job in `ids` is finished (retries back off by at most 100 ms,
/// rounded up to SQS's whole seconds).
async fn finish(t: &TestStack, ids: &[String]) -> Vec<Job> {
    let started = Instant::now();
    loop {
        t.poll_worker_once().await;
        let mut jobs = Vec::new();
        for id in ids {
            jobs.push(t.stored(id).await);
        }
        if jobs.iter().all(|j| j.status.is_terminal()) {
            return jobs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "unfinished: {:?}",
            jobs.iter()
                .map(|j| (j.input.clone(), j.status))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A job's end: its status, attempts, and the code of the error that ended it — for a
/// retryable error, the last one, which `retries_exhausted` carries in its message.
fn outcome(job: &Job) -> (JobStatus, u32, Option<(String, bool)>) {
    let error = job.error.as_ref().map(|e| {
        if e.code == "retries_exhausted" {
            let last = e.message.split("last error: ").nth(1).unwrap_or_default();
            let code = last.split(':').next().unwrap_or_default();
            (code.to_owned(), true)
        } else {
            (e.code.clone(), e.retryable)
        }
    });
    (job.status, job.attempts, error)
}

fn failed(code: &str, retryable: bool, attempts: u32) -> (JobStatus, u32, Option<(String, bool)>) {
    (
        JobStatus::Failed,
        attempts,
        Some((code.to_owned(), retryable)),
    )
}

#[tokio::test]
async fn every_outcome_of_a_lambda_target_maps_onto_the_job() {
    let (_emulator, t) = stack(4).await;
    let cases = [
        (
            json!({"behave": "retry_once"}),
            (JobStatus::Completed, 2, None),
        ),
        (
            json!({"behave": "retryable"}),
            failed("downstream_busy", true, 2),
        ),
        (json!({"behave": "permanent"}), failed("no_words", false, 1)),
        // A panic and an unhandled error: Lambda's function errors.
        (
            json!({"behave": "crash"}),
            failed("target_crashed", true, 2),
        ),
        (json!({"behave": "fail"}), failed("target_crashed", true, 2)),
        (
            json!({"behave": "malformed"}),
            failed("malformed_answer", false, 1),
        ),
        (
            json!({"behave": "wrong_shape"}),
            failed("result_invalid", false, 1),
        ),
        // Past the declared 2 s: the worker stops waiting.
        (
            json!({"behave": "sleep", "seconds": 4}),
            failed("timeout", true, 2),
        ),
    ];
    let mut ids = Vec::new();
    for (input, ..) in &cases {
        ids.push(submit(&t, "test.lambda", input.clone()).await);
    }
    let jobs = finish(&t, &ids).await;
    for ((input, expected), job) in cases.iter().zip(&jobs) {
        assert_eq!(&outcome(job), expected, "{input}: {:?}", job.error);
    }
    let crash = jobs[3].error.as_ref().expect("an error");
    assert!(
        crash.message.contains("the function has a bug"),
        "{crash:?}"
    );
    let timeout = jobs[7].error.as_ref().expect("an error");
    assert!(timeout.message.contains("2000 ms"), "{timeout:?}");
}

#[tokio::test]
async fn the_function_receives_the_invocation_contract_and_its_result_is_kept() {
    let (_emulator, t) = stack(1).await;
    let id = submit(&t, "test.lambda", json!({"behave": "ok", "text": "hej"})).await;
    let job = finish(&t, std::slice::from_ref(&id)).await.remove(0);
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let result = job.result.expect("a result");
    assert_eq!(result["text"], "hej");
    assert_eq!(result["function"], "lambda-target");
    let sent = &result["job"];
    assert_eq!(
        (
            sent["id"].as_str(),
            sent["type"].as_str(),
            sent["attempt"].as_u64(),
            sent["correlation_id"].as_str()
        ),
        (
            Some(id.as_str()),
            Some("test.lambda"),
            Some(1),
            Some("lambda-test-1")
        )
    );
    let deadline = sent["deadline_ms"].as_u64().expect("a deadline");
    let finished = u64::try_from(job.finished_at.expect("finished").as_millis()).expect("ms");
    assert!(
        deadline > finished.saturating_sub(2_000) && deadline <= finished + 2_000,
        "the deadline is the attempt's time limit: {deadline} vs {finished}"
    );
}

#[tokio::test]
async fn a_function_lambda_does_not_know_is_retried_then_fails_and_bad_input_never_reaches_it() {
    let (_emulator, t) = stack(1).await;
    let before = t.item_count().await;
    let (res, problem) = t
        .post_job(
            &json!({"type": "test.lambda", "input": {"behave": "dance"}}),
            &[],
        )
        .await;
    assert_eq!(res.status(), 422, "{problem}");
    assert_eq!(accepted_tests::pointers(&problem), ["/input/behave"]);
    assert_eq!(t.item_count().await, before, "nothing is written");

    let id = submit(&t, "test.missing", json!({})).await;
    let job = finish(&t, &[id]).await.remove(0);
    assert_eq!(outcome(&job), failed("target_unavailable", true, 1));
}
