//! [`JobQueue`] and [`QueueConsumer`] on SQLite, with SQS standard-queue semantics: a
//! received message is hidden for the visibility timeout and returns unless deleted; each
//! receive counts; a message already received `max_receive_count` times moves to the
//! dead-letter queue on its next receive instead of being delivered (SQS redrive).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{execute_cached, query_row_cached, Database};
use accepted_core::ports::{JobQueue, QueueConsumer, QueueError, ReceivedMessage};
use accepted_core::time::Timestamp;

/// The attributes of a queue that shape delivery; defaults match `template.yaml`'s JobsQueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub visibility_timeout: Duration,
    /// `maxReceiveCount` of the redrive policy; `None` for a queue without a dead-letter queue.
    pub max_receive_count: Option<u32>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(180),
            max_receive_count: Some(5),
        }
    }
}

/// How often a waiting receive looks again for messages whose visibility timeout ran out.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct EmbeddedQueue {
    db: Database,
    name: String,
    dead_letter: Option<String>,
    settings: QueueSettings,
    /// Wakes waiting receivers of this process when a message is sent or made visible.
    notify: Arc<Notify>,
}

fn sql(err: rusqlite::Error) -> QueueError {
    QueueError::Unavailable(format!("sqlite: {err}"))
}

impl EmbeddedQueue {
    /// The queue `name`, redriving to `<name>-dlq` when the settings have a receive limit.
    pub fn new(db: Database, name: impl Into<String>, settings: QueueSettings) -> Self {
        let name = name.into();
        Self {
            dead_letter: settings.max_receive_count.map(|_| format!("{name}-dlq")),
            db,
            name,
            settings,
            notify: Arc::new(Notify::new()),
        }
    }

    /// The dead-letter queue of this queue, as a queue of its own (no further redrive).
    pub fn dead_letter_queue(&self) -> Option<EmbeddedQueue> {
        let name = self.dead_letter.clone()?;
        Some(Self {
            db: self.db.clone(),
            name,
            dead_letter: None,
            settings: QueueSettings {
                visibility_timeout: self.settings.visibility_timeout,
                max_receive_count: None,
            },
            notify: Arc::new(Notify::new()),
        })
    }

    pub(crate) fn database(&self) -> &Database {
        &self.db
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Wakes this process's waiting receivers: a message was put on the queue.
    pub(crate) fn sent(&self) {
        self.notify.notify_waiters();
    }

    /// Messages on the queue, visible or not (SQS's approximate counts, exactly).
    pub async fn depth(&self) -> Result<(u64, u64), QueueError> {
        let name = self.name.clone();
        self.db
            .read(move |conn| {
                let now = Timestamp::now().as_millis();
                query_row_cached(
                    conn,
                    "SELECT COALESCE(SUM(visible_at <= ?2), 0), COALESCE(SUM(visible_at > ?2), 0)
                     FROM messages WHERE queue = ?1",
                    params![name, now],
                    |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
                )
                .map_err(sql)
            })
            .await
            .map_err(QueueError::Unavailable)?
    }

    fn try_receive(
        tx: &Connection,
        name: &str,
        dead_letter: Option<&str>,
        settings: &QueueSettings,
        max: u32,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let now = Timestamp::now();
        let candidates: Vec<(i64, String, String, String, i64, u32)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, id, body, attributes, sent_at, receive_count FROM messages
                     WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
                )
                .map_err(sql)?;
            let rows = stmt
                .query_map(params![name, now.as_millis(), max.clamp(1, 10)], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .map_err(sql)?;
            rows.collect::<Result<_, _>>().map_err(sql)?
        };
        let mut received = Vec::new();
        for (seq, id, body, attributes, sent_at, receive_count) in candidates {
            if let (Some(limit), Some(dlq)) = (settings.max_receive_count, dead_letter) {
                if receive_count >= limit {
                    execute_cached(
                        tx,
                        "UPDATE messages SET queue = ?2, visible_at = ?3, receipt_handle = NULL
                         WHERE seq = ?1",
                        params![seq, dlq, now.as_millis()],
                    )
                    .map_err(sql)?;
                    continue;
                }
            }
            let handle = receipt_handle(seq);
            let visible_at = now.plus(settings.visibility_timeout).as_millis();
            execute_cached(
                tx,
                "UPDATE messages SET receive_count = receive_count + 1, visible_at = ?2,
                 receipt_handle = ?3 WHERE seq = ?1",
                params![seq, visible_at, handle],
            )
            .map_err(sql)?;
            received.push(ReceivedMessage {
                message_id: id,
                receipt_handle: handle,
                body,
                receive_count: receive_count + 1,
                sent_at: Timestamp::from_millis(sent_at),
                attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                trace_header: None,
            });
        }
        Ok(received)
    }
}

