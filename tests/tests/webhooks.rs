//! Webhook delivery on moto: the template's rule routes terminal events to the webhook queue,
//! the `webhooks` function POSTs them to a real receiver on 127.0.0.1, signed with the
//! owner's key from the template's Secrets Manager secret; retries are scheduled on the real
//! queue by visibility, and deliveries that end unsuccessfully land on its dead-letter queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accepted_aws::{secret_provider, EventBridgePublisher, SqsJobQueue};
use accepted_core::config::WebhookConfig;
use accepted_core::events::{CloudEvent, JobEventKind, DEFAULT_SOURCE};
use accepted_core::message::DEAD_LETTER_REASON;
use accepted_core::webhook::delivery::WebhookPayload;
use accepted_core::webhook::https::HttpsTransport;
use accepted_core::webhook::{verify, WebhookHeaders, WebhookSecret};
use accepted_core::{JobQueue, QueueConsumer, ReceivedMessage};
use accepted_events::{handle_records, Publisher};
use accepted_tests::receiver::{Answer, Received, Receiver};
use accepted_tests::streams::StreamReader;
use accepted_tests::TestStack;
use accepted_webhooks::{handle_batch, Deliverer};
use lambda_http::http::Method;
use serde_json::{json, Value};

/// The template's stack, with callbacks to 127.0.0.1 allowed (development policy).
async fn stack() -> TestStack {
    TestStack::with_registry(
        accepted_builtin_jobs::registry(),
        &[("ACCEPTED_INSECURE_CALLBACKS", "true")],
    )
    .await
}

struct Rig {
    deliverer: Arc<Deliverer>,
    queue: SqsJobQueue,
    queue_url: String,
    dead_letters: SqsJobQueue,
}

/// The webhooks function as the template configures it, with `overrides`.
async fn rig(t: &TestStack, overrides: &[(&str, &str)]) -> Rig {
    let mut env: HashMap<String, String> = t.stack.env.clone().into_iter().collect();
    env.insert("ACCEPTED_INSECURE_CALLBACKS".into(), "true".into());
    for (k, v) in overrides {
        env.insert((*k).into(), (*v).into());
    }
    let config = WebhookConfig::from_lookup(|k| env.get(k).cloned()).expect("webhook config");
    let queue = SqsJobQueue::from_sdk_config(&t.sdk, &config.queue_url);
    let dlq_url = config
        .dead_letter_queue_url
        .clone()
        .expect("WEBHOOK_DLQ_URL");
    let dead_letters = SqsJobQueue::from_sdk_config(&t.sdk, &dlq_url);
    let transport = HttpsTransport::new(config.destinations, config.timeout).expect("transport");
    let secrets = secret_provider(&t.sdk, &config.secret).expect("secret");
    let mut deliverer = Deliverer::new(Arc::new(transport), secrets, &config)
        .with_queue(Arc::new(queue.clone()))
        .with_dead_letter_queue(Arc::new(dead_letters.clone()));
    deliverer.jitter = || 0.5; // the schedule's delays exactly
    Rig {
        deliverer: Arc::new(deliverer),
        queue_url: config.queue_url.clone(),
        queue,
        dead_letters,
    }
}

/// One poll of the event source mapping on the webhook queue; the number of messages handled.
async fn poll(t: &TestStack, rig: &Rig) -> usize {
    let messages: Vec<ReceivedMessage> = t.receive(&rig.queue, 10).await;
    if messages.is_empty() {
        return 0;
    }
    let event = accepted_worker::sqs_event(&messages, &rig.queue_url);
    let response = handle_batch(&rig.deliverer, event).await;
    for m in &messages {
        let failed = response
            .batch_item_failures
            .iter()
            .any(|f| f.item_identifier == m.message_id);
        if !failed {
            rig.queue.delete(&m.receipt_handle).await.expect("delete");
        }
    }
    messages.len()
}

