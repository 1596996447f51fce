//! `POST /jobs` against DynamoDB and SQS on the emulator: acceptance, idempotency, bad input.

use std::sync::{Arc, Mutex};

use accepted_aws::{DynamoJobStore, SqsJobQueue};
use accepted_tests::conflicts::HolderAlwaysVanishes;
use accepted_tests::{header, TestStack};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{json, Value};

fn sleep_job(ms: u64) -> Value {
    json!({"type": "demo.sleep", "input": {"duration_ms": ms}})
}

#[tokio::test]
async fn accepts_a_job_with_location_correlation_and_one_queue_message() {
    let t = TestStack::new().await;
    let (res, body) = t
        .post_job(&sleep_job(1), &[("x-correlation-id", "trace-abc-1")])
        .await;
    assert_eq!(res.status(), 202);
    let id = body["id"].as_str().expect("id");
    assert_eq!(
        header(&res, "location"),
        Some(format!("/jobs/{id}").as_str())
    );
    assert_eq!(header(&res, "x-correlation-id"), Some("trace-abc-1"));
    assert_eq!(header(&res, "content-type"), Some("application/json"));
    assert!(header(&res, "retry-after").is_some());
    assert_eq!(header(&res, "idempotent-replayed"), None);
    assert_eq!(body["status"], "pending");
    assert_eq!(body["attempts"], 0);
    assert_eq!(body["correlation_id"], "trace-abc-1");
    assert_eq!(body["links"]["self"], format!("/jobs/{id}"));

    let stored = t.stored(id).await;
    assert_eq!(stored.owner.as_str(), "anonymous");
    assert_eq!(stored.correlation_id.as_str(), "trace-abc-1");
    assert!(stored.expires_at > stored.created_at);

    let messages = t.receive(&t.consumer, 10).await;
    assert_eq!(messages.len(), 1);
    let msg: Value = serde_json::from_str(&messages[0].body).unwrap();
    assert_eq!(
        msg,
        json!({"version": 1, "job_id": id, "correlation_id": "trace-abc-1"})
    );
    assert_eq!(messages[0].correlation_id(), Some("trace-abc-1"));
}

#[tokio::test]
async fn generates_a_correlation_id_when_the_clients_is_missing_or_unsafe() {
    let t = TestStack::new().await;
    let (res, body) = t
        .post_job(
            &sleep_job(1),
            &[("x-correlation-id", "bad value; with spaces")],
        )
        .await;
    assert_eq!(res.status(), 202);
    let generated = header(&res, "x-correlation-id").unwrap();
    assert_ne!(generated, "bad value; with spaces");
    assert_eq!(body["correlation_id"], generated);
    let (res, _) = t.post_job(&sleep_job(1), &[]).await;
    assert_eq!(header(&res, "x-correlation-id").map(str::len), Some(36));
}

/// The `MessageGroupId` of every `SendMessage` a client sent, read on the wire.
#[derive(Debug, Clone, Default)]
struct SentGroups(Arc<Mutex<Vec<Option<String>>>>);

impl Intercept for SentGroups {
    fn name(&self) -> &'static str {
        "SentGroups"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "SendMessage")
        {
            let body: Value =
                serde_json::from_slice(context.request().body().bytes().unwrap_or_default())?;
            let group = body["MessageGroupId"].as_str().map(str::to_owned);
            self.0.lock().expect("not poisoned").push(group);
        }
        Ok(())
    }
}

/// SQS fair queues: each job message carries its owner as `MessageGroupId`, so one tenant's
/// burst does not hold back the others' jobs.
#[tokio::test]
async fn a_jobs_message_is_in_its_owners_fair_queue_group() {
    let mut t = TestStack::new().await;
    let sent = SentGroups::default();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&t.sdk)
            .interceptor(sent.clone())
            .build(),
    );
    t.submit.queue = Arc::new(SqsJobQueue::new(sqs, &t.queue_url));
    let (res, job) = t.post_job(&sleep_job(1), &[]).await;
    assert_eq!(res.status(), 202, "{job}");
    // No authorizer in the test stack: every caller is the anonymous owner.
    assert_eq!(*sent.0.lock().unwrap(), [Some("anonymous".to_owned())]);

    // moto keeps the group and hands it to the consumer, as SQS does. (fauxqs 2.4.1 takes a
    // group on a standard queue but does not keep it.)
    if accepted_tests::service_endpoint("SQS") != std::env::var("AWS_ENDPOINT_URL").ok() {
        return;
    }
    let out = t
        .sqs
        .receive_message()
        .queue_url(&t.queue_url)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    let message = &out.messages()[0];
    let group = message
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId));
    assert_eq!(group.map(String::as_str), Some("anonymous"));
}

