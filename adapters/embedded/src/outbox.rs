//! The embedded store's transactional outbox: lifecycle events wait here, written in the same
//! transaction as the change they report, until [`EventOutbox::relay`] has handed them to a
//! publisher. A crash between the change and the publication loses nothing: the event is
//! relayed after the restart (again, if it was published but not yet acknowledged).

use rusqlite::params;

use super::{execute_cached, Database};
use accepted_core::events::CloudEvent;
use accepted_core::ports::{EventPublisher, PublishError};

#[derive(Clone)]
pub struct EventOutbox {
    db: Database,
}

impl EventOutbox {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Publishes up to `limit` waiting events, oldest first, and removes them once the
    /// publisher accepted them all. Returns how many were relayed.
    pub async fn relay(
        &self,
        publisher: &dyn EventPublisher,
        limit: usize,
    ) -> Result<usize, PublishError> {
        let waiting = self.waiting(limit).await?;
        let Some(&(last, _)) = waiting.last() else {
            return Ok(0);
        };
        let events: Vec<CloudEvent> = waiting.into_iter().map(|(_, e)| e).collect();
        publisher.publish(&events).await?;
        self.db
            .write(move |conn| {
                execute_cached(conn, "DELETE FROM outbox WHERE seq <= ?1", params![last])
            })
            .await
            .map_err(PublishError)?
            .map_err(|e| PublishError(format!("sqlite: {e}")))?;
        Ok(events.len())
    }

    /// Events not relayed yet, oldest first.
    pub async fn waiting(&self, limit: usize) -> Result<Vec<(i64, CloudEvent)>, PublishError> {
        self.db
            .read(
                move |conn| -> Result<Vec<(i64, CloudEvent)>, PublishError> {
                    let mut stmt = conn
                        .prepare_cached("SELECT seq, event FROM outbox ORDER BY seq LIMIT ?1")
                        .map_err(|e| PublishError(format!("sqlite: {e}")))?;
                    let rows = stmt
                        .query_map(params![limit as i64], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                        })
                        .map_err(|e| PublishError(format!("sqlite: {e}")))?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| PublishError(format!("sqlite: {e}")))?;
                    rows.into_iter()
                        .map(|(seq, doc)| {
                            serde_json::from_str(&doc)
                                .map(|e| (seq, e))
                                .map_err(|e| PublishError(format!("outbox row {seq}: {e}")))
                        })
                        .collect()
                },
            )
            .await
            .map_err(PublishError)?
    }
}
