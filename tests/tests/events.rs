//! Lifecycle events on AWS, end to end on moto: the table's DynamoDB stream → the `events`
//! function → EventBridge → a subscriber's rule and queue.

use std::collections::BTreeSet;
use std::sync::Arc;

use accepted_aws::{BusSubscriptions, EventBridgePublisher, Receivers};
use std::sync::Mutex;

use accepted_core::events::{CloudEvent, JobEventKind, DEFAULT_SOURCE};
use accepted_core::{DispatchChecks, EventPublisher, JobMessage, JobStore, Owner, QueueError};
use accepted_events::{handle_records, Kinds, Publisher};
use accepted_tests::faults::{FlakyPublisher, Strike};
use accepted_tests::streams::{StreamReader, Subscriber};
use accepted_tests::TestStack;
use aws_lambda_events::event::dynamodb::Event;
use serde_json::json;

fn bus_publisher(t: &TestStack) -> Arc<dyn EventPublisher> {
    let bus = t.config.require_event_bus().expect("EVENT_BUS_NAME");
    Arc::new(EventBridgePublisher::from_sdk_config(&t.sdk, bus))
}

async fn submit(t: &TestStack, body: serde_json::Value, key: Option<&str>) -> String {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    let (res, job) = t.post_job(&body, &headers).await;
    assert_eq!(res.status(), 202, "{job}");
    job["id"].as_str().unwrap().to_owned()
}

fn types_of(events: &[CloudEvent], job: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.subject == job)
        .map(|e| e.event_type.clone())
        .collect()
}

#[tokio::test]
async fn each_state_change_reaches_subscribers_as_one_cloud_event() {
    // Progress written every 10 ms: many writes, none of them a state change.
    let t = TestStack::with_registry(
        accepted_builtin_jobs::registry(),
        &[("PROGRESS_INTERVAL_MS", "10")],
    )
    .await;
    let subscriber = Subscriber::new(&t, DEFAULT_SOURCE).await;
    let ok = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 300}}),
        Some("key-1"),
    )
    .await;
    let bad = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "fail_attempts": 1, "failure": "permanent"}}),
        None,
    )
    .await;
    t.drain(5).await;

    let publisher = Publisher {
        publisher: bus_publisher(&t),
        source: DEFAULT_SOURCE.to_owned(),
        dispatch_checks: None,
        kinds: accepted_events::Kinds::all(),
    };
    let stream = StreamReader::new(&t).await.all().await;
    assert!(
        stream.records.len() > 8,
        "progress writes are on the stream too"
    );
    let response = handle_records(&publisher, stream).await;
    assert!(response.batch_item_failures.is_empty());

    let events = subscriber.received().await;
    assert_eq!(
        types_of(&events, &ok),
        [
            "accepted.job.created",
            "accepted.job.started",
            "accepted.job.completed"
        ]
    );
    assert_eq!(
        types_of(&events, &bad),
        [
            "accepted.job.created",
            "accepted.job.started",
            "accepted.job.failed"
        ]
    );
    let job = t.stored(&ok).await;
    let completed = events
        .iter()
        .find(|e| e.subject == ok && e.event_type == "accepted.job.completed")
        .unwrap();
    assert_eq!(completed.id, format!("{ok}.1.completed"));
    assert_eq!(completed.correlationid, job.correlation_id.as_str());
    assert_eq!(
        (completed.specversion.as_str(), completed.source.as_str()),
        ("1.0", "accepted.jobs")
    );
    assert_eq!(
        completed.data["links"]["result"],
        format!("/jobs/{ok}/result")
    );
    assert_eq!(events.len(), 6, "the idempotency record makes no event");
}

/// The records from `sequence` on, as Lambda redelivers a batch after a reported failure.
fn from_sequence(stream: &Event, sequence: &str) -> Event {
    let mut retry = stream.clone();
    let start = retry
        .records
        .iter()
        .position(|r| r.change.sequence_number.as_deref() == Some(sequence))
        .expect("the failed record is in the batch");
    retry.records.drain(..start);
    retry
}

