//! The local stand-in for the template's `WebhookRule`: lifecycle events that ask for a
//! webhook (terminal, with a `callback_url`) are put on the webhook queue as the bare
//! CloudEvent, everything else is passed over. On AWS, EventBridge does this.

use std::sync::Arc;

use async_trait::async_trait;

use super::delivery::triggers_webhook;
use crate::events::CloudEvent;
use crate::ports::{EventPublisher, JobQueue, PublishError};

pub struct WebhookRoute {
    queue: Arc<dyn JobQueue>,
}

impl WebhookRoute {
    pub fn new(queue: Arc<dyn JobQueue>) -> Self {
        Self { queue }
    }

    /// Whether the rule's pattern matches `event`.
    pub fn matches(event: &CloudEvent) -> bool {
        triggers_webhook(&event.event_type)
            && event
                .data
                .get("callback_url")
                .is_some_and(|u| u.is_string())
    }
}

#[async_trait]
impl EventPublisher for WebhookRoute {
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), PublishError> {
        for event in events.iter().filter(|e| Self::matches(e)) {
            let body = serde_json::to_string(event).map_err(|e| PublishError(e.to_string()))?;
            self.queue
                .send_raw(&body, &[], None)
                .await
                .map_err(|e| PublishError(e.to_string()))?;
        }
        Ok(())
    }
}

/// Publishes to each publisher in turn. A failure stops the rest; the caller republishes all,
/// so a publisher may see an event twice (at-least-once, as everywhere).
pub struct FanOut(pub Vec<Arc<dyn EventPublisher>>);

#[async_trait]
impl EventPublisher for FanOut {
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), PublishError> {
        for publisher in &self.0 {
            publisher.publish(events).await?;
        }
        Ok(())
    }
}
