//! A local stand-in for Lambda's SQS event source mapping: gathers batches (batch size and
//! batching window), invokes a function's real handler with an SQS event, deletes the
//! records it did not report as failed and leaves the failed ones to reappear (after the
//! handler's backoff, or the visibility timeout) — with at most `max_concurrency`
//! invocations at once.

use std::sync::Arc;
use std::time::Duration;

use accepted_core::{QueueConsumer, ReceivedMessage, Timestamp};
use accepted_worker::sqs_event;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

/// A function with an SQS event source: the worker, the dead-letter consumer.
#[async_trait]
pub trait BatchFunction: Send + Sync + 'static {
    /// For log lines.
    fn name(&self) -> &'static str;
    async fn invoke(&self, event: SqsEvent, deadline: Timestamp) -> SqsBatchResponse;
}

/// The worker's batch handler spawns a task per record, each holding the worker.
#[async_trait]
impl BatchFunction for Arc<accepted_worker::Worker> {
    fn name(&self) -> &'static str {
        "worker"
    }
    async fn invoke(&self, event: SqsEvent, deadline: Timestamp) -> SqsBatchResponse {
        accepted_worker::handle_batch(self, event, Some(deadline)).await
    }
}

#[async_trait]
impl BatchFunction for accepted_dlq::DeadLetters {
    fn name(&self) -> &'static str {
        "dlq"
    }
    async fn invoke(&self, event: SqsEvent, _deadline: Timestamp) -> SqsBatchResponse {
        accepted_dlq::handle_batch(self, event).await
    }
}

#[async_trait]
impl BatchFunction for Arc<accepted_webhooks::Deliverer> {
    fn name(&self) -> &'static str {
        "webhooks"
    }
    async fn invoke(&self, event: SqsEvent, _deadline: Timestamp) -> SqsBatchResponse {
        accepted_webhooks::handle_batch(self, event).await
    }
}

#[derive(Debug, Clone)]
pub struct PollerSettings {
    pub batch_size: u32,
    pub batch_window: Duration,
    pub max_concurrency: usize,
    /// Like the function's timeout: the deadline each invocation is given.
    pub function_timeout: Duration,
    pub queue_arn: String,
}

