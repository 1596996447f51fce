//! The ports of both backends side by side, for the conformance suites: the embedded adapters
//! (SQLite) and the AWS adapters (DynamoDB and SQS on the emulators the environment names:
//! moto, or DynamoDB Local and fauxqs beside it in CI's `second emulators` step; and once more with
//! DynamoDB's answers stripped as dynalite strips them). A behaviour that differs is a bug in the
//! embedded one: the AWS services are the reference.

use std::sync::Arc;
use std::time::Duration;

use accepted_aws::{DynamoJobStore, SqsJobQueue};
use accepted_core::{
    CorrelationId, IdempotencyKey, Job, JobQueue, JobStore, NewJob, Owner, QueueConsumer, Timestamp,
};
use accepted_embedded::{Database, EmbeddedJobStore, EmbeddedQueue, QueueSettings};
use serde_json::json;

use crate::TestStack;

pub struct Ports {
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    pub consumer: Arc<dyn QueueConsumer>,
    pub dead_letters: Arc<dyn QueueConsumer>,
    pub max_receive_count: u32,
    /// Keeps the emulator stack alive for the test's duration.
    _stack: Option<TestStack>,
}

pub async fn embedded() -> Ports {
    let db = Database::in_memory().expect("in-memory database");
    let settings = QueueSettings::default();
    let queue = EmbeddedQueue::new(db.clone(), "jobs", settings.clone());
    let dlq = queue.dead_letter_queue().expect("a dead-letter queue");
    Ports {
        store: Arc::new(EmbeddedJobStore::new(db)),
        queue: Arc::new(queue.clone()),
        consumer: Arc::new(queue),
        dead_letters: Arc::new(dlq),
        max_receive_count: settings.max_receive_count.expect("redrive"),
        _stack: None,
    }
}

/// The AWS adapters, with DynamoDB answers stripped of the item a refused write returns (dynalite's
/// behaviour): the store must read what it was not told.
pub async fn aws_without_old_items() -> Ports {
    let mut ports = aws().await;
    let t = ports._stack.as_ref().expect("a stack");
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&t.sdk)
            .interceptor(crate::old_items::DropsOldItems)
            .build(),
    );
    ports.store =
        Arc::new(DynamoJobStore::new(client, &t.config.table_name).with_keyed_ids(t.keyed_ids()));
    ports
}

/// The AWS adapters on a private stack of the emulators (`AWS_ENDPOINT_URL`, and the
/// per-service variables where set).
pub async fn aws() -> Ports {
    let t = TestStack::new().await;
    let queue = SqsJobQueue::from_sdk_config(&t.sdk, &t.queue_url);
    Ports {
        store: t.store.clone(),
        queue: Arc::new(queue.clone()),
        consumer: Arc::new(queue),
        dead_letters: Arc::new(SqsJobQueue::from_sdk_config(&t.sdk, &t.dlq_url)),
        max_receive_count: 5,
        _stack: Some(t),
    }
}

/// Runs each named check (an `async fn(Ports)` in the calling module) on both backends.
#[macro_export]
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod embedded_backend {
            $( #[tokio::test] async fn $check() { super::$check($crate::ports::embedded().await).await } )*
        }
        mod aws_adapters {
            $( #[tokio::test] async fn $check() { super::$check($crate::ports::aws().await).await } )*
        }
        mod aws_without_old_items {
            $( #[tokio::test] async fn $check() { super::$check($crate::ports::aws_without_old_items().await).await } )*
        }
    };
}

pub fn new_job(owner: &str, key: Option<&str>, fingerprint: &str) -> Job {
    Job::create(
        NewJob {
            owner: Owner::parse(owner).unwrap(),
            job_type: "demo.sleep".into(),
            input: json!({"duration_ms": 1, "nested": {"list": [1, "two", null], "ok": true}}),
            callback_url: Some("https://example.com/hook".into()),
            correlation_id: CorrelationId::generate(),
            idempotency_key: key.map(|k| IdempotencyKey::parse(k).unwrap()),
            fingerprint: fingerprint.into(),
        },
        Timestamp::now(),
        Duration::from_secs(3600),
    )
}

pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000 + ms)
}
