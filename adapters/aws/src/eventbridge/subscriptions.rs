//! The lifecycle events that something on the bus receives: what `EVENT_KINDS=subscribed`
//! publishes. EventBridge bills every event put on a bus, matched or not, so an event no
//! rule and no archive can match is money for nothing.
//!
//! The subscribers are the bus's enabled rules (each read through its pattern, see
//! [`super::patterns`]) and its archives (which may hold any event for replay, so one
//! archive means every kind). The answer is cached for [`REFRESH`]: a new rule receives its
//! events from the next refresh on, as EventBridge itself warns that a new rule can take a
//! moment to match. If the bus cannot be read, every kind is published: a missing
//! permission or a throttled call costs events, never loses one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::{ArchiveState, RuleState};
use aws_sdk_eventbridge::Client;

use accepted_core::events::JobEventKind;

use super::patterns::kinds_matched;

/// How long one reading of the bus's rules is used.
pub const REFRESH: Duration = Duration::from_secs(60);

/// The bus's rules or archives could not be listed.
#[derive(Debug, Clone)]
pub struct SubscriptionsUnread {
    pub bus: String,
    pub reason: String,
}

impl std::fmt::Display for SubscriptionsUnread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the subscriptions of bus {} could not be read: {}",
            self.bus, self.reason
        )
    }
}

impl std::error::Error for SubscriptionsUnread {}

pub struct BusSubscriptions {
    client: Client,
    bus: String,
    source: String,
    cached: Mutex<Option<(Instant, Vec<JobEventKind>)>>,
}

impl BusSubscriptions {
    /// `bus` is the bus's name or ARN; `source` the events' `source`.
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            source: source.into(),
            cached: Mutex::new(None),
        }
    }

    pub fn from_sdk_config(
        sdk: &aws_config::SdkConfig,
        bus: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self::new(Client::new(sdk), bus, source)
    }

    /// The kinds something receives, read at most once per [`REFRESH`]. When the bus
    /// cannot be read, the error is returned once and every kind is used until the next
    /// refresh.
    pub async fn kinds(&self) -> Result<Vec<JobEventKind>, SubscriptionsUnread> {
        if let Ok(cached) = self.cached.lock() {
            if let Some((read_at, kinds)) = cached.as_ref() {
                if read_at.elapsed() < REFRESH {
                    return Ok(kinds.clone());
                }
            }
        }
        let read = self.read().await;
        let kinds = read.clone().unwrap_or_else(|_| JobEventKind::ALL.to_vec());
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((Instant::now(), kinds));
        }
        read.map_err(|reason| SubscriptionsUnread {
            bus: self.bus.clone(),
            reason,
        })
    }

    async fn read(&self) -> Result<Vec<JobEventKind>, String> {
        if self.archived().await? {
            return Ok(JobEventKind::ALL.to_vec());
        }
        let mut kinds: Vec<JobEventKind> = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_rules()
                .event_bus_name(&self.bus)
                .limit(100)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| DisplayErrorContext(e).to_string())?;
            for rule in page.rules() {
                let enabled = !matches!(rule.state(), Some(RuleState::Disabled));
                // A scheduled rule has no pattern and receives nothing from the bus.
                if let (true, Some(pattern)) = (enabled, rule.event_pattern()) {
                    for kind in kinds_matched(pattern, &self.source) {
                        if !kinds.contains(&kind) {
                            kinds.push(kind);
                        }
                    }
                }
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        // In the order of `ALL`, so the answer reads the same whatever the rules' order.
        Ok(JobEventKind::ALL
            .into_iter()
            .filter(|kind| kinds.contains(kind))
            .collect())
    }

    /// Whether an archive that is not disabled records this bus's events.
    async fn archived(&self) -> Result<bool, String> {
        let name = self.bus.rsplit('/').next().unwrap_or(&self.bus);
        let suffix = format!(":event-bus/{name}");
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_archives()
                .limit(100)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| DisplayErrorContext(e).to_string())?;
            let found = page.archives().iter().any(|archive| {
                !matches!(archive.state(), Some(ArchiveState::Disabled))
                    && archive
                        .event_source_arn()
                        .is_some_and(|arn| arn == self.bus || arn.ends_with(&suffix))
            });
            if found {
                return Ok(true);
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => return Ok(false),
            }
        }
    }
}
