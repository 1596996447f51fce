//! What a job type declares holds end to end on SQS and DynamoDB: its input schema is checked
//! at submit before anything is written, its result schema before a result is kept, and its
//! time limit bounds each attempt.

use std::time::Duration;

use accepted_core::{JobContext, JobFailure, JobHandler, JobStatus};
use accepted_tests::TestStack;
use async_trait::async_trait;
use lambda_http::http::Method;
use serde_json::{json, Value};

/// Echoes its input as the result, after `sleep_ms`; declares schemas and a time limit.
struct Echo;

#[async_trait]
impl JobHandler for Echo {
    fn job_type(&self) -> &str {
        "test.echo"
    }

    fn input_schema(&self) -> Option<Value> {
        Some(json!({
            "type": "object",
            "required": ["word"],
            "additionalProperties": false,
            "properties": {
                "word": {"type": "string", "maxLength": 10},
                "sleep_ms": {"type": "integer", "minimum": 0},
                "shape": {"enum": ["published", "other"]}
            }
        }))
    }

    fn result_schema(&self) -> Option<Value> {
        Some(json!({"type": "object", "required": ["word"]}))
    }

    fn time_limit(&self) -> Option<Duration> {
        Some(Duration::from_millis(300))
    }

    async fn run(&self, ctx: &JobContext, input: &Value) -> Result<Value, JobFailure> {
        assert!(
            ctx.deadline().is_some(),
            "the worker tells the attempt its deadline"
        );
        let sleep = input["sleep_ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(sleep)).await;
        if input["shape"] == "other" {
            return Ok(json!({"something": "else"}));
        }
        Ok(json!({"word": input["word"]}))
    }
}

async fn stack() -> TestStack {
    TestStack::with_registry(accepted_builtin_jobs::registry().with(Echo), &[]).await
}

async fn submit(t: &TestStack, input: Value) -> String {
    let (res, body) = t
        .post_job(&json!({"type": "test.echo", "input": input}), &[])
        .await;
    assert_eq!(res.status(), 202, "{body}");
    body["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn input_off_the_schema_is_refused_with_pointers_and_nothing_is_written() {
    let t = stack().await;
    let before = t.item_count().await;
    let (res, body) = t
        .post_job(
            &json!({"type": "test.echo", "input": {"word": "much too long a word", "colour": 1}}),
            &[],
        )
        .await;
    assert_eq!(res.status(), 422, "{body}");
    assert_eq!(
        accepted_tests::pointers(&body),
        ["/input/colour", "/input/word"]
    );
    assert_eq!(t.item_count().await, before);
    assert_eq!(t.queue_depth(&t.queue_url).await, (0, 0));
}

#[tokio::test]
async fn a_result_of_the_published_shape_completes_and_any_other_fails_permanently() {
    let t = stack().await;
    let good = submit(&t, json!({"word": "hello"})).await;
    let bad = submit(&t, json!({"word": "hello", "shape": "other"})).await;
    t.drain(5).await;
    let good = t.stored(&good).await;
    assert_eq!(good.status, JobStatus::Completed);
    let bad = t.stored(&bad).await;
    assert_eq!(bad.status, JobStatus::Failed);
    assert_eq!(bad.attempts, 1, "a wrong shape is not retried");
    let error = bad.error.expect("an error");
    assert_eq!(error.code, "result_invalid");
    assert!(error.message.contains("/result/word"), "{}", error.message);
}

#[tokio::test]
async fn an_attempt_past_the_types_time_limit_fails_retryably() {
    let t = stack().await;
    let id = submit(&t, json!({"word": "slow", "sleep_ms": 5_000})).await;
    t.poll_worker_once().await.expect("a batch");
    let job = t.stored(&id).await;
    assert_eq!(job.status, JobStatus::Pending, "waiting for its retry");
    let error = job.error.expect("the attempt's error");
    assert_eq!((error.code.as_str(), error.retryable), ("timeout", true));
    assert!(error.message.contains("300 ms"), "{}", error.message);
}

#[tokio::test]
async fn get_job_types_lists_each_types_schemas_and_revalidates_by_etag() {
    let t = TestStack::with_registry(
        accepted_builtin_jobs::registry().with(Echo),
        &[("AUTH_MODE", "jwt")],
    )
    .await;
    let (res, body) = t.job_types(Method::GET, &[], Some("alice")).await;
    assert_eq!(res.status(), 200, "{body}");
    let echo = body["job_types"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["type"] == "test.echo")
        .expect("test.echo is listed")
        .clone();
    assert_eq!(echo["input_schema"], Echo.input_schema().expect("declared"));
    assert_eq!(echo["result_schema"]["required"], json!(["word"]));
    assert_eq!(echo["time_limit_seconds"], 0.3);
    let etag = res.headers()["etag"].to_str().expect("ascii").to_owned();
    assert_eq!(res.headers()["cache-control"], "private, max-age=300");

    // The same list for every owner, so one tag serves all of them.
    let (again, _) = t
        .job_types(Method::GET, &[("if-none-match", &etag)], Some("bob"))
        .await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().ok(), Some(etag.as_str()));

    let (anonymous, problem) = t.job_types(Method::GET, &[], None).await;
    assert_eq!(anonymous.status(), 401, "{problem}");
    let (post, problem) = t.job_types(Method::POST, &[], Some("alice")).await;
    assert_eq!(post.status(), 405, "{problem}");
    assert_eq!(post.headers()["allow"], "GET");
}
