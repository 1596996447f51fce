//! [`JobQueue`] and [`QueueConsumer`] on SQS.
//!
//! Job messages go to the standard queue with their owner as `MessageGroupId`: SQS fair
//! queues (2025) then keep one tenant's burst from delaying the others' messages, with no
//! change to the queue, its ordering (none) or its throughput.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use aws_sdk_sqs::Client;

use accepted_core::ports::{JobQueue, QueueConsumer, QueueError, ReceivedMessage};
use accepted_core::time::Timestamp;

#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), queue_url)
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

/// A fair-queue group as SQS takes it: 1 to 128 visible ASCII characters. An owner is up to
/// 256 characters of any text, so one that does not fit is named by a stable digest of
/// itself (FNV-1a): two owners would share a group only on a 64-bit collision, which costs
/// fairness between the two, never correctness.
pub fn message_group_id(group: &str) -> String {
    const MAX_LEN: usize = 128;
    let fits =
        !group.is_empty() && group.len() <= MAX_LEN && group.bytes().all(|b| b.is_ascii_graphic());
    if fits {
        return group.to_owned();
    }
    format!("owner-{:016x}", fnv1a(group.as_bytes()))
}

/// 64-bit FNV-1a: stable across builds and platforms, which std's hasher does not promise.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The X-Ray trace header of the current invocation: Lambda's runtime sets
/// `_X_AMZN_TRACE_ID` for each event it hands the function (`Root=1-…;Parent=…;Sampled=…`).
/// Runtime state, not configuration, so it is read here at the moment of sending.
pub fn current_trace_header() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID")
        .ok()
        .filter(|t| t.starts_with("Root=") && t.len() <= 256 && t.is_ascii())
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(err).to_string())
}

/// SQS's ways of saying a receipt handle no longer names an in-flight message. moto says
/// `ReceiptHandleIsInvalid`; SQS and LocalStack answer `ChangeMessageVisibility` on a message
/// that is gone or no longer in flight with `InvalidParameterValue` ("… Message does not exist
/// or is not available for visibility timeout change"), and `DeleteMessage` on an expired
/// handle with `ReceiptHandleIsInvalid` or `InvalidParameterValue` ("… receipt handle has
/// expired"). Any other `InvalidParameterValue` is a real error.
fn receipt_error<E, R>(err: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    if names_no_in_flight_message(err.code(), err.message()) {
        QueueError::NotInFlight
    } else {
        unavailable(err)
    }
}

fn names_no_in_flight_message(code: Option<&str>, message: Option<&str>) -> bool {
    let code = code.unwrap_or_default();
    let message = message.unwrap_or_default().to_ascii_lowercase();
    code.contains("ReceiptHandleIsInvalid")
        || code.contains("MessageNotInflight")
        || (code.contains("InvalidParameterValue")
            && (message.contains("message does not exist or is not available")
                || message.contains("receipt handle has expired")))
}

/// The most entries SQS takes in one batch request.
const MAX_BATCH_ENTRIES: usize = 10;

impl SqsJobQueue {
    /// One `DeleteMessageBatch` of up to ten handles; each entry's id is its index.
    async fn delete_message_batch(&self, handles: &[&str]) -> Vec<Result<(), QueueError>> {
        let entries: Result<Vec<_>, _> = handles
            .iter()
            .enumerate()
            .map(|(i, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(*handle)
                    .build()
            })
            .collect();
        let sent = match entries {
            Ok(entries) => {
                self.client
                    .delete_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
            }
            Err(e) => return vec![Err(QueueError::Unavailable(e.to_string())); handles.len()],
        };
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => return vec![Err(unavailable(e)); handles.len()],
        };
        let unanswered = || {
            Err(QueueError::Unavailable(
                "SQS did not answer for this entry".into(),
            ))
        };
        let mut outcomes: Vec<Result<(), QueueError>> =
            handles.iter().map(|_| unanswered()).collect();
        let mut answer_for = |id: &str, outcome: Result<(), QueueError>| {
            if let Some(slot) = id.parse::<usize>().ok().and_then(|i| outcomes.get_mut(i)) {
                *slot = outcome;
            }
        };
        for deleted in answer.successful() {
            answer_for(deleted.id(), Ok(()));
        }
        for failed in answer.failed() {
            let outcome = if names_no_in_flight_message(Some(failed.code()), failed.message()) {
                QueueError::NotInFlight
            } else {
                QueueError::Unavailable(format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or_default()
                ))
            };
            answer_for(failed.id(), Err(outcome));
        }
        outcomes
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn send_raw(
        &self,
        body: &str,
        attributes: &[(&str, &str)],
        group: Option<&str>,
    ) -> Result<String, QueueError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_message_group_id(group.map(message_group_id));
        for (name, value) in attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(*value)
                .build()
                .map_err(|e| QueueError::Unavailable(e.to_string()))?;
            req = req.message_attributes(*name, value);
        }
        // X-Ray: the invocation's trace continues in the consumer of this message.
        if let Some(trace) = current_trace_header() {
            let value = MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(trace)
                .build()
                .map_err(|e| QueueError::Unavailable(e.to_string()))?;
            req = req.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                value,
            );
        }
        let out = req.send().await.map_err(unavailable)?;
        Ok(out.message_id.unwrap_or_default())
    }
}

