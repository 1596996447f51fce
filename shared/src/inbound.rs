//! Everything that may arrive on the job queue, decoded into what the worker should do.
//!
//! Two documents, each versioned, each possibly wrapped in an SNS notification (raw message
//! delivery off) or an EventBridge event (SQS target: the whole event is the body):
//!
//! * a **run reference** from `submit`: `{"version": 1, "job_id": …, "correlation_id": …}`
//!   ([`JobMessage`]);
//! * a **job request** from another producer:
//!   `{"version": 1, "type": …, "input": {…}, "idempotency_key"?, "owner"?, "callback_url"?,
//!   "correlation_id"?}` — the worker creates the job idempotently, then runs it.
//!
//! A request's idempotency key is the producer's `idempotency_key`, else the id of the
//! outermost envelope (SNS `MessageId`, EventBridge `id`, SQS `messageId`), so a redelivered
//! or re-published message never creates a second job. Its owner is the producer's `owner`,
//! else where it came from: `sqs`, `sns:<topic ARN>`, `events:<source>`.

use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::ids::{CorrelationId, IdempotencyKey, Owner};
use crate::message::{JobMessage, MessageError, MESSAGE_VERSION};

/// A job request from a producer other than `submit`, not yet validated against job types.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub job_type: String,
    pub input: Value,
    pub callback_url: Option<String>,
    pub idempotency_key: IdempotencyKey,
    pub owner: Owner,
    pub correlation_id: Option<CorrelationId>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Run(JobMessage),
    Request(JobRequest),
}

/// Why a body cannot be acted on. Each is permanent: redelivery cannot fix the body.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum InboundError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error("job request is invalid: {0}")]
    InvalidRequest(String),
}

impl InboundError {
    /// A stable code for logs, metrics and the dead-letter reason attribute.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "not_json",
            Self::Message(MessageError::UnsupportedVersion(_)) => "unsupported_version",
            Self::Message(MessageError::Malformed(_)) => "malformed",
            Self::InvalidRequest(_) => "invalid_request",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestDocument {
    version: u32,
    #[serde(rename = "type")]
    job_type: String,
    input: Value,
    #[serde(default)]
    callback_url: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// Where the document came from, outermost envelope first.
struct Origin {
    owner: String,
    message_id: String,
}

/// Decodes an SQS message body; `sqs_message_id` keys requests that carry no other id.
pub fn decode(body: &str, sqs_message_id: &str) -> Result<Inbound, InboundError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| InboundError::NotJson(e.to_string()))?;
    let (document, origin) = unwrap(value, sqs_message_id)?;
    if document.contains_key("job_id") {
        let run = Value::Object(document).to_string();
        return Ok(Inbound::Run(JobMessage::decode(&run)?));
    }
    if !document.contains_key("type") {
        return Err(MessageError::Malformed("neither a job_id nor a job type".into()).into());
    }
    let version = document.get("version").and_then(Value::as_u64).unwrap_or(0);
    if version != u64::from(MESSAGE_VERSION) {
        return Err(MessageError::UnsupportedVersion(version as u32).into());
    }
    let doc: RequestDocument = serde_json::from_value(Value::Object(document))
        .map_err(|e| InboundError::InvalidRequest(e.to_string()))?;
    debug_assert_eq!(doc.version, MESSAGE_VERSION);
    let key = doc.idempotency_key.unwrap_or(origin.message_id);
    let idempotency_key = IdempotencyKey::parse(&key).ok_or_else(|| {
        InboundError::InvalidRequest(
            "idempotency_key must be 1-255 visible ASCII characters".into(),
        )
    })?;
    let owner_name = doc.owner.unwrap_or(origin.owner);
    let owner = Owner::parse(&owner_name)
        .ok_or_else(|| InboundError::InvalidRequest("owner is not a valid owner".into()))?;
    Ok(Inbound::Request(JobRequest {
        job_type: doc.job_type,
        input: doc.input,
        callback_url: doc.callback_url,
        idempotency_key,
        owner,
        correlation_id: doc.correlation_id.as_deref().and_then(CorrelationId::parse),
    }))
}