#[tokio::test]
async fn an_idempotent_replay_returns_the_same_job_and_sends_nothing() {
    let t = TestStack::new().await;
    let key = [("idempotency-key", "order-42")];
    let (first, first_body) = t.post_job(&sleep_job(5), &key).await;
    assert_eq!(first.status(), 202);
    // Same payload, different key order and whitespace: still the same request.
    let reordered = br#"{ "input": {"duration_ms": 5}, "type": "demo.sleep" }"#;
    let (second, second_body) = t
        .post_raw(
            reordered,
            &[("content-type", "application/json"), key[0]],
            None,
        )
        .await;
    assert_eq!(second.status(), 202);
    assert_eq!(header(&second, "idempotent-replayed"), Some("true"));
    assert_eq!(second_body["id"], first_body["id"]);
    assert_eq!(t.receive(&t.consumer, 10).await.len(), 1);
    assert_eq!(
        t.item_count().await,
        1,
        "one job, its own idempotency record"
    );
}

/// IETF draft-09 sends the key as a structured-field string; Stripe-style clients send it
/// bare. Either way it is one key.
#[tokio::test]
async fn a_quoted_key_and_the_same_key_bare_are_one_key() {
    let t = TestStack::new().await;
    let (first, first_body) = t
        .post_job(&sleep_job(5), &[("idempotency-key", "\"order-44\"")])
        .await;
    assert_eq!(first.status(), 202, "{first_body}");
    assert_eq!(header(&first, "idempotent-replayed"), None);
    for replay in ["order-44", " \"order-44\" "] {
        let (res, body) = t
            .post_job(&sleep_job(5), &[("idempotency-key", replay)])
            .await;
        assert_eq!(res.status(), 202, "{replay}: {body}");
        assert_eq!(
            header(&res, "idempotent-replayed"),
            Some("true"),
            "{replay}"
        );
        assert_eq!(body["id"], first_body["id"], "{replay}");
    }
    // An escaped quote is part of the key: not the same key.
    let (res, body) = t
        .post_job(&sleep_job(5), &[("idempotency-key", r#""order-44\"""#)])
        .await;
    assert_eq!(res.status(), 202);
    assert_ne!(body["id"], first_body["id"]);
    assert_eq!(t.receive(&t.consumer, 10).await.len(), 2);
}

/// A keyed put refused by a job that is gone when it is read (TTL deleting an expired holder
/// at that moment) is tried again; past its attempts, submit answers as the draft asks for a
/// key whose request cannot be settled yet, `409` with `Retry-After`, never `503`.
#[tokio::test]
async fn a_key_whose_holder_keeps_vanishing_is_409_and_the_retry_replays() {
    let mut t = TestStack::new().await;
    let vanishing = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&t.sdk)
            .interceptor(HolderAlwaysVanishes)
            .build(),
    );
    let store = Arc::new(
        DynamoJobStore::new(vanishing, &t.config.table_name).with_keyed_ids(t.keyed_ids()),
    );
    let honest = std::mem::replace(&mut t.submit.store, store);
    let key = [("idempotency-key", "\"order-45\"")];
    let (res, body) = t.post_job(&sleep_job(5), &key).await;
    assert_eq!(res.status(), 409, "{body}");
    assert_eq!(body["type"], "/problems/idempotency-key-in-progress");
    assert_eq!(header(&res, "retry-after"), Some("1"));
    assert_eq!(
        t.queue_depth(&t.queue_url).await,
        (0, 0),
        "nothing is queued for a request that was not accepted"
    );

    // The first put did take effect (as another request's would have), so the retry replays it.
    t.submit.store = honest;
    let (res, replayed) = t.post_job(&sleep_job(5), &key).await;
    assert_eq!(res.status(), 202, "{replayed}");
    assert_eq!(header(&res, "idempotent-replayed"), Some("true"));
    assert_eq!(
        t.item_count().await,
        1,
        "one job, which is its own key record"
    );
}

#[tokio::test]
async fn reusing_a_key_for_another_request_is_422_and_writes_nothing() {
    let t = TestStack::new().await;
    let key = [("idempotency-key", "order-43")];
    let (first, _) = t.post_job(&sleep_job(5), &key).await;
    assert_eq!(first.status(), 202);
    let (res, body) = t.post_job(&sleep_job(6), &key).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        header(&res, "content-type"),
        Some("application/problem+json")
    );
    assert_eq!(body["type"], "/problems/idempotency-key-reused");
    assert_eq!(t.item_count().await, 1);
    assert_eq!(t.receive(&t.consumer, 10).await.len(), 1);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_their_owner() {
    let t = TestStack::new().await;
    let body = sleep_job(5).to_string();
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "shared-key"),
    ];
    let (a, a_body) = t.post_raw(body.as_bytes(), &headers, Some("alice")).await;
    let (b, b_body) = t.post_raw(body.as_bytes(), &headers, Some("bob")).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (202, 202));
    assert_eq!(header(&b, "idempotent-replayed"), None);
    assert_ne!(a_body["id"], b_body["id"]);
    assert_eq!(
        t.stored(b_body["id"].as_str().unwrap())
            .await
            .owner
            .as_str(),
        "bob"
    );
}