/// Polls until `done` holds or `limit` passes.
async fn poll_until(t: &TestStack, rig: &Rig, limit: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < limit {
        poll(t, rig).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs jobs to their end, then publishes their events once from the table's stream to the
/// bus, from which the template's rule routes terminal events to the webhook queue.
async fn run_and_publish(t: &TestStack, bodies: &[Value]) -> Vec<String> {
    let mut ids = Vec::new();
    for body in bodies {
        let (res, job) = t.post_job(body, &[]).await;
        assert_eq!(res.status(), 202, "{job}");
        ids.push(job["id"].as_str().expect("id").to_owned());
    }
    t.drain(10).await;
    publish(t).await;
    ids
}

/// True, and says why, when the template's rule from the bus to the webhook queue cannot
/// exist on this mix of emulators ([`accepted_tests::rules_reach_the_queues`]).
fn no_route_from_the_bus() -> bool {
    let missing = !accepted_tests::rules_reach_the_queues();
    if missing {
        eprintln!(
            "skipped: EventBridge and SQS are on different emulators, so the bus's rule \
             cannot deliver to the webhook queue"
        );
    }
    missing
}

/// The events function, once over everything on the table's stream.
async fn publish(t: &TestStack) {
    let publisher = Publisher {
        publisher: Arc::new(EventBridgePublisher::from_sdk_config(
            &t.sdk,
            t.config.require_event_bus().expect("bus"),
        )),
        source: DEFAULT_SOURCE.to_owned(),
        dispatch_checks: None,
        kinds: accepted_events::Kinds::all(),
    };
    let stream = StreamReader::new(t).await.all().await;
    let response = handle_records(&publisher, stream).await;
    assert!(response.batch_item_failures.is_empty());
}

/// A lifecycle event put on the webhook queue directly, as the rule would: the completion of
/// a real job, so the body delivered is one the contract describes.
async fn enqueue_event(rig: &Rig, callback_url: &str, owner: &str) -> CloudEvent {
    let now = accepted_core::Timestamp::now();
    let job = accepted_core::Job::create(
        accepted_core::NewJob {
            owner: accepted_core::Owner::parse(owner).expect("an owner"),
            job_type: "demo.sleep".into(),
            input: json!({"duration_ms": 1}),
            callback_url: Some(callback_url.into()),
            correlation_id: accepted_core::CorrelationId::parse("corr-webhook").expect("an id"),
            idempotency_key: None,
            fingerprint: "f".into(),
        },
        now,
        Duration::from_secs(3600),
    );
    let done = job
        .apply(&accepted_core::Transition::Start {
            now,
            lease_until: now.plus(Duration::from_secs(60)),
        })
        .and_then(|running| {
            running.apply(&accepted_core::Transition::Complete {
                attempt: 1,
                now,
                result: json!({}),
            })
        })
        .expect("a completed job");
    let event = CloudEvent::for_job(JobEventKind::Completed, &done, DEFAULT_SOURCE);
    rig.queue
        .send_raw(&serde_json::to_string(&event).unwrap(), &[], None)
        .await
        .expect("send");
    event
}

async fn owners_key(t: &TestStack, owner: &str) -> WebhookSecret {
    let (res, body) = t
        .call(Method::GET, "/webhook-secret", &[], Some(owner))
        .await;
    assert_eq!(res.status(), 200, "{body}");
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    WebhookSecret::parse(body["secret"].as_str().expect("secret")).expect("whsec_ key")
}

fn verifies(key: &WebhookSecret, r: &Received) -> bool {
    let headers = WebhookHeaders {
        id: r.header("webhook-id"),
        timestamp: r.header("webhook-timestamp"),
        signature: r.header("webhook-signature"),
    };
    let now = accepted_core::Timestamp::now().as_secs();
    verify(key, headers, &r.body, now, 300).is_ok()
}

async fn dead_letter_reasons(t: &TestStack, rig: &Rig) -> Vec<String> {
    t.receive(&rig.dead_letters, 10)
        .await
        .into_iter()
        .map(|m| {
            m.attributes
                .get(DEAD_LETTER_REASON)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn a_finished_jobs_owner_receives_one_signed_webhook_per_terminal_state() {
    if no_route_from_the_bus() {
        return;
    }
    let t = stack().await;
    let rig = rig(&t, &[]).await;
    let receiver = Receiver::start().await;
    let url = receiver.url("/hooks/jobs?token=abc");
    let ids = run_and_publish(
        &t,
        &[
            json!({"type": "demo.sleep", "input": {"duration_ms": 1}, "callback_url": url}),
            json!({"type": "demo.sleep", "callback_url": url,
                   "input": {"duration_ms": 1, "fail_attempts": 1, "failure": "permanent"}}),
            json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
        ],
    )
    .await;
    let (done, failed) = (&ids[0], &ids[1]);

    poll_until(&t, &rig, Duration::from_secs(10), || {
        receiver.received().len() >= 2
    })
    .await;
    poll(&t, &rig).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2, "one per terminal job with a callback");

    let key = owners_key(&t, "anonymous").await;
    let other = owners_key(&t, "someone-else").await;
    for r in &received {
        assert_eq!(r.path, "/hooks/jobs");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(verifies(&key, r), "signed with the owner's key");
        assert!(!verifies(&other, r), "not with another owner's");
        let payload: WebhookPayload = serde_json::from_slice(&r.body).unwrap();
        let job = payload.data["id"].as_str().unwrap().to_owned();
        let stored = t.stored(&job).await;
        assert_eq!(
            r.header("x-correlation-id"),
            Some(stored.correlation_id.as_str())
        );
        let expected = if job == *done {
            ("accepted.job.completed", "completed")
        } else {
            assert_eq!(job, *failed);
            ("accepted.job.failed", "failed")
        };
        assert_eq!(
            (payload.event_type.as_str(), payload.data["status"].as_str()),
            (expected.0, Some(expected.1))
        );
        assert_eq!(
            r.header("webhook-id"),
            Some(format!("{job}.1.{}", expected.1).as_str()),
            "the webhook id is the event id"
        );
    }
    assert_eq!(
        t.queue_depth(&rig.queue_url).await,
        (0, 0),
        "delivered and deleted"
    );
}

#[tokio::test]
async fn retries_follow_the_schedule_honour_retry_after_and_keep_their_id() {
    let t = stack().await;
    let rig = rig(&t, &[("WEBHOOK_RETRY_SCHEDULE", "1s,1s,1s")]).await;
    let receiver = Receiver::start().await;
    receiver
        .then(Answer::status(503).retry_after("3"))
        .then(Answer::status(500))
        .then(Answer::status(200));
    enqueue_event(&rig, &receiver.url("/h"), "owner-a").await;

    poll_until(&t, &rig, Duration::from_secs(15), || {
        receiver.received().len() >= 3
    })
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    let first_wait = received[1].at - received[0].at;
    assert!(
        first_wait >= Duration::from_millis(2_900),
        "Retry-After: 3 holds the next attempt back (waited {first_wait:?})"
    );
    let second_wait = received[2].at - received[1].at;
    assert!(
        second_wait >= Duration::from_millis(900),
        "then the schedule's 1 s (waited {second_wait:?})"
    );
    let ids: Vec<_> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one id across attempts");
    let key = owners_key(&t, "owner-a").await;
    assert!(
        received.iter().all(|r| verifies(&key, r)),
        "each attempt signed afresh"
    );
    poll(&t, &rig).await;
    assert_eq!(t.queue_depth(&rig.queue_url).await, (0, 0));
    assert!(dead_letter_reasons(&t, &rig).await.is_empty());
}

#[tokio::test]
async fn gone_ends_a_delivery_and_an_exhausted_one_is_set_aside() {
    let t = stack().await;
    let rig = rig(&t, &[("WEBHOOK_RETRY_SCHEDULE", "1s")]).await;
    let gone = Receiver::start().await;
    gone.always(Answer::status(410));
    let broken = Receiver::start().await;
    broken.always(Answer::status(500));
    enqueue_event(&rig, &gone.url("/h"), "o").await;
    enqueue_event(&rig, &broken.url("/h"), "o").await;

    poll_until(&t, &rig, Duration::from_secs(10), || {
        broken.received().len() >= 2
    })
    .await;
    poll(&t, &rig).await;
    assert_eq!(gone.received().len(), 1, "410: never again");
    assert_eq!(broken.received().len(), 2, "the schedule's two attempts");
    assert_eq!(dead_letter_reasons(&t, &rig).await, ["attempts_exhausted"]);
    assert_eq!(t.queue_depth(&rig.queue_url).await, (0, 0));
}

#[tokio::test]
async fn a_failing_destination_opens_its_breaker_and_others_are_unaffected() {
    let t = stack().await;
    let rig = rig(
        &t,
        &[
            ("WEBHOOK_RETRY_SCHEDULE", "1s,1s"),
            ("WEBHOOK_BREAKER_FAILURES", "2"),
            ("WEBHOOK_BREAKER_COOL_DOWN_MS", "60000"),
            // One at a time: deliveries of one batch run concurrently, and all would be
            // under way before the first failure is known.
            ("WEBHOOK_CONCURRENCY", "1"),
        ],
    )
    .await;
    let down = Receiver::start().await;
    down.always(Answer::status(502));
    let healthy = Receiver::start().await;
    for _ in 0..4 {
        enqueue_event(&rig, &down.url("/h"), "o").await;
    }
    enqueue_event(&rig, &healthy.url("/h"), "o").await;
    for _ in 0..3 {
        poll(&t, &rig).await;
    }
    assert_eq!(
        down.received().len(),
        2,
        "after two failures the breaker holds the rest back"
    );
    assert_eq!(healthy.received().len(), 1);
}

#[tokio::test]
async fn non_public_destinations_are_refused_at_delivery() {
    let t = stack().await;
    // The production policy: no http, no loopback.
    let rig = rig(&t, &[("ACCEPTED_INSECURE_CALLBACKS", "false")]).await;
    let receiver = Receiver::start().await;
    let port = receiver.base_url.rsplit(':').next().unwrap().to_owned();
    enqueue_event(&rig, &format!("https://127.0.0.1:{port}/h"), "o").await;
    enqueue_event(&rig, &format!("https://localhost:{port}/h"), "o").await;
    enqueue_event(&rig, "https://169.254.169.254/latest/meta-data/", "o").await;
    poll(&t, &rig).await;
    assert!(receiver.received().is_empty(), "nothing reached loopback");
    let mut reasons = dead_letter_reasons(&t, &rig).await;
    reasons.sort();
    assert_eq!(reasons, ["destination_refused"; 3]);
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_unreadable_messages_are_set_aside() {
    let t = stack().await;
    let rig = rig(
        &t,
        &[
            ("WEBHOOK_TIMEOUT_MS", "300"),
            ("WEBHOOK_RETRY_SCHEDULE", "1s"),
        ],
    )
    .await;
    let slow = Receiver::start().await;
    // Far longer than the timeout, so the cut is unmistakable on a loaded machine too.
    slow.then(Answer::status(200).after(Duration::from_secs(20)));
    enqueue_event(&rig, &slow.url("/h"), "o").await;
    rig.queue.send_raw("{not json", &[], None).await.unwrap();
    let started = Instant::now();
    poll(&t, &rig).await;
    assert!(
        started.elapsed() < Duration::from_millis(1_900),
        "the attempt was cut short"
    );
    assert_eq!(dead_letter_reasons(&t, &rig).await, ["not_an_event"]);
    poll_until(&t, &rig, Duration::from_secs(8), || {
        slow.received().len() >= 2
    })
    .await;
    assert_eq!(slow.received().len(), 2, "the timed-out attempt is retried");
}

#[tokio::test]
async fn a_crash_after_the_post_repeats_the_delivery_with_the_same_id() {
    let t = stack().await;
    let rig = rig(&t, &[]).await;
    let receiver = Receiver::start().await;
    enqueue_event(&rig, &receiver.url("/h"), "o").await;

    // The function posts, then dies before its answer reaches the event source: the message
    // is neither deleted nor settled, and comes back when its visibility runs out.
    let messages = t.receive(&rig.queue, 10).await;
    assert_eq!(messages.len(), 1);
    let event = accepted_worker::sqs_event(&messages, &rig.queue_url);
    let step = accepted_webhooks::deliver(&rig.deliverer, &event.records[0]).await;
    assert_eq!(step, accepted_webhooks::Step::Done("delivered"));
    rig.queue
        .change_visibility(&messages[0].receipt_handle, Duration::ZERO)
        .await
        .expect("visibility runs out");

    poll_until(&t, &rig, Duration::from_secs(5), || {
        receiver.received().len() >= 2
    })
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 2, "delivered again: at least once");
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id"),
        "the receiver deduplicates on the id"
    );
    assert_eq!(t.queue_depth(&rig.queue_url).await, (0, 0));
}

/// Log lines as the functions write them (JSON, span fields included), kept in memory.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// One job, followed by its correlation id through every hop: the HTTP answer, the stored
/// job, the queue message (with the X-Ray trace header), the worker, the status answer, the
/// lifecycle events, the webhook, and every log line any of them wrote about the job.
#[tokio::test]
async fn one_correlation_id_follows_a_job_through_every_hop() {
    if no_route_from_the_bus() {
        return;
    }
    const TRACE: &str =
        "Root=1-6740f1a2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1";
    const CID: &str = "order-17-checkout";
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    // The functions' own line format, as `logging::init` installs it.
    let subscriber = accepted_core::logging::subscriber("accepted", "info", move || writer.clone());
    // Global: the other tests of this binary log into it too, and are filtered out below by
    // job id. (A thread-local default misses lines whose callsites other threads hit first.)
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    // As Lambda's runtime sets it for the invocation (harmless to the other tests).
    std::env::set_var("_X_AMZN_TRACE_ID", TRACE);

    let t = stack().await;
    let rig = rig(&t, &[]).await;
    let receiver = Receiver::start().await;
    let events = accepted_tests::streams::Subscriber::new(&t, DEFAULT_SOURCE).await;
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1},
                      "callback_url": receiver.url("/hook")});

    // HTTP in and out, and the stored job.
    let (res, job) = t.post_job(&body, &[("x-correlation-id", CID)]).await;
    assert_eq!(res.status(), 202);
    assert_eq!(accepted_tests::header(&res, "x-correlation-id"), Some(CID));
    assert_eq!(job["correlation_id"], CID);
    let id = job["id"].as_str().expect("id").to_owned();
    assert_eq!(t.stored(&id).await.correlation_id.as_str(), CID);

    // The queue message: body, attribute and X-Ray header. Looked at, then made visible again.
    let out = t
        .sqs
        .receive_message()
        .queue_url(&t.queue_url)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive");
    let message = &out.messages()[0];
    let queued: Value = serde_json::from_str(message.body().unwrap_or_default()).unwrap();
    assert_eq!(
        (queued["job_id"].as_str(), queued["correlation_id"].as_str()),
        (Some(id.as_str()), Some(CID))
    );
    let attribute = message
        .message_attributes()
        .and_then(|a| a.get("correlation_id"));
    assert_eq!(attribute.and_then(|a| a.string_value()), Some(CID));
    let system = message.attributes().expect("system attributes");
    assert_eq!(
        system
            .get(&aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader)
            .map(String::as_str),
        Some(TRACE),
        "the X-Ray trace continues through the queue"
    );
    t.sqs
        .change_message_visibility()
        .queue_url(&t.queue_url)
        .receipt_handle(message.receipt_handle().unwrap_or_default())
        .visibility_timeout(0)
        .send()
        .await
        .expect("visible again");

    // The worker, the status answer, the events, the webhook.
    t.drain(10).await;
    let (res, status) = t
        .call(
            Method::GET,
            &format!("/jobs/{id}"),
            &[("x-correlation-id", CID)],
            None,
        )
        .await;
    assert_eq!(status["status"], "completed");
    assert_eq!(status["correlation_id"], CID);
    assert_eq!(accepted_tests::header(&res, "x-correlation-id"), Some(CID));
    publish(&t).await;
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(events.received().await);
        if seen.len() >= 3 {
            break;
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "accepted.job.created",
            "accepted.job.started",
            "accepted.job.completed"
        ]
    );
    assert!(seen
        .iter()
        .all(|e| e.correlationid == CID && e.data["correlation_id"] == CID));
    poll_until(&t, &rig, Duration::from_secs(10), || {
        !receiver.received().is_empty()
    })
    .await;
    let hook = &receiver.received()[0];
    assert_eq!(hook.header("x-correlation-id"), Some(CID));
    let payload: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(payload["data"]["correlation_id"], CID);

    // Every log line about the job names the same correlation id, in every function.
    let about_job: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["job_id"] == id.as_str())
        .collect();
    for line in &about_job {
        assert_eq!(line["correlation_id"], CID, "{line}");
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let messages: Vec<&str> = about_job
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    for expected in [
        "job accepted",
        "job started",
        "job updated",
        "event published",
        "webhook delivered",
    ] {
        assert!(
            messages.contains(&expected),
            "no {expected:?} line in {messages:?}"
        );
    }
    let started = about_job
        .iter()
        .find(|l| l["message"] == "job started")
        .unwrap();
    assert_eq!(
        started["trace"], TRACE,
        "the worker's lines lead to the trace"
    );
}
