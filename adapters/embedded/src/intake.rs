//! [`CreateAndEnqueue`] on SQLite: the job, its idempotency key, its `job.accepted` outbox
//! event and its queue message in one transaction. A crash at any point leaves either all of
//! them or none, so an accepted job is never stored without its message.

use accepted_core::message::CORRELATION_ATTRIBUTE;
use accepted_core::ports::{CreateAndEnqueue, CreateOutcome, StoreError};
use accepted_core::{Job, JobMessage, Timestamp};
use async_trait::async_trait;

use crate::queue::{encode_attributes, insert_message};
use crate::store::{create_in, sql};
use crate::EmbeddedQueue;

/// Creates jobs in the database of `queue` and queues their messages there.
#[derive(Clone)]
pub struct EmbeddedIntake {
    queue: EmbeddedQueue,
}

impl EmbeddedIntake {
    pub fn new(queue: EmbeddedQueue) -> Self {
        Self { queue }
    }
}

#[async_trait]
impl CreateAndEnqueue for EmbeddedIntake {
    async fn create_and_enqueue(
        &self,
        job: &Job,
        message: &JobMessage,
    ) -> Result<CreateOutcome, StoreError> {
        let attributes =
            encode_attributes(&[(CORRELATION_ATTRIBUTE, message.correlation_id.as_str())])
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let (job, body, name) = (job.clone(), message.encode(), self.queue.name().to_owned());
        let outcome = self
            .queue
            .database()
            .write(move |conn| {
                let outcome = create_in(conn, &job, Timestamp::now())?;
                if let CreateOutcome::Created(_) = outcome {
                    insert_message(conn, &name, &body, &attributes).map_err(sql)?;
                }
                Ok::<_, StoreError>(outcome)
            })
            .await
            .map_err(StoreError::Unavailable)??;
        if let CreateOutcome::Created(_) = outcome {
            self.queue.sent();
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use accepted_core::ids::{CorrelationId, IdempotencyKey, Owner};
    use accepted_core::job::NewJob;
    use accepted_core::JobStore;

    use super::*;
    use crate::{Database, EmbeddedJobStore, QueueSettings};

    fn job(key: &str, fingerprint: &str) -> Job {
        Job::create(
            NewJob {
                owner: Owner::parse("alice").unwrap(),
                job_type: "demo.sleep".into(),
                input: serde_json::json!({"duration_ms": 1}),
                callback_url: None,
                correlation_id: CorrelationId::generate(),
                idempotency_key: Some(IdempotencyKey::parse(key).unwrap()),
                fingerprint: fingerprint.into(),
            },
            Timestamp::now(),
            Duration::from_secs(3600),
        )
    }

    fn message(job: &Job) -> JobMessage {
        JobMessage::new(job.id.clone(), job.correlation_id.clone())
    }

    async fn rows(db: &Database, table: &'static str) -> i64 {
        db.read(move |conn| {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        })
        .await
        .unwrap()
    }

    fn setup() -> (Database, EmbeddedQueue, EmbeddedIntake) {
        let db = Database::in_memory().unwrap();
        let queue = EmbeddedQueue::new(db.clone(), "jobs", QueueSettings::default());
        let intake = EmbeddedIntake::new(queue.clone());
        (db, queue, intake)
    }

    #[tokio::test]
    async fn a_new_job_is_stored_with_its_message_and_a_replay_sends_none() {
        let (db, queue, intake) = setup();
        let first = job("k", "f");
        let outcome = intake.create_and_enqueue(&first, &message(&first)).await;
        assert_eq!(outcome, Ok(CreateOutcome::Created(first.clone())));
        let stored = EmbeddedJobStore::new(db.clone()).get(&first.id).await;
        assert_eq!(stored, Ok(Some(first.clone())));
        assert_eq!(queue.depth().await, Ok((1, 0)));
        assert_eq!(rows(&db, "outbox").await, 1, "job.accepted");

        let again = job("k", "f");
        let outcome = intake.create_and_enqueue(&again, &message(&again)).await;
        assert_eq!(outcome, Ok(CreateOutcome::Replayed(first)));
        let reused = job("k", "other");
        let outcome = intake.create_and_enqueue(&reused, &message(&reused)).await;
        assert_eq!(outcome, Err(StoreError::KeyReused));
        assert_eq!(queue.depth().await, Ok((1, 0)), "no second message");
        assert_eq!(rows(&db, "jobs").await, 1);
        assert_eq!(rows(&db, "outbox").await, 1);
    }

    #[tokio::test]
    async fn a_message_that_cannot_be_queued_leaves_no_job_behind() {
        let (db, queue, intake) = setup();
        db.write(|conn| {
            conn.execute_batch(
                "CREATE TRIGGER full BEFORE INSERT ON messages
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
            )
        })
        .await
        .unwrap()
        .unwrap();
        let refused = job("k", "f");
        let outcome = intake
            .create_and_enqueue(&refused, &message(&refused))
            .await;
        assert!(
            matches!(&outcome, Err(StoreError::Unavailable(e)) if e.contains("disk is full")),
            "{outcome:?}"
        );
        for table in ["jobs", "idempotency_keys", "outbox", "messages"] {
            assert_eq!(rows(&db, table).await, 0, "{table}: nothing half-written");
        }
        assert_eq!(queue.depth().await, Ok((0, 0)));
    }
}
