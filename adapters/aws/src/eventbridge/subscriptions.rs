//! What something on the bus receives: what `EVENT_KINDS=subscribed` publishes. EventBridge
//! bills every event put on a bus, matched or not, so an event no rule and no archive can
//! match is money for nothing.
//!
//! The receivers are the bus's enabled rules, each matched against each event through its
//! whole pattern (see [`super::patterns`]: the stack's webhook rule receives only the
//! terminal events of jobs with a `callback_url`), and its archives (which may hold any
//! event for replay, so one archive receives everything). The reading is cached for
//! [`REFRESH`]: a new rule receives its events from the next refresh on, as EventBridge
//! itself warns that a new rule can take a moment to match. If the bus cannot be read,
//! everything is published: a missing permission or a throttled call costs events, never
//! loses one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::{ArchiveState, RuleState};
use aws_sdk_eventbridge::Client;
use serde_json::json;

use accepted_core::events::CloudEvent;

use super::patterns::Pattern;

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

/// Who may receive an event put on the bus.
#[derive(Debug, Clone)]
pub enum Receivers {
    /// An archive records the bus, or the bus could not be read.
    Everything,
    /// The patterns of the enabled rules (none: nothing receives anything).
    Rules(Vec<Pattern>),
}

impl Receivers {
    /// Whether a receiver may match `event`, put on the bus as the publisher puts it
    /// (`source`, `type` as the `detail-type`, the whole event as the `detail`).
    pub fn may_receive(&self, event: &CloudEvent) -> bool {
        match self {
            Self::Everything => true,
            Self::Rules(rules) if rules.is_empty() => false,
            Self::Rules(rules) => {
                let entry = json!({
                    "source": event.source,
                    "detail-type": event.event_type,
                    "detail": event,
                });
                rules.iter().any(|rule| rule.may_match(&entry))
            }
        }
    }
}

pub struct BusSubscriptions {
    client: Client,
    bus: String,
    cached: Mutex<Option<(Instant, Arc<Receivers>)>>,
}

impl BusSubscriptions {
    /// `bus` is the bus's name or ARN.
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            cached: Mutex::new(None),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), bus)
    }

    /// The bus's receivers, read at most once per [`REFRESH`]. When the bus cannot be
    /// read, the error is returned once and [`Receivers::Everything`] is used until the
    /// next refresh.
    pub async fn receivers(&self) -> Result<Arc<Receivers>, SubscriptionsUnread> {
        if let Ok(cached) = self.cached.lock() {
            if let Some((read_at, receivers)) = cached.as_ref() {
                if read_at.elapsed() < REFRESH {
                    return Ok(receivers.clone());
                }
            }
        }
        let read = self.read().await.map(Arc::new);
        let receivers = read
            .clone()
            .unwrap_or_else(|_| Arc::new(Receivers::Everything));
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((Instant::now(), receivers));
        }
        read.map_err(|reason| SubscriptionsUnread {
            bus: self.bus.clone(),
            reason,
        })
    }

    async fn read(&self) -> Result<Receivers, String> {
        if self.archived().await? {
            return Ok(Receivers::Everything);
        }
        let mut rules: Vec<Pattern> = Vec::new();
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
                    rules.push(Pattern::parse(pattern));
                }
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        Ok(Receivers::Rules(rules))
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
