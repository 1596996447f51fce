//! Lifecycle events on the embedded backend: written with the change they report (outbox),
//! relayed at least once, never lost across a crash, never invented by a refused change.

use std::collections::BTreeSet;
use std::sync::Arc;

use accepted_core::events::CloudEvent;
use accepted_core::{JobStore, Transition};
use accepted_embedded::{Database, EmbeddedJobStore, EventOutbox, JsonLinesSink};
use accepted_tests::faults::{FlakyPublisher, RecordingPublisher, Strike};
use accepted_tests::ports::{at, new_job};
use serde_json::json;

fn backend() -> (EmbeddedJobStore, EventOutbox) {
    let db = Database::in_memory().expect("database");
    (EmbeddedJobStore::new(db.clone()), EventOutbox::new(db))
}

async fn run_to_completion(store: &EmbeddedJobStore) -> accepted_core::Job {
    let job = new_job("owner-a", None, "f");
    store.create(&job).await.unwrap();
    let start = Transition::Start {
        now: at(1_000),
        lease_until: at(61_000),
    };
    store.transition(&job.id, &start).await.unwrap();
    let beat = Transition::Heartbeat {
        attempt: 1,
        now: at(2_000),
        lease_until: at(62_000),
    };
    store.transition(&job.id, &beat).await.unwrap();
    let complete = Transition::Complete {
        attempt: 1,
        now: at(3_000),
        result: json!({"ok": true}),
    };
    store.transition(&job.id, &complete).await.unwrap();
    job
}

#[tokio::test]
async fn each_state_change_is_relayed_once_in_order_to_the_events_file() {
    let (store, outbox) = backend();
    let job = run_to_completion(&store).await;
    // A refused change writes no event.
    let late = Transition::Start {
        now: at(9_000),
        lease_until: at(10_000),
    };
    assert!(store.transition(&job.id, &late).await.is_err());

    let dir = tempfile_dir();
    let sink = JsonLinesSink::open(dir.join("events.jsonl")).unwrap();
    assert_eq!(outbox.relay(&sink, 100).await.unwrap(), 3);
    assert_eq!(outbox.relay(&sink, 100).await.unwrap(), 0, "relayed once");
    let lines = std::fs::read_to_string(sink.path()).unwrap();
    let events: Vec<CloudEvent> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("one CloudEvent per line"))
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "accepted.job.created",
            "accepted.job.started",
            "accepted.job.completed"
        ]
    );
    assert!(events
        .iter()
        .all(|e| e.subject == job.id.as_str() && e.correlationid == job.correlation_id.as_str()));
    assert_eq!(events[2].data["status"], "completed");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_crash_before_or_after_publishing_loses_no_event_and_repeats_ids_only() {
    for strike in [Strike::Before, Strike::After] {
        let (store, outbox) = backend();
        run_to_completion(&store).await;
        let subscriber = Arc::new(RecordingPublisher::default());
        let flaky = FlakyPublisher::new(subscriber.clone(), 2, strike);
        assert!(outbox.relay(&flaky, 100).await.is_err());
        assert!(outbox.relay(&flaky, 100).await.is_err());
        assert_eq!(outbox.relay(&flaky, 100).await.unwrap(), 3);
        let received = subscriber.received.lock().unwrap().clone();
        let distinct: BTreeSet<&str> = received.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(distinct.len(), 3, "every event arrived ({strike:?})");
        let expected = if strike == Strike::After { 9 } else { 3 };
        assert_eq!(received.len(), expected, "duplicates carry the same ids");
        assert!(outbox.waiting(10).await.unwrap().is_empty());
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("accepted-events-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