#[tokio::test]
async fn a_failed_publication_is_retried_from_the_stream_and_loses_nothing() {
    let t = TestStack::new().await;
    let subscriber = Subscriber::new(&t, DEFAULT_SOURCE).await;
    let ids = [
        submit(
            &t,
            json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
            None,
        )
        .await,
        submit(
            &t,
            json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
            None,
        )
        .await,
    ];
    t.drain(5).await;
    let stream = StreamReader::new(&t).await.all().await;

    // The state changes are committed; the first publication attempt fails (the bus is down,
    // or the function crashed): the batch reports where the stream must resume.
    let publisher = Publisher {
        publisher: Arc::new(FlakyPublisher::new(bus_publisher(&t), 1, Strike::Before)),
        source: DEFAULT_SOURCE.to_owned(),
        dispatch_checks: None,
        kinds: accepted_events::Kinds::all(),
    };
    let failed = handle_records(&publisher, stream.clone()).await;
    assert_eq!(failed.batch_item_failures.len(), 1);
    let resume = failed.batch_item_failures[0]
        .item_identifier
        .clone()
        .expect("a sequence number");
    assert_eq!(
        Some(resume.as_str()),
        stream.records[0].change.sequence_number.as_deref()
    );
    assert!(subscriber.received().await.is_empty());

    // Lambda retries from there; then the whole batch again, as after a crash that published
    // but did not checkpoint.
    let retried = handle_records(&publisher, from_sequence(&stream, &resume)).await;
    assert!(retried.batch_item_failures.is_empty());
    let again = handle_records(&publisher, stream).await;
    assert!(again.batch_item_failures.is_empty());

    let events = subscriber.received().await;
    let distinct: BTreeSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(distinct.len(), 6, "three state changes per job, none lost");
    assert_eq!(events.len(), 12, "redelivered events repeat their ids");
    for id in &ids {
        assert_eq!(types_of(&events, id).len(), 6);
    }
}

/// Remembers the jobs it was asked to check; refuses the first `refusals` calls.
#[derive(Default)]
struct RecordedChecks {
    scheduled: Mutex<Vec<String>>,
    refusals: Mutex<usize>,
}

#[async_trait::async_trait]
impl DispatchChecks for RecordedChecks {
    async fn schedule(&self, jobs: &[(JobMessage, Owner)]) -> Result<(), QueueError> {
        let mut refusals = self.refusals.lock().unwrap();
        if *refusals > 0 {
            *refusals -= 1;
            return Err(QueueError::Unavailable("injected".into()));
        }
        let mut scheduled = self.scheduled.lock().unwrap();
        scheduled.extend(jobs.iter().map(|(m, _)| m.job_id.to_string()));
        Ok(())
    }
}

#[tokio::test]
async fn each_stored_job_gets_one_dispatch_check_and_a_failed_one_is_retried() {
    let t = TestStack::new().await;
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1}});
    let plain = submit(&t, body.clone(), None).await;
    let keyed = submit(&t, body.clone(), Some("key-1")).await;
    assert_eq!(submit(&t, body, Some("key-1")).await, keyed, "a replay");
    t.drain(5).await;
    let stream = StreamReader::new(&t).await.all().await;

    // The first scheduling fails: the batch resumes at the first record of its group.
    let checks = Arc::new(RecordedChecks {
        refusals: Mutex::new(1),
        ..RecordedChecks::default()
    });
    let publisher = Publisher {
        publisher: bus_publisher(&t),
        source: DEFAULT_SOURCE.to_owned(),
        dispatch_checks: Some(checks.clone()),
        kinds: accepted_events::Kinds::all(),
    };
    let failed = handle_records(&publisher, stream.clone()).await;
    assert_eq!(failed.batch_item_failures.len(), 1);
    assert_eq!(
        failed.batch_item_failures[0].item_identifier.as_deref(),
        stream.records[0].change.sequence_number.as_deref()
    );
    assert!(checks.scheduled.lock().unwrap().is_empty());

    let resume = failed.batch_item_failures[0]
        .item_identifier
        .clone()
        .unwrap();
    let retried = handle_records(&publisher, from_sequence(&stream, &resume)).await;
    assert!(retried.batch_item_failures.is_empty());
    // Starts, completions and the replay wrote no new job: two jobs, two checks.
    assert_eq!(*checks.scheduled.lock().unwrap(), [plain, keyed]);
}

