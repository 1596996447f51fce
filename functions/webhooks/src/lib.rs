//! Webhook delivery: each message on the webhook queue is a lifecycle event; a terminal one
//! that names a `callback_url` is POSTed there, signed with its owner's key.
//!
//! One attempt per receive. The attempt number is the message's receive count; a failed
//! attempt hides the message for the schedule's next delay (or the receiver's `Retry-After`,
//! if longer) and reports it failed, so SQS redelivers it then. Deliveries end when the
//! receiver answers 2xx or `410 Gone`; when the schedule runs out, or the destination is
//! refused, the message is set aside on the dead-letter queue with the reason. A destination
//! that keeps failing opens its circuit breaker: its deliveries wait out the cool-down
//! without being sent (each such wait counts as an attempt).

mod lambda;
pub use lambda::run;

use std::sync::Arc;
use std::time::{Duration, Instant};

use accepted_core::batch::{process_batch, receive_count};
use accepted_core::breaker::{BreakerSettings, CircuitBreakers};
use accepted_core::config::WebhookConfig;
use accepted_core::message::{DEAD_LETTER_DETAIL, DEAD_LETTER_REASON, SOURCE_MESSAGE_ID};
use accepted_core::webhook::delivery::{
    destination_key, next_step, Delivery, Next, RetrySchedule, Verdict, WebhookTransport,
};
use accepted_core::webhook::secrets::SecretProvider;
use accepted_core::{JobQueue, QueueConsumer, Timestamp};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{error, info, warn, Instrument};

/// How long a delivery waits when the secret cannot be read (our fault, not the receiver's).
const SECRET_RETRY: Duration = Duration::from_secs(30);
/// SQS message attributes are small; a transport error's chain can be long.
const MAX_DETAIL_CHARS: usize = 512;

pub struct Deliverer {
    pub transport: Arc<dyn WebhookTransport>,
    pub secrets: Arc<dyn SecretProvider>,
    pub schedule: RetrySchedule,
    pub breakers: CircuitBreakers,
    pub concurrency: usize,
    /// The webhook queue, to hide a failed delivery until its next attempt. Without it the
    /// queue's visibility timeout decides.
    pub queue: Option<Arc<dyn QueueConsumer>>,
    /// Where deliveries that end unsuccessfully are set aside. Without it they are retried
    /// until the redrive policy moves them there.
    pub dead_letters: Option<Arc<dyn JobQueue>>,
    /// Draws the jitter, a number in [0, 1).
    pub jitter: fn() -> f64,
}

impl Deliverer {
    pub fn new(
        transport: Arc<dyn WebhookTransport>,
        secrets: Arc<dyn SecretProvider>,
        config: &WebhookConfig,
    ) -> Self {
        Self {
            transport,
            secrets,
            schedule: config.schedule.clone(),
            breakers: CircuitBreakers::new(BreakerSettings {
                failure_threshold: config.breaker_failures,
                cool_down: config.breaker_cool_down,
            }),
            concurrency: config.concurrency,
            queue: None,
            dead_letters: None,
            jitter: fastrand::f64,
        }
    }

    pub fn with_queue(mut self, queue: Arc<dyn QueueConsumer>) -> Self {
        self.queue = Some(queue);
        self
    }

