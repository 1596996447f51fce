use super::*;
use crate::events::DEFAULT_SOURCE;
use crate::ids::{CorrelationId, Owner};
use crate::job::{Job, NewJob, Transition};
use crate::webhook::{verify, WebhookHeaders};
use serde_json::json;

fn job(callback_url: Option<&str>) -> Job {
    let new = NewJob {
        owner: Owner::parse("alice").unwrap(),
        job_type: "demo.sleep".into(),
        input: json!({"duration_ms": 1}),
        callback_url: callback_url.map(str::to_owned),
        correlation_id: CorrelationId::parse("corr-1").unwrap(),
        idempotency_key: None,
        fingerprint: "f".into(),
    };
    Job::create(
        new,
        Timestamp::from_millis(1_800_000_000_000),
        Duration::from_secs(3600),
    )
}

fn completed(callback_url: Option<&str>) -> Job {
    let at = |ms: i64| Timestamp::from_millis(1_800_000_000_000 + ms);
    let running = job(callback_url)
        .apply(&Transition::Start {
            now: at(10),
            lease_until: at(1000),
        })
        .unwrap();
    running
        .apply(&Transition::Complete {
            attempt: 1,
            now: at(20),
            result: json!({"ok": true}),
        })
        .unwrap()
}

fn event_of(job: &Job, kind: JobEventKind) -> CloudEvent {
    CloudEvent::for_job(kind, job, DEFAULT_SOURCE)
}

#[test]
fn only_terminal_events_with_a_callback_are_delivered() {
    let done = completed(Some("https://example.com/h"));
    let delivery = Delivery::from_event(&event_of(&done, JobEventKind::Completed))
        .unwrap()
        .expect("a completed job with a callback is delivered");
    assert_eq!(delivery.id, format!("{}.1.completed", done.id));
    assert_eq!(delivery.owner, "alice");
    assert_eq!(delivery.url, "https://example.com/h");
    let payload: WebhookPayload = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(payload.event_type, "accepted.job.completed");
    assert_eq!(payload.data["status"], "completed");
    assert_eq!(
        payload.data["links"]["result"],
        format!("/jobs/{}/result", done.id)
    );

    let started = event_of(&done, JobEventKind::Started);
    assert_eq!(Delivery::from_event(&started), Ok(None));
    let no_callback = completed(None);
    assert_eq!(
        Delivery::from_event(&event_of(&no_callback, JobEventKind::Completed)),
        Ok(None)
    );
}