#[derive(Default)]
struct RecordedEvents(Mutex<Vec<CloudEvent>>);

#[async_trait::async_trait]
impl EventPublisher for RecordedEvents {
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), accepted_core::PublishError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

/// A publisher of `kinds` that records what it publishes and schedules.
fn recording(kinds: Kinds) -> (Publisher, Arc<RecordedEvents>, Arc<RecordedChecks>) {
    let events = Arc::new(RecordedEvents::default());
    let checks = Arc::new(RecordedChecks::default());
    let publisher = Publisher {
        publisher: events.clone(),
        source: DEFAULT_SOURCE.to_owned(),
        dispatch_checks: Some(checks.clone()),
        kinds,
    };
    (publisher, events, checks)
}

/// A keyed job's id is its owner's and key's: a key used again after its job expired writes
/// the new job over the old item, and that write is the new job's creation, with its event
/// and its dispatch check.
#[tokio::test]
async fn a_new_job_written_over_an_expired_one_is_accepted_and_checked() {
    let t = TestStack::new().await;
    let mut expired = accepted_tests::ports::new_job("anonymous", Some("key-again"), "fp-old");
    expired.expires_at = accepted_core::Timestamp::from_millis(0);
    let old = t.store.create(&expired).await.unwrap().job().clone();
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1}});
    assert_eq!(
        submit(&t, body, Some("key-again")).await,
        old.id.to_string()
    );

    let (publisher, events, checks) = recording(Kinds::all());
    let stream = StreamReader::new(&t).await.all().await;
    assert_eq!(
        stream.records.len(),
        2,
        "the old job's insert, the new job's put over it"
    );
    assert!(handle_records(&publisher, stream)
        .await
        .batch_item_failures
        .is_empty());
    let id = old.id.to_string();
    let recorded = events.0.lock().unwrap().clone();
    assert_eq!(
        types_of(&recorded, &id),
        ["accepted.job.created", "accepted.job.created"]
    );
    assert_eq!(*checks.scheduled.lock().unwrap(), [id.clone(), id]);
}

/// `EVENT_KINDS=terminal` (the template's `LifecycleEvents=Terminal`): one event per job, its
/// last, and the new job's dispatch check all the same.
#[tokio::test]
async fn only_the_kinds_configured_are_published_and_every_new_job_is_still_checked() {
    let t = TestStack::new().await;
    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1}});
    let id = submit(&t, body, Some("terminal-only")).await;
    t.drain(5).await;

    let (publisher, events, checks) = recording(Kinds::Listed(
        JobEventKind::parse_list("terminal").expect("a list"),
    ));
    let stream = StreamReader::new(&t).await.all().await;
    assert!(handle_records(&publisher, stream)
        .await
        .batch_item_failures
        .is_empty());
    let recorded = events.0.lock().unwrap().clone();
    assert_eq!(types_of(&recorded, &id), ["accepted.job.completed"]);
    assert_eq!(*checks.scheduled.lock().unwrap(), [id]);
}