#[async_trait]
impl QueueConsumer for SqsJobQueue {
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attribute = |name: MessageSystemAttributeName| {
                    m.attributes()
                        .and_then(|a| a.get(&name))
                        .and_then(|v| v.parse::<i64>().ok())
                };
                ReceivedMessage {
                    receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                        .unwrap_or(1) as u32,
                    sent_at: Timestamp::from_millis(
                        attribute(MessageSystemAttributeName::SentTimestamp).unwrap_or(0),
                    ),
                    attributes: m
                        .message_attributes()
                        .into_iter()
                        .flatten()
                        .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                        .collect(),
                    trace_header: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
                        .cloned(),
                    message_id: m.message_id.unwrap_or_default(),
                    receipt_handle: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(receipt_error)?;
        Ok(())
    }

    async fn delete_batch(&self, receipt_handles: &[&str]) -> Vec<Result<(), QueueError>> {
        let mut outcomes = Vec::with_capacity(receipt_handles.len());
        for request in receipt_handles.chunks(MAX_BATCH_ENTRIES) {
            outcomes.extend(self.delete_message_batch(request).await);
        }
        outcomes
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(timeout.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(receipt_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::error::ErrorMetadata;
    use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
    use aws_smithy_runtime_api::http::Response;
    use aws_smithy_types::body::SdkBody;

    fn answered(code: &str, message: &str) -> QueueError {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let raw = Response::new(400u16.try_into().expect("a status"), SdkBody::empty());
        receipt_error(SdkError::service_error(
            ChangeMessageVisibilityError::generic(meta),
            raw,
        ))
    }

    #[test]
    fn an_owner_is_its_own_group_when_sqs_can_take_it_and_a_stable_digest_otherwise() {
        assert_eq!(message_group_id("user-42|github"), "user-42|github");
        let max = "o".repeat(128);
        assert_eq!(message_group_id(&max), max);
        for unfit in ["o".repeat(129), "jane doe".to_owned(), "zoë".to_owned()] {
            let group = message_group_id(&unfit);
            assert!(group.starts_with("owner-") && group.len() == 22, "{group}");
            assert!(group.bytes().all(|b| b.is_ascii_graphic()), "{group}");
            assert_eq!(group, message_group_id(&unfit), "stable");
        }
        assert_ne!(message_group_id("jane doe"), message_group_id("jane  doe"));
        // FNV-1a's published 64-bit test vectors: the digest is the standard one.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_way_sqs_says_a_message_is_not_in_flight_is_not_in_flight() {
        for (code, message) in [
            // moto
            ("ReceiptHandleIsInvalid", "The input receipt handle is invalid."),
            // SQS and LocalStack, JSON and query protocol spellings
            (
                "InvalidParameterValue",
                "Value AQEB… for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.",
            ),
            (
                "AWS.SimpleQueueService.InvalidParameterValue",
                "Message does not exist or is not available for visibility timeout change",
            ),
            (
                "InvalidParameterValue",
                "Value AQEB… for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
            ),
            ("AWS.SimpleQueueService.MessageNotInflight", "Message is not in flight."),
        ] {
            assert_eq!(answered(code, message), QueueError::NotInFlight, "{code}: {message}");
        }
    }

    #[test]
    fn other_errors_stay_errors() {
        for (code, message) in [
            (
                "InvalidParameterValue",
                "Value 50000 for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.",
            ),
            ("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."),
            ("ThrottlingException", "Rate exceeded"),
        ] {
            assert!(
                matches!(answered(code, message), QueueError::Unavailable(_)),
                "{code}: {message}"
            );
        }
    }
}