/// A new receipt handle for the message in row `seq`: the row, so that deleting by handle
/// is a primary-key lookup (no index on handles to update at every receive), and a random
/// part, so that a handle from an earlier receive matches no more.
fn receipt_handle(seq: i64) -> String {
    format!("{seq}.{}", Uuid::new_v4().simple())
}

/// The row a receipt handle names, if it is one of [`receipt_handle`]'s.
fn handle_seq(receipt_handle: &str) -> Option<i64> {
    receipt_handle.split_once('.')?.0.parse().ok()
}

/// String message attributes as the `attributes` column keeps them.
pub(crate) fn encode_attributes(attributes: &[(&str, &str)]) -> Result<String, QueueError> {
    let map: BTreeMap<&str, &str> = attributes.iter().copied().collect();
    serde_json::to_string(&map).map_err(|e| QueueError::Unavailable(e.to_string()))
}

/// Puts a visible message on queue `name` (in the caller's transaction, if it has one);
/// returns its id.
pub(crate) fn insert_message(
    conn: &Connection,
    name: &str,
    body: &str,
    attributes: &str,
) -> Result<String, rusqlite::Error> {
    let id = Uuid::new_v4().to_string();
    execute_cached(
        conn,
        "INSERT INTO messages (id, queue, body, attributes, sent_at, visible_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![id, name, body, attributes, Timestamp::now().as_millis()],
    )?;
    Ok(id)
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    /// The fair-queue group is not kept: one local server serves one team, and its queue
    /// hands out messages oldest first.
    async fn send_raw(
        &self,
        body: &str,
        attributes: &[(&str, &str)],
        _group: Option<&str>,
    ) -> Result<String, QueueError> {
        let attributes = encode_attributes(attributes)?;
        let (name, body) = (self.name.clone(), body.to_owned());
        let message_id = self
            .db
            .write(move |conn| insert_message(conn, &name, &body, &attributes).map_err(sql))
            .await
            .map_err(QueueError::Unavailable)??;
        self.sent();
        Ok(message_id)
    }
}

#[async_trait]
impl QueueConsumer for EmbeddedQueue {
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before looking, so a send in between is not missed.
            let notified = self.notify.notified();
            let (name, dlq, settings) = (
                self.name.clone(),
                self.dead_letter.clone(),
                self.settings.clone(),
            );
            let got = self
                .db
                .write(move |conn| Self::try_receive(conn, &name, dlq.as_deref(), &settings, max))
                .await
                .map_err(QueueError::Unavailable)??;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let nap = POLL_INTERVAL.min(deadline - now);
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let mut outcomes = self.delete_batch(&[receipt_handle]).await;
        outcomes.pop().unwrap_or(Ok(()))
    }

    /// All in one write: a batch's deletes share one commit instead of taking one each.
    async fn delete_batch(&self, receipt_handles: &[&str]) -> Vec<Result<(), QueueError>> {
        let rows: Vec<(i64, String)> = receipt_handles
            .iter()
            .filter_map(|handle| Some((handle_seq(handle)?, (*handle).to_owned())))
            .collect();
        // Like SQS, deleting a message that is gone (or a handle that never was) is no error.
        if rows.is_empty() {
            return vec![Ok(()); receipt_handles.len()];
        }
        let name = self.name.clone();
        let deleted = self
            .db
            .write(move |conn| {
                for (seq, handle) in &rows {
                    execute_cached(
                        conn,
                        "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receipt_handle = ?3",
                        params![seq, name, handle],
                    )
                    .map_err(sql)?;
                }
                Ok::<_, QueueError>(())
            })
            .await
            .map_err(QueueError::Unavailable)
            .and_then(|deleted| deleted);
        vec![deleted; receipt_handles.len()]
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let seq = handle_seq(receipt_handle).ok_or(QueueError::NotInFlight)?;
        let (name, handle) = (self.name.clone(), receipt_handle.to_owned());
        let changed = self
            .db
            .write(move |conn| {
                let now = Timestamp::now();
                execute_cached(
                    conn,
                    "UPDATE messages SET visible_at = ?4
                     WHERE seq = ?1 AND queue = ?2 AND receipt_handle = ?3 AND visible_at > ?5",
                    params![
                        seq,
                        name,
                        handle,
                        now.plus(timeout).as_millis(),
                        now.as_millis()
                    ],
                )
                .map_err(sql)
            })
            .await
            .map_err(QueueError::Unavailable)??;
        if changed == 0 {
            return Err(QueueError::NotInFlight);
        }
        self.notify.notify_waiters();
        Ok(())
    }
}
