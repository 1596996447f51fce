//! The published message formats, frozen: `api/examples/v<N>/` holds one document of each
//! kind as version N was released. Every version the compatibility policy still supports must
//! match its schema in `api/asyncapi.yaml` and be read by today's consumers, so a change that
//! would break a producer or subscriber of a supported version fails here.

use std::path::PathBuf;

use accepted_core::events::CloudEvent;
use accepted_core::inbound::{self, Inbound};
use accepted_core::message::MESSAGE_VERSION;
use accepted_core::webhook::delivery::{Delivery, WebhookPayload};
use accepted_core::JobMessage;
use accepted_tests::contract::check_message;
use serde_json::Value;

/// Versions the worker and the subscribers must still read: the current one and the one
/// before it (once there is one). Retiring a version removes it here, and only here.
fn supported() -> Vec<u32> {
    (MESSAGE_VERSION.saturating_sub(1).max(1)..=MESSAGE_VERSION).collect()
}

fn example(version: u32, name: &str) -> (String, Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../api/examples")
        .join(format!("v{version}"))
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value = serde_json::from_str(&text).expect("example is JSON");
    (text, value)
}

#[test]
fn every_supported_run_reference_is_run() {
    for v in supported() {
        let (text, value) = example(v, "run-reference.json");
        check_message("RunReference", &value);
        let message = JobMessage::decode(&text).expect("the worker reads it");
        assert_eq!(message.job_id.as_str(), value["job_id"]);
        assert!(matches!(
            inbound::decode(&text, "m-1"),
            Ok(Inbound::Run(decoded)) if decoded == message
        ));
    }
}

#[test]
fn every_supported_job_request_creates_a_job() {
    for v in supported() {
        let (text, value) = example(v, "job-request.json");
        check_message("JobRequest", &value);
        let Ok(Inbound::Request(request)) = inbound::decode(&text, "m-1") else {
            panic!("v{v} job request is no longer read");
        };
        assert_eq!(request.job_type, value["type"]);
        assert_eq!(request.idempotency_key.as_str(), value["idempotency_key"]);
        assert_eq!(request.owner.as_str(), value["owner"]);
    }
}

#[test]
fn every_supported_event_reaches_its_subscribers() {
    for v in supported() {
        let (_, value) = example(v, "job-event.json");
        check_message("JobEvent", &value);
        let event: CloudEvent = serde_json::from_value(value.clone()).expect("an event");
        // The webhook subscriber turns it into a delivery for the job's callback.
        let delivery = Delivery::from_event(&event)
            .expect("readable")
            .expect("a terminal event with a callback is delivered");
        assert_eq!(delivery.correlation_id, value["correlationid"]);
        let body: Value = serde_json::from_slice(&delivery.body).expect("a JSON body");
        check_message("WebhookPayload", &body);
        assert_eq!(body["data"], value["data"]);
    }
}

#[test]
fn every_supported_webhook_body_is_what_receivers_parse() {
    for v in supported() {
        let (_, value) = example(v, "webhook-payload.json");
        check_message("WebhookPayload", &value);
        let payload: WebhookPayload = serde_json::from_value(value).expect("a webhook body");
        assert!(payload.event_type.starts_with("accepted.job."));
    }
}
