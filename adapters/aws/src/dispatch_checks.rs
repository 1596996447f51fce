//! [`DispatchChecks`] on SQS: each check is a run reference sent to the dispatch-check queue
//! with a per-message delay, ten to a `SendMessageBatch`, in its owner's fair-queue group.
//! The reconciler consumes that queue.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;

use accepted_core::message::CORRELATION_ATTRIBUTE;
use accepted_core::ports::{DispatchChecks, QueueError};
use accepted_core::{JobMessage, Owner};

use crate::sqs::message_group_id;

/// SQS takes at most ten entries per batch and delays a message at most 15 minutes.
const BATCH_ENTRIES: usize = 10;
const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
pub struct SqsDispatchChecks {
    client: Client,
    queue_url: String,
    delay: Duration,
}

impl SqsDispatchChecks {
    pub fn new(client: Client, queue_url: impl Into<String>, delay: Duration) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            delay: delay.min(MAX_DELAY),
        }
    }

    pub fn from_sdk_config(
        sdk: &aws_config::SdkConfig,
        queue_url: impl Into<String>,
        delay: Duration,
    ) -> Self {
        Self::new(Client::new(sdk), queue_url, delay)
    }
}

#[async_trait]
impl DispatchChecks for SqsDispatchChecks {
    async fn schedule(&self, jobs: &[(JobMessage, Owner)]) -> Result<(), QueueError> {
        for chunk in jobs.chunks(BATCH_ENTRIES) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (index, (message, owner)) in chunk.iter().enumerate() {
                let correlation = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(message.correlation_id.as_str())
                    .build()
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(message.encode())
                    .delay_seconds(self.delay.as_secs() as i32)
                    .message_group_id(message_group_id(owner.as_str()))
                    .message_attributes(CORRELATION_ATTRIBUTE, correlation)
                    .build()
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                entries.push(entry);
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
            if let Some(failed) = out.failed().first() {
                return Err(QueueError::Unavailable(format!(
                    "{} of {} dispatch checks not scheduled: {} {}",
                    out.failed().len(),
                    chunk.len(),
                    failed.code(),
                    failed.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}