/// Long-poll wait of one receive; also how quickly the poller notices a shutdown.
const RECEIVE_WAIT: Duration = Duration::from_secs(1);
/// Backoff after the queue itself failed.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Runs until `shutdown` turns true, then waits for the invocations in flight.
pub async fn run(
    consumer: Arc<dyn QueueConsumer>,
    function: Arc<dyn BatchFunction>,
    settings: PollerSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(settings.max_concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    info!(
        function = function.name(),
        batch_size = settings.batch_size,
        batch_window_ms = settings.batch_window.as_millis() as u64,
        max_concurrency = settings.max_concurrency,
        "event source poller started"
    );
    loop {
        if *shutdown.borrow() {
            break;
        }
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        // Not raced against the shutdown: a receive dropped mid-way would leave the messages
        // it took hidden for the whole visibility timeout. It returns within RECEIVE_WAIT
        // plus the batching window; what it gathered after a shutdown is given back.
        let batch = gather(consumer.as_ref(), &settings).await;
        if *shutdown.borrow() {
            if let Ok(batch) = &batch {
                release(consumer.as_ref(), batch).await;
            }
            break;
        }
        let batch = match batch {
            Ok(b) if b.is_empty() => continue,
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "receive failed; backing off");
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        let (queue, target, settings) = (
            Arc::clone(&consumer),
            Arc::clone(&function),
            settings.clone(),
        );
        in_flight.spawn(async move {
            invoke(queue.as_ref(), target.as_ref(), &settings, batch).await;
            drop(permit);
        });
        // Reap finished invocations so the set does not grow.
        while let Some(done) = in_flight.try_join_next() {
            if let Err(e) = done {
                error!(function = function.name(), error = %e, "invocation task failed");
            }
        }
    }
    info!(
        in_flight = in_flight.len(),
        "worker poller stopping; finishing batches in flight"
    );
    while in_flight.join_next().await.is_some() {}
    info!("worker poller stopped");
}

/// One batch: up to `batch_size` messages, gathered for at most the batching window once
/// the first message arrived, and only while more keep arriving: when the queue has
/// nothing more to give, the batch goes at once, so a lone job never waits out the window.
async fn gather(
    consumer: &dyn QueueConsumer,
    settings: &PollerSettings,
) -> Result<Vec<ReceivedMessage>, accepted_core::QueueError> {
    let mut batch = consumer
        .receive(settings.batch_size.min(10), RECEIVE_WAIT)
        .await?;
    if batch.is_empty() {
        return Ok(batch);
    }
    let window_ends = tokio::time::Instant::now() + settings.batch_window;
    while (batch.len() as u32) < settings.batch_size {
        if tokio::time::Instant::now() >= window_ends {
            break;
        }
        let want = (settings.batch_size - batch.len() as u32).min(10);
        let more = consumer.receive(want, Duration::ZERO).await?;
        if more.is_empty() {
            break;
        }
        batch.extend(more);
    }
    Ok(batch)
}

/// Makes `batch` visible again at once, for the next start (or another poller).
async fn release(consumer: &dyn QueueConsumer, batch: &[ReceivedMessage]) {
    for message in batch {
        if let Err(e) = consumer
            .change_visibility(&message.receipt_handle, Duration::ZERO)
            .await
        {
            warn!(message_id = %message.message_id, error = %e, "could not give back a message at shutdown");
        }
    }
    if !batch.is_empty() {
        info!(
            messages = batch.len(),
            "shutting down: messages received for a new batch given back"
        );
    }
}

async fn invoke(
    consumer: &dyn QueueConsumer,
    function: &dyn BatchFunction,
    settings: &PollerSettings,
    batch: Vec<ReceivedMessage>,
) {
    let event = sqs_event(&batch, &settings.queue_arn);
    let deadline = Timestamp::now().plus(settings.function_timeout);
    let response = function.invoke(event, deadline).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // An empty identifier means "the whole batch failed", as Lambda reads it.
    let whole_batch_failed = failed.iter().any(|id| id.is_empty());
    let processed: Vec<&ReceivedMessage> = batch
        .iter()
        .filter(|m| !whole_batch_failed && !failed.contains(&m.message_id.as_str()))
        .collect();
    // One request (one commit locally) for the batch, as the event source mapping does.
    let handles: Vec<&str> = processed
        .iter()
        .map(|m| m.receipt_handle.as_str())
        .collect();
    let outcomes = consumer.delete_batch(&handles).await;
    for (message, outcome) in processed.iter().zip(outcomes) {
        if let Err(e) = outcome {
            warn!(message_id = %message.message_id, error = %e, "could not delete a processed message");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accepted_core::JobQueue;
    use accepted_embedded::{Database, EmbeddedQueue, QueueSettings};

    /// Counts invocations; never reached in the shutdown test.
    struct Never;

    #[async_trait]
    impl BatchFunction for Never {
        fn name(&self) -> &'static str {
            "never"
        }
        async fn invoke(&self, _event: SqsEvent, _deadline: Timestamp) -> SqsBatchResponse {
            SqsBatchResponse::default()
        }
    }

    /// Hands out what the queue holds, after a delay in which the shutdown arrives: the
    /// messages are taken (hidden) before the receive returns, as on SQS.
    struct SlowReceive {
        queue: EmbeddedQueue,
        delay: Duration,
    }

    #[async_trait]
    impl QueueConsumer for SlowReceive {
        async fn receive(
            &self,
            max: u32,
            _wait: Duration,
        ) -> Result<Vec<ReceivedMessage>, accepted_core::QueueError> {
            let got = self.queue.receive(max, Duration::ZERO).await?;
            tokio::time::sleep(self.delay).await;
            Ok(got)
        }
        async fn delete(&self, receipt_handle: &str) -> Result<(), accepted_core::QueueError> {
            self.queue.delete(receipt_handle).await
        }
        async fn change_visibility(
            &self,
            receipt_handle: &str,
            timeout: Duration,
        ) -> Result<(), accepted_core::QueueError> {
            self.queue.change_visibility(receipt_handle, timeout).await
        }
    }

    /// Reports the first record of each batch as failed.
    struct FailsFirst;

    #[async_trait]
    impl BatchFunction for FailsFirst {
        fn name(&self) -> &'static str {
            "fails-first"
        }
        async fn invoke(&self, event: SqsEvent, _deadline: Timestamp) -> SqsBatchResponse {
            let mut response = SqsBatchResponse::default();
            if let Some(first) = event.records.first() {
                response.add_failure(first.message_id.clone().unwrap_or_default());
            }
            response
        }
    }

    #[tokio::test]
    async fn a_batch_s_processed_messages_are_deleted_in_one_write_and_its_failures_kept() {
        let db = Database::in_memory().unwrap();
        let queue = EmbeddedQueue::new(db.clone(), "jobs", QueueSettings::default());
        for n in 0..10 {
            queue.send_raw(&n.to_string(), &[], None).await.unwrap();
        }
        let batch = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(batch.len(), 10);
        let settings = PollerSettings {
            batch_size: 10,
            batch_window: Duration::ZERO,
            max_concurrency: 1,
            function_timeout: Duration::from_secs(10),
            queue_arn: "arn:test".into(),
        };
        let before = db.writes();
        invoke(&queue, &FailsFirst, &settings, batch).await;
        assert_eq!(db.writes() - before, 1, "nine deletes, one commit");
        assert_eq!(
            queue.depth().await,
            Ok((0, 1)),
            "the failed one is in flight"
        );
    }

    #[tokio::test]
    async fn messages_received_as_the_shutdown_arrives_are_given_back_not_hidden() {
        let db = Database::in_memory().unwrap();
        let queue = EmbeddedQueue::new(db, "jobs", QueueSettings::default());
        queue.send_raw("{}", &[], None).await.unwrap();
        let consumer = Arc::new(SlowReceive {
            queue: queue.clone(),
            delay: Duration::from_millis(300),
        });
        let settings = PollerSettings {
            batch_size: 10,
            batch_window: Duration::ZERO,
            max_concurrency: 1,
            function_timeout: Duration::from_secs(10),
            queue_arn: "arn:test".into(),
        };
        let (stop, stopped) = watch::channel(false);
        let poller = tokio::spawn(run(consumer, Arc::new(Never), settings, stopped));
        // The receive has taken the message and is still running.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(true).unwrap();
        poller.await.unwrap();
        let visible = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(visible.len(), 1, "the message is visible again at once");
    }
}
