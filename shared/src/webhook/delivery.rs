//! What a webhook delivery sends, and what happens after each attempt.
//!
//! A delivery is made from a lifecycle event of a job that reached a terminal state and
//! names a `callback_url`. Its `webhook-id` is the event's id, the same on every attempt, so
//! receivers deduplicate on it. Attempts follow a [`RetrySchedule`] (with jitter); a `429` or
//! `503` with `Retry-After` is not retried earlier than it asks; `410 Gone` ends the delivery.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use url::Url;

use super::destination::DestinationError;
use super::signature::{sign, WebhookSecret};
use crate::events::{CloudEvent, JobEventKind};
use crate::time::Timestamp;

/// SQS cannot hide a message for longer: no delay may exceed it.
pub const MAX_DELAY: Duration = Duration::from_secs(12 * 3600);
/// Response bodies are read up to this size and discarded; receivers have no say beyond it.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The body POSTed to a callback URL: the Standard Webhooks payload shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// The lifecycle event type, e.g. `accepted.job.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the job changed state (not when this attempt was made).
    pub timestamp: Timestamp,
    /// The job as `GET /jobs/{id}` lists it; the result is at `data.links.result`.
    pub data: Value,
}

/// One webhook to deliver, as carried on the webhook queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `webhook-id`: the event id, stable across attempts.
    pub id: String,
    pub owner: String,
    pub url: String,
    pub job_id: String,
    pub correlation_id: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeliveryError {
    #[error("the message is not a lifecycle event: {0}")]
    NotAnEvent(String),
    #[error("the event carries no owner")]
    NoOwner,
}

/// The lifecycle events that trigger a webhook: a job reaching a terminal state.
pub fn triggers_webhook(event_type: &str) -> bool {
    [
        JobEventKind::Completed,
        JobEventKind::Failed,
        JobEventKind::Cancelled,
    ]
    .iter()
    .any(|k| k.event_type() == event_type)
}

impl Delivery {
    /// The delivery an event asks for, if any. Accepts the bare CloudEvent (local relay, or an
    /// EventBridge target with `InputPath: $.detail`) and EventBridge's envelope around it.
    pub fn from_message(body: &str) -> Result<Option<Self>, DeliveryError> {
        let value: Value =
            serde_json::from_str(body).map_err(|e| DeliveryError::NotAnEvent(e.to_string()))?;
        let value = match value {
            Value::Object(mut envelope) if envelope.contains_key("detail-type") => {
                envelope.remove("detail").unwrap_or(Value::Null)
            }
            other => other,
        };
        let event: CloudEvent =
            serde_json::from_value(value).map_err(|e| DeliveryError::NotAnEvent(e.to_string()))?;
        Self::from_event(&event)
    }

    pub fn from_event(event: &CloudEvent) -> Result<Option<Self>, DeliveryError> {
        let url = event.data.get("callback_url").and_then(Value::as_str);
        let Some(url) = url.filter(|_| triggers_webhook(&event.event_type)) else {
            return Ok(None);
        };
        let owner = event.owner.clone().ok_or(DeliveryError::NoOwner)?;
        let payload = WebhookPayload {
            event_type: event.event_type.clone(),
            timestamp: event.time,
            data: event.data.clone(),
        };
        Ok(Some(Self {
            id: event.id.clone(),
            owner,
            url: url.to_owned(),
            job_id: event.subject.clone(),
            correlation_id: event.correlationid.clone(),
            body: serde_json::to_vec(&payload).unwrap_or_default(),
        }))
    }

    /// The request of one attempt, signed with the owner's key at `now`.
    pub fn request(&self, master: &WebhookSecret, now: Timestamp) -> WebhookRequest<'_> {
        let timestamp = now.as_millis().div_euclid(1000);
        let key = master.for_owner(&self.owner);
        WebhookRequest {
            url: &self.url,
            id: &self.id,
            timestamp,
            signature: sign(&key, &self.id, timestamp, &self.body),
            correlation_id: &self.correlation_id,
            body: &self.body,
        }
    }
}

/// An attempt's HTTP request: POST `body` to `url` with these headers.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    pub url: &'a str,
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: String,
    pub correlation_id: &'a str,
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    pub fn headers(&self) -> [(&'static str, String); 5] {
        [
            ("content-type", "application/json".to_owned()),
            ("webhook-id", self.id.to_owned()),
            ("webhook-timestamp", self.timestamp.to_string()),
            ("webhook-signature", self.signature.clone()),
            ("x-correlation-id", self.correlation_id.to_owned()),
        ]
    }
}