/// `EVENT_KINDS=subscribed`, the default: what an enabled rule on the bus may match is
/// published, through the rule's whole pattern, and everything once an archive records the
/// bus. The stack's own rule (webhooks) takes the terminal events of jobs with a callback:
/// a job without one publishes nothing.
#[tokio::test]
async fn subscribed_publishes_what_the_bus_rules_and_archives_receive() {
    let t = TestStack::new().await;
    let bus = t.config.require_event_bus().expect("EVENT_BUS_NAME");
    let plain = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
        Some("subscribed-plain"),
    )
    .await;
    let hooked = submit(
        &t,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1},
               "callback_url": "https://hooks.example.com/done"}),
        Some("subscribed-hooked"),
    )
    .await;
    t.drain(5).await;
    // Each reading is a new one: a reading is cached for a minute.
    let published = || async {
        let subscribed = Arc::new(BusSubscriptions::from_sdk_config(&t.sdk, bus));
        let (publisher, recorded, checks) = recording(Kinds::Subscribed(subscribed));
        let stream = StreamReader::new(&t).await.all().await;
        assert!(handle_records(&publisher, stream)
            .await
            .batch_item_failures
            .is_empty());
        let mut scheduled = checks.scheduled.lock().unwrap().clone();
        scheduled.sort();
        let mut both = vec![plain.clone(), hooked.clone()];
        both.sort();
        assert_eq!(scheduled, both, "every new job is checked all the same");
        let recorded = recorded.0.lock().unwrap().clone();
        (types_of(&recorded, &plain), types_of(&recorded, &hooked))
    };
    let none: [&str; 0] = [];
    let (of_plain, of_hooked) = published().await;
    assert_eq!(of_plain, none, "nothing receives a job without a callback");
    assert_eq!(of_hooked, ["accepted.job.completed"]);

    let events = aws_sdk_eventbridge::Client::new(&t.sdk);
    let rule = |name: &'static str, pattern: serde_json::Value, state| {
        events
            .put_rule()
            .name(name)
            .event_bus_name(bus)
            .state(state)
            .event_pattern(pattern.to_string())
            .send()
    };
    use aws_sdk_eventbridge::types::RuleState;
    let kind = |kind: &str| json!({"source": [DEFAULT_SOURCE], "detail-type": [kind]});
    rule("on-start", kind("accepted.job.started"), RuleState::Enabled)
        .await
        .expect("a rule");
    rule(
        "on-create-later",
        kind("accepted.job.created"),
        RuleState::Disabled,
    )
    .await
    .expect("a disabled rule");
    rule(
        "elsewhere",
        json!({"source": ["other.app"]}),
        RuleState::Enabled,
    )
    .await
    .expect("a rule on another source");
    rule(
        "hooked-creations",
        json!({"detail-type": ["accepted.job.created"],
               "detail": {"data": {"callback_url": [{"prefix": "https://hooks."}]}}}),
        RuleState::Enabled,
    )
    .await
    .expect("a rule on the job's data");
    let (of_plain, of_hooked) = published().await;
    assert_eq!(of_plain, ["accepted.job.started"]);
    assert_eq!(
        of_hooked,
        [
            "accepted.job.created",
            "accepted.job.started",
            "accepted.job.completed"
        ]
    );

    let bus_arn = events
        .describe_event_bus()
        .name(bus)
        .send()
        .await
        .expect("the bus")
        .arn
        .expect("an ARN");
    events
        .create_archive()
        .archive_name(format!("{bus}-replay"))
        .event_source_arn(bus_arn)
        .send()
        .await
        .expect("an archive");
    let (of_plain, _) = published().await;
    assert_eq!(
        of_plain,
        [
            "accepted.job.created",
            "accepted.job.started",
            "accepted.job.completed"
        ],
        "an archive may replay anything"
    );
    events
        .delete_archive()
        .archive_name(format!("{bus}-replay"))
        .send()
        .await
        .expect("the archive deleted");
}

/// A bus that cannot be read (here: none by that name) publishes everything: a missing
/// permission costs events, never loses one.
#[tokio::test]
async fn an_unreadable_bus_publishes_everything() {
    let t = TestStack::new().await;
    let missing = BusSubscriptions::from_sdk_config(&t.sdk, "no-such-bus");
    let err = missing.receivers().await.expect_err("no such bus");
    assert!(err.to_string().contains("no-such-bus"), "{err}");
    // Until the next reading, everything.
    let cached = missing.receivers().await.expect("cached");
    assert!(matches!(*cached, Receivers::Everything), "{cached:?}");
}