/// Peels an SNS notification or an EventBridge event off the document.
fn unwrap(
    value: Value,
    sqs_message_id: &str,
) -> Result<(Map<String, Value>, Origin), InboundError> {
    let Value::Object(outer) = value else {
        return Err(MessageError::Malformed("body is not a JSON object".into()).into());
    };
    let text =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    if text(&outer, "Type").as_deref() == Some("Notification") && outer.contains_key("TopicArn") {
        let inner = text(&outer, "Message")
            .ok_or_else(|| MessageError::Malformed("SNS notification without Message".into()))?;
        let Ok(Value::Object(document)) = serde_json::from_str::<Value>(&inner) else {
            return Err(MessageError::Malformed("SNS Message is not a JSON object".into()).into());
        };
        let origin = Origin {
            owner: format!("sns:{}", text(&outer, "TopicArn").unwrap_or_default()),
            message_id: text(&outer, "MessageId").unwrap_or_else(|| sqs_message_id.to_owned()),
        };
        return Ok((document, origin));
    }
    if outer.contains_key("detail-type") && outer.contains_key("source") {
        let Some(Value::Object(document)) = outer.get("detail").cloned() else {
            return Err(MessageError::Malformed(
                "EventBridge event without an object detail".into(),
            )
            .into());
        };
        let origin = Origin {
            owner: format!("events:{}", text(&outer, "source").unwrap_or_default()),
            message_id: text(&outer, "id").unwrap_or_else(|| sqs_message_id.to_owned()),
        };
        return Ok((document, origin));
    }
    let origin = Origin {
        owner: "sqs".to_owned(),
        message_id: sqs_message_id.to_owned(),
    };
    Ok((outer, origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::JobId;
    use serde_json::json;

    fn request(inbound: Inbound) -> JobRequest {
        match inbound {
            Inbound::Request(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn run_references_decode_as_before() {
        let msg = JobMessage::new(JobId::generate(), CorrelationId::generate());
        assert_eq!(decode(&msg.encode(), "m-1"), Ok(Inbound::Run(msg)));
    }

    #[test]
    fn raw_requests_default_their_key_to_the_sqs_message_id() {
        let body = json!({"version": 1, "type": "demo.sleep", "input": {"duration_ms": 1}});
        let r = request(decode(&body.to_string(), "sqs-id-1").unwrap());
        assert_eq!(
            (r.owner.as_str(), r.idempotency_key.as_str()),
            ("sqs", "sqs-id-1")
        );
        let keyed = json!({"version": 1, "type": "t", "input": {}, "idempotency_key": "order-9",
                           "owner": "team-a", "correlation_id": "c-1"});
        let r = request(decode(&keyed.to_string(), "sqs-id-2").unwrap());
        assert_eq!(
            (r.owner.as_str(), r.idempotency_key.as_str()),
            ("team-a", "order-9")
        );
        assert_eq!(
            r.correlation_id.as_ref().map(CorrelationId::as_str),
            Some("c-1")
        );
    }

    #[test]
    fn sns_and_eventbridge_envelopes_are_unwrapped() {
        let request_doc = json!({"version": 1, "type": "demo.sleep", "input": {"duration_ms": 1}});
        let sns = json!({"Type": "Notification", "MessageId": "sns-1",
                         "TopicArn": "arn:aws:sns:us-east-1:123456789012:jobs",
                         "Message": request_doc.to_string()});
        let r = request(decode(&sns.to_string(), "sqs-1").unwrap());
        assert_eq!(
            r.owner.as_str(),
            "sns:arn:aws:sns:us-east-1:123456789012:jobs"
        );
        assert_eq!(r.idempotency_key.as_str(), "sns-1");

        let event = json!({"version": "0", "id": "evt-1", "detail-type": "JobRequested",
                           "source": "com.example.orders", "detail": request_doc});
        let r = request(decode(&event.to_string(), "sqs-2").unwrap());
        assert_eq!(
            (r.owner.as_str(), r.idempotency_key.as_str()),
            ("events:com.example.orders", "evt-1")
        );
        assert_eq!(r.job_type, "demo.sleep");
    }

    #[test]
    fn what_cannot_be_acted_on_says_why() {
        let code = |body: &str| decode(body, "m").unwrap_err().code();
        assert_eq!(code("not json"), "not_json");
        assert_eq!(code("[1, 2]"), "malformed");
        assert_eq!(code(r#"{"hello": "world"}"#), "malformed");
        assert_eq!(
            code(r#"{"version": 2, "type": "t", "input": {}}"#),
            "unsupported_version"
        );
        assert_eq!(
            code(r#"{"version": 1, "type": "t", "input": {}, "extra": 1}"#),
            "invalid_request"
        );
        assert_eq!(
            code(r#"{"version": 1, "type": "t", "input": {}, "owner": "a#b"}"#),
            "invalid_request"
        );
        let sns_bad = json!({"Type": "Notification", "TopicArn": "arn", "Message": "nope"});
        assert_eq!(code(&sns_bad.to_string()), "malformed");
    }
}