/// What the receiver answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    /// A `Retry-After` header, as a delay from now.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TransportError {
    /// The destination is not allowed (a non-public address); never retried.
    #[error("destination refused: {0}")]
    Refused(#[from] DestinationError),
    #[error("no answer within the timeout")]
    Timeout,
    #[error("could not connect: {0}")]
    Connect(String),
}

/// Sends one attempt. The HTTPS implementation lives in [`super::https`]; tests bring their own.
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    async fn post(&self, request: &WebhookRequest<'_>) -> Result<WebhookResponse, TransportError>;
}

/// Delays between attempts: the first attempt is immediate, attempt `n + 1` follows attempt
/// `n` after `delays[n - 1]` (± 20 % jitter). Exhausted after `delays.len() + 1` attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// `5s,5m,30m,2h,5h,10h,10h`: units `ms`, `s`, `m`, `h`; each at most 12 h.
    pub fn parse(text: &str) -> Option<Self> {
        let delays = text
            .split(',')
            .map(|part| {
                let part = part.trim();
                let split = part.find(|c: char| !c.is_ascii_digit())?;
                let (n, unit) = part.split_at(split);
                let n: u64 = n.parse().ok()?;
                let delay = match unit {
                    "ms" => Duration::from_millis(n),
                    "s" => Duration::from_secs(n),
                    "m" => Duration::from_secs(n.checked_mul(60)?),
                    "h" => Duration::from_secs(n.checked_mul(3600)?),
                    _ => return None,
                };
                (delay <= MAX_DELAY).then_some(delay)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { delays })
    }

    /// The number of attempts in all.
    pub fn attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// The wait after failed attempt `attempt` (1-based), or `None` when it was the last.
    /// `unit` in [0, 1) draws the jitter.
    pub fn delay_after(&self, attempt: u32, unit: f64) -> Option<Duration> {
        let base = *self.delays.get(attempt.checked_sub(1)? as usize)?;
        let factor = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
        Some(base.mul_f64(factor).min(MAX_DELAY))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(DEFAULT_SCHEDULE).unwrap_or_else(|| unreachable!("the default parses"))
    }
}

/// Exponential, then capped: about 28 hours from the first attempt to the last.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// `410 Gone`: the receiver asks never to be called again for this.
    Gone,
    /// The destination is refused; retrying cannot help.
    Refused,
    /// Worth another attempt, not before `not_before` if the receiver said so.
    Failed {
        not_before: Option<Duration>,
    },
}

impl Verdict {
    pub fn of(answer: &Result<WebhookResponse, TransportError>) -> Self {
        match answer {
            Ok(r) if (200..300).contains(&r.status) => Self::Delivered,
            Ok(r) if r.status == 410 => Self::Gone,
            Ok(r) if r.status == 429 || r.status == 503 => Self::Failed {
                not_before: r.retry_after,
            },
            Ok(_) => Self::Failed { not_before: None },
            Err(TransportError::Refused(_)) => Self::Refused,
            Err(_) => Self::Failed { not_before: None },
        }
    }

    /// The counter a receiver's failures feed: only answers that say the destination is
    /// unwell, not a refusal made here.
    pub fn counts_against_destination(self) -> bool {
        matches!(self, Self::Failed { .. })
    }
}

/// Parses `Retry-After`: delay seconds or an HTTP date, relative to `now`; capped at
/// [`MAX_DELAY`].
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
            .ok()?;
        let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64 - now.as_millis();
        Duration::from_millis(ms.max(0) as u64)
    };
    Some(delay.min(MAX_DELAY))
}

/// What to do with the delivery after attempt `attempt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Done(Verdict),
    RetryIn(Duration),
    /// The schedule is exhausted: set the delivery aside in the dead-letter queue.
    Exhausted,
}

pub fn next_step(verdict: Verdict, attempt: u32, schedule: &RetrySchedule, unit: f64) -> Next {
    match verdict {
        Verdict::Failed { not_before } => match schedule.delay_after(attempt, unit) {
            Some(delay) => Next::RetryIn(delay.max(not_before.unwrap_or_default())),
            None => Next::Exhausted,
        },
        done => Next::Done(done),
    }
}

/// The key a destination's circuit breaker is kept under: scheme, host and port.
pub fn destination_key(url: &str) -> String {
    Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|| url.to_owned())
}

#[cfg(test)]
mod tests;