#[test]
fn reads_bare_events_and_eventbridge_envelopes_and_refuses_the_rest() {
    let event = event_of(
        &completed(Some("https://example.com/h")),
        JobEventKind::Completed,
    );
    let bare = serde_json::to_string(&event).unwrap();
    let envelope = json!({
        "version": "0", "id": "eb-1", "detail-type": "accepted.job.completed",
        "source": "accepted.jobs", "detail": event,
    })
    .to_string();
    let a = Delivery::from_message(&bare).unwrap().unwrap();
    let b = Delivery::from_message(&envelope).unwrap().unwrap();
    assert_eq!(a, b);
    assert!(matches!(
        Delivery::from_message("{not json"),
        Err(DeliveryError::NotAnEvent(_))
    ));
    assert!(matches!(
        Delivery::from_message(r#"{"id":"x"}"#),
        Err(DeliveryError::NotAnEvent(_))
    ));
    let mut anonymous = event;
    anonymous.owner = None;
    assert_eq!(
        Delivery::from_event(&anonymous),
        Err(DeliveryError::NoOwner)
    );
}

#[test]
fn each_attempt_is_signed_with_the_owners_key_and_the_same_id() {
    let master = WebhookSecret::generate();
    let event = event_of(
        &completed(Some("https://example.com/h")),
        JobEventKind::Completed,
    );
    let delivery = Delivery::from_event(&event).unwrap().unwrap();
    let first = delivery.request(&master, Timestamp::from_millis(1_900_000_000_000));
    let later = delivery.request(&master, Timestamp::from_millis(1_900_000_300_999));
    assert_eq!(first.id, later.id);
    assert_eq!(
        (first.timestamp, later.timestamp),
        (1_900_000_000, 1_900_000_300)
    );
    let headers = first.headers();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    let received = WebhookHeaders {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
    };
    assert_eq!(header("x-correlation-id"), Some("corr-1"));
    let alice = master.for_owner("alice");
    assert_eq!(
        verify(&alice, received, first.body, 1_900_000_001, 300),
        Ok(())
    );
    assert!(verify(&master, received, first.body, 1_900_000_001, 300).is_err());
}

#[test]
fn the_schedule_parses_jitters_and_ends() {
    let s = RetrySchedule::default();
    assert_eq!(s.attempts(), 8);
    assert_eq!(s.delay_after(1, 0.5), Some(Duration::from_secs(5)));
    assert_eq!(s.delay_after(1, 0.0), Some(Duration::from_secs(4)));
    assert_eq!(s.delay_after(1, 1.0), Some(Duration::from_secs(6)));
    assert_eq!(
        s.delay_after(7, 1.0),
        Some(MAX_DELAY),
        "jitter never passes 12 h"
    );
    assert_eq!(s.delay_after(8, 0.5), None);
    assert_eq!(s.delay_after(0, 0.5), None);
    let fast = RetrySchedule::parse("1s, 250ms").unwrap();
    assert_eq!(fast.attempts(), 3);
    for bad in ["", "5", "5d", "13h", "s", "-1s", "1s,,2s"] {
        assert_eq!(RetrySchedule::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn verdicts_and_next_steps() {
    let ok = |status, retry_after| {
        Ok(WebhookResponse {
            status,
            retry_after,
        })
    };
    assert_eq!(Verdict::of(&ok(204, None)), Verdict::Delivered);
    assert_eq!(Verdict::of(&ok(410, None)), Verdict::Gone);
    assert_eq!(
        Verdict::of(&ok(301, None)),
        Verdict::Failed { not_before: None },
        "redirects are not followed"
    );
    let busy = Verdict::of(&ok(429, Some(Duration::from_secs(600))));
    assert_eq!(
        busy,
        Verdict::Failed {
            not_before: Some(Duration::from_secs(600))
        }
    );
    assert_eq!(
        Verdict::of(&Err(TransportError::Refused(
            DestinationError::NonPublicAddress
        ))),
        Verdict::Refused
    );
    assert_eq!(
        Verdict::of(&Err(TransportError::Timeout)),
        Verdict::Failed { not_before: None }
    );

    let s = RetrySchedule::parse("5s,5m").unwrap();
    assert_eq!(
        next_step(busy, 1, &s, 0.5),
        Next::RetryIn(Duration::from_secs(600)),
        "Retry-After beats a shorter schedule"
    );
    assert_eq!(
        next_step(
            Verdict::Failed {
                not_before: Some(Duration::from_secs(1))
            },
            2,
            &s,
            0.5
        ),
        Next::RetryIn(Duration::from_secs(300)),
        "and never shortens it"
    );
    assert_eq!(next_step(busy, 3, &s, 0.5), Next::Exhausted);
    assert_eq!(
        next_step(Verdict::Gone, 1, &s, 0.5),
        Next::Done(Verdict::Gone)
    );
}

#[test]
fn retry_after_in_seconds_or_as_a_date() {
    let now = Timestamp::parse_rfc3339("2026-11-30T12:00:00Z").unwrap();
    assert_eq!(
        parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        parse_retry_after("Mon, 30 Nov 2026 12:01:30 GMT", now),
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        parse_retry_after("Mon, 30 Nov 2026 11:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("999999999", now), Some(MAX_DELAY));
    assert_eq!(parse_retry_after("soon", now), None);
}

#[test]
fn destinations_are_keyed_by_origin() {
    assert_eq!(
        destination_key("https://Example.com:443/a?b"),
        destination_key("https://example.com/other")
    );
    assert_ne!(
        destination_key("https://example.com/"),
        destination_key("https://example.com:8443/")
    );
}