#[tokio::test]
async fn fifty_concurrent_identical_requests_create_one_job_and_one_message() {
    let t = TestStack::new().await;
    let key = [("idempotency-key", "burst-1")];
    let job = sleep_job(7);
    let requests = (0..50).map(|_| t.post_job(&job, &key));
    let responses = futures::future::join_all(requests).await;
    let mut ids: Vec<&str> = Vec::new();
    for (res, body) in &responses {
        assert_eq!(res.status(), 202, "{body}");
        ids.push(body["id"].as_str().unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all fifty answers name one job");
    let replays = responses
        .iter()
        .filter(|(res, _)| header(res, "idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replays, 49);
    assert_eq!(t.item_count().await, 1);
    assert_eq!(t.receive(&t.consumer, 60).await.len(), 1);
}

#[tokio::test]
async fn every_class_of_bad_input_is_a_problem_and_writes_nothing() {
    let t = TestStack::new().await;
    let json_ct = ("content-type", "application/json");
    let oversized = format!(
        r#"{{"type":"csv.summary","input":{{"csv":"{}"}}}}"#,
        "a".repeat(t.config.max_body_bytes)
    );
    let deep = format!(
        r#"{{"type":"csv.summary","input":{{"csv":"a\n1\n","x":{}1{}}}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let long_key = format!(
        r#"{{"type":"csv.summary","input":{{"{}":1}}}}"#,
        "k".repeat(300)
    );
    let many = format!(
        r#"{{"type":"csv.summary","input":{{"csv":"a\n1\n","x":[{}]}}}}"#,
        vec!["0"; 10_001].join(",")
    );
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, Vec<u8>, Headers, u16, &str)> = vec![
        ("nested too deep", deep.clone().into_bytes(), vec![json_ct], 422, "validation-failed"),
        ("a key too long", long_key.clone().into_bytes(), vec![json_ct], 422, "validation-failed"),
        ("too many values", many.clone().into_bytes(), vec![json_ct], 422, "validation-failed"),
        (
            "malformed",
            b"{\"type\": ".to_vec(),
            vec![json_ct],
            400,
            "malformed-json",
        ),
        ("empty", Vec::new(), vec![json_ct], 400, "malformed-json"),
        (
            "wrong media type",
            sleep_job(1).to_string().into_bytes(),
            vec![("content-type", "text/plain")],
            415,
            "unsupported-media-type",
        ),
        (
            "too large",
            oversized.into_bytes(),
            vec![json_ct],
            413,
            "payload-too-large",
        ),
        (
            "unknown type",
            br#"{"type":"rm.rf","input":{}}"#.to_vec(),
            vec![json_ct],
            422,
            "validation-failed",
        ),
        (
            "invalid input",
            br#"{"type":"demo.sleep","input":{"duration_ms":"long"}}"#.to_vec(),
            vec![json_ct],
            422,
            "validation-failed",
        ),
        (
            "callback to the metadata service",
            br#"{"type":"demo.sleep","input":{"duration_ms":1},"callback_url":"https://169.254.169.254/latest"}"#.to_vec(),
            vec![json_ct],
            422,
            "validation-failed",
        ),
        (
            "callback to a name of loopback",
            br#"{"type":"demo.sleep","input":{"duration_ms":1},"callback_url":"https://localhost/hook"}"#.to_vec(),
            vec![json_ct],
            422,
            "validation-failed",
        ),
        (
            "plain http callback",
            br#"{"type":"demo.sleep","input":{"duration_ms":1},"callback_url":"http://example.com/hook"}"#.to_vec(),
            vec![json_ct],
            422,
            "validation-failed",
        ),
        (
            "not an object",
            b"[]".to_vec(),
            vec![json_ct],
            422,
            "validation-failed",
        ),
        (
            "bad idempotency key",
            sleep_job(1).to_string().into_bytes(),
            vec![json_ct, ("idempotency-key", "has spaces in it")],
            400,
            "invalid-header",
        ),
        (
            "an idempotency key that is not ASCII",
            sleep_job(1).to_string().into_bytes(),
            vec![json_ct, ("idempotency-key", "clé")],
            400,
            "invalid-header",
        ),
        (
            "an idempotency key quoted but not closed",
            sleep_job(1).to_string().into_bytes(),
            vec![json_ct, ("idempotency-key", "\"order-1")],
            400,
            "invalid-header",
        ),
        (
            "an idempotency key with parameters",
            sleep_job(1).to_string().into_bytes(),
            vec![json_ct, ("idempotency-key", "\"order-1\";v=2")],
            400,
            "invalid-header",
        ),
        (
            "two idempotency keys",
            sleep_job(1).to_string().into_bytes(),
            vec![json_ct, ("idempotency-key", "a"), ("idempotency-key", "b")],
            400,
            "invalid-header",
        ),
    ];
    for (name, body, headers, status, problem) in cases {
        let (res, problem_body) = t.post_raw(&body, &headers, None).await;
        assert_eq!(res.status(), status, "{name}: {problem_body}");
        assert_eq!(
            header(&res, "content-type"),
            Some("application/problem+json"),
            "{name}"
        );
        assert_eq!(
            problem_body["type"],
            format!("/problems/{problem}"),
            "{name}"
        );
        assert_eq!(problem_body["status"], status, "{name}");
        assert!(header(&res, "x-correlation-id").is_some(), "{name}");
        assert_eq!(
            problem_body["correlation_id"].as_str(),
            header(&res, "x-correlation-id"),
            "{name}"
        );
    }
    // The structural cases are refused for their limit, not for some other field error.
    for (body, limit) in [
        (deep, "nested deeper"),
        (long_key, "key longer"),
        (many, "more than 10000 values"),
    ] {
        let (_, problem) = t.post_raw(body.as_bytes(), &[json_ct], None).await;
        let errors = problem["errors"].as_array().expect("field errors");
        assert_eq!(errors.len(), 1, "{problem}");
        let message = errors[0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(limit), "{problem}");
    }
    let (_, body) = t
        .post_job(
            &json!({"type": "demo.sleep", "input": {"duration_ms": -1}}),
            &[],
        )
        .await;
    assert_eq!(body["errors"][0]["pointer"], "/input/duration_ms");
    assert_eq!(t.item_count().await, 0, "no bad request wrote anything");
    assert_eq!(t.queue_depth(&t.queue_url).await, (0, 0));
}

#[tokio::test]
async fn only_post_is_accepted() {
    let t = TestStack::new().await;
    let req = accepted_tests::request(lambda_http::http::Method::PUT, "/jobs", b"{}", &[], None);
    let res = accepted_submit::handle(&t.submit, req).await;
    assert_eq!(res.status(), 405);
    assert_eq!(header(&res, "allow"), Some("GET, POST"));
    assert_eq!(t.item_count().await, 0);
}

#[tokio::test]
async fn an_owner_at_the_cap_of_unfinished_jobs_gets_429_until_one_finishes() {
    let t = TestStack::with_registry(
        accepted_builtin_jobs::registry(),
        &[("MAX_UNFINISHED_JOBS_PER_OWNER", "2")],
    )
    .await;
    let body = sleep_job(1).to_string();
    let post = |key: &'static str, owner: &'static str| {
        let body = body.clone();
        let t = &t;
        async move {
            let headers = [
                ("content-type", "application/json"),
                ("idempotency-key", key),
            ];
            t.post_raw(body.as_bytes(), &headers, Some(owner)).await
        }
    };
    for key in ["a-1", "a-2"] {
        assert_eq!(post(key, "alice").await.0.status(), 202);
    }
    let items = t.item_count().await;

    let (res, problem) = post("a-3", "alice").await;
    assert_eq!(res.status(), 429, "{problem}");
    assert_eq!(header(&res, "retry-after"), Some("5"));
    assert_eq!(problem["type"], "/problems/too-many-unfinished-jobs");
    assert_eq!(
        t.item_count().await,
        items,
        "a refused submit writes nothing"
    );

    // A replay adds nothing, so the cap never refuses it; other owners have their own cap.
    let (replay, _) = post("a-1", "alice").await;
    assert_eq!(replay.status(), 202);
    assert_eq!(header(&replay, "idempotent-replayed"), Some("true"));
    assert_eq!(post("b-1", "bob").await.0.status(), 202);

    // Once alice's jobs have run, she may submit again.
    t.drain(10).await;
    assert_eq!(post("a-3", "alice").await.0.status(), 202);
}
