//! [`EventPublisher`] on EventBridge: each CloudEvent is one entry on the bus, its `source` as
//! the entry's `Source`, its `type` as the `DetailType` and the whole event as the `Detail`,
//! so rules match on `source` and `detail-type` and targets receive the CloudEvent.
//! [`BusSubscriptions`] reads what the bus's rules and archives may receive.

mod patterns;
mod subscriptions;

pub use patterns::Pattern;
pub use subscriptions::{
    BusSubscriptions, Receivers, SubscriptionsUnread, REFRESH as SUBSCRIPTIONS_REFRESH,
};

use async_trait::async_trait;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use accepted_core::events::CloudEvent;
use accepted_core::ports::{EventPublisher, PublishError};

/// Entries one `PutEvents` call takes.
const ENTRIES_PER_CALL: usize = 10;

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), bus)
    }

    fn entry(&self, event: &CloudEvent) -> Result<PutEventsRequestEntry, PublishError> {
        let detail = serde_json::to_string(event).map_err(|e| PublishError(e.to_string()))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&event.source)
            .detail_type(&event.event_type)
            .detail(detail)
            .time(DateTime::from_millis(event.time.as_millis()))
            .build())
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), PublishError> {
        for chunk in events.chunks(ENTRIES_PER_CALL) {
            let entries = chunk
                .iter()
                .map(|e| self.entry(e))
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| PublishError(DisplayErrorContext(e).to_string()))?;
            // A partly failed call is retried whole by the caller: duplicates keep their ids.
            if out.failed_entry_count > 0 {
                let reason = out
                    .entries()
                    .iter()
                    .find_map(|e| e.error_code().map(str::to_owned))
                    .unwrap_or_default();
                return Err(PublishError(format!(
                    "{} of {} entries refused ({reason})",
                    out.failed_entry_count,
                    chunk.len()
                )));
            }
        }
        Ok(())
    }
}