    pub fn with_dead_letter_queue(mut self, dead_letters: Arc<dyn JobQueue>) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Finished: delivered, gone, or nothing to deliver. The message is deleted.
    Done(&'static str),
    /// Try again, after `after` if given.
    Retry {
        reason: &'static str,
        after: Option<Duration>,
    },
    /// Give up and keep the evidence on the dead-letter queue.
    SetAside {
        reason: &'static str,
        detail: String,
    },
}

pub async fn handle_batch(deliverer: &Arc<Deliverer>, event: SqsEvent) -> SqsBatchResponse {
    let deliverer = Arc::clone(deliverer);
    process_batch(event, deliverer.concurrency, move |message| {
        let deliverer = Arc::clone(&deliverer);
        async move {
            let step = deliver(&deliverer, &message).await;
            matches!(settle(&deliverer, &message, step).await, Step::Done(_))
        }
    })
    .await
}

/// One attempt at the delivery a message carries.
pub async fn deliver(deliverer: &Deliverer, message: &SqsMessage) -> Step {
    let body = message.body.as_deref().unwrap_or_default();
    let delivery = match Delivery::from_message(body) {
        Ok(Some(delivery)) => delivery,
        Ok(None) => return Step::Done("nothing_to_deliver"),
        Err(err) => {
            error!(error = %err, body_bytes = body.len(), "webhook message cannot be read");
            return Step::SetAside {
                reason: "not_an_event",
                detail: err.to_string(),
            };
        }
    };
    let attempt = receive_count(message);
    // The origin only: paths and queries may carry the receiver's tokens.
    let destination = destination_key(&delivery.url);
    let span = tracing::info_span!("webhook", webhook_id = %delivery.id, job_id = %delivery.job_id,
        correlation_id = %delivery.correlation_id, destination = %destination, attempt);
    attempt_delivery(deliverer, &delivery, attempt, &destination)
        .instrument(span)
        .await
}

async fn attempt_delivery(
    deliverer: &Deliverer,
    delivery: &Delivery,
    attempt: u32,
    destination: &str,
) -> Step {
    let jitter = (deliverer.jitter)();

    if let Err(wait) = deliverer.breakers.admit(destination, Instant::now()) {
        warn!(
            wait_ms = wait.as_millis() as u64,
            "destination's circuit breaker is open; not sending"
        );
        let verdict = Verdict::Failed {
            not_before: Some(wait),
        };
        return after_attempt(deliverer, verdict, attempt, jitter, "circuit_open");
    }
    let master = match deliverer.secrets.master().await {
        Ok(master) => master,
        Err(err) => {
            error!(error = %err, "no signing secret; delivery postponed");
            return Step::Retry {
                reason: "secret_unavailable",
                after: Some(SECRET_RETRY),
            };
        }
    };
    let request = delivery.request(&master, Timestamp::now());
    let started = Instant::now();
    let answer = deliverer.transport.post(&request).await;
    let verdict = Verdict::of(&answer);
    deliverer.breakers.record(
        destination,
        !verdict.counts_against_destination(),
        Instant::now(),
    );
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let detail = match &answer {
        Ok(r) => format!("HTTP {}", r.status),
        Err(e) => e.to_string(),
    };
    match &answer {
        Ok(r) if verdict == Verdict::Delivered => {
            info!(status = r.status, elapsed_ms, "webhook delivered")
        }
        _ => warn!(outcome = %detail, elapsed_ms, "webhook attempt failed"),
    }
    let reason = match verdict {
        Verdict::Refused => "destination_refused",
        _ => "attempt_failed",
    };
    match after_attempt(deliverer, verdict, attempt, jitter, reason) {
        Step::SetAside { reason, .. } => Step::SetAside { reason, detail },
        step => step,
    }
}

fn after_attempt(
    deliverer: &Deliverer,
    verdict: Verdict,
    attempt: u32,
    jitter: f64,
    reason: &'static str,
) -> Step {
    match next_step(verdict, attempt, &deliverer.schedule, jitter) {
        Next::Done(Verdict::Delivered) => Step::Done("delivered"),
        Next::Done(Verdict::Gone) => {
            warn!("receiver answered 410 Gone; no further attempts");
            Step::Done("gone")
        }
        Next::Done(_) => Step::SetAside {
            reason,
            detail: String::new(),
        },
        Next::RetryIn(after) => Step::Retry {
            reason,
            after: Some(after),
        },
        Next::Exhausted => {
            error!(attempts = attempt, "webhook attempts exhausted");
            Step::SetAside {
                reason: "attempts_exhausted",
                detail: String::new(),
            }
        }
    }
}

/// Hides a message until its next attempt, or copies it to the dead-letter queue.
async fn settle(deliverer: &Deliverer, message: &SqsMessage, step: Step) -> Step {
    match step {
        Step::Retry {
            after: Some(delay),
            reason,
        } => {
            if let (Some(queue), Some(receipt)) = (&deliverer.queue, &message.receipt_handle) {
                if let Err(e) = queue.change_visibility(receipt, delay).await {
                    warn!(error = %e, "could not schedule the next attempt; it comes sooner");
                }
            }
            Step::Retry {
                reason,
                after: Some(delay),
            }
        }
        Step::SetAside { reason, detail } => set_aside(deliverer, message, reason, detail).await,
        other => other,
    }
}

async fn set_aside(
    deliverer: &Deliverer,
    message: &SqsMessage,
    reason: &'static str,
    detail: String,
) -> Step {
    let Some(dead_letters) = &deliverer.dead_letters else {
        return Step::Retry {
            reason,
            after: None,
        };
    };
    let source_id = message.message_id.clone().unwrap_or_default();
    let detail: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    let attributes = [
        (DEAD_LETTER_REASON, reason),
        (DEAD_LETTER_DETAIL, detail.as_str()),
        (SOURCE_MESSAGE_ID, source_id.as_str()),
    ];
    let body = message.body.as_deref().unwrap_or_default();
    match dead_letters.send_raw(body, &attributes, None).await {
        Ok(_) => {
            warn!(message_id = %source_id, reason, "webhook set aside on the dead-letter queue");
            Step::Done("dead_lettered")
        }
        Err(e) => {
            error!(message_id = %source_id, error = %e, "could not set the webhook aside; retrying");
            Step::Retry {
                reason,
                after: None,
            }
        }
    }
}
