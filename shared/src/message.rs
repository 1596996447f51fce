//! The job queue message: a small, versioned reference to a stored job.
//!
//! ```json
//! {"version": 1, "job_id": "0b9c…", "correlation_id": "…"}
//! ```
//!
//! The job itself stays in the store; the message only says "run this job". The correlation
//! id also travels as the SQS message attribute `correlation_id`, so it can be read without
//! parsing the body.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{CorrelationId, JobId};

pub const MESSAGE_VERSION: u32 = 1;
/// Name of the SQS message attribute that carries the correlation id.
pub const CORRELATION_ATTRIBUTE: &str = "correlation_id";
/// Attributes of a message the worker set aside on the dead-letter queue: why (a stable
/// code), the error in words, and the id the message had on the jobs queue.
pub const DEAD_LETTER_REASON: &str = "dead_letter_reason";
pub const DEAD_LETTER_DETAIL: &str = "dead_letter_detail";
pub const SOURCE_MESSAGE_ID: &str = "source_message_id";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub version: u32,
    pub job_id: JobId,
    pub correlation_id: CorrelationId,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum MessageError {
    #[error("message body is not a job message: {0}")]
    Malformed(String),
    #[error("message version {0} is not supported (this worker reads version {MESSAGE_VERSION})")]
    UnsupportedVersion(u32),
}

impl JobMessage {
    pub fn new(job_id: JobId, correlation_id: CorrelationId) -> Self {
        Self {
            version: MESSAGE_VERSION,
            job_id,
            correlation_id,
        }
    }

    pub fn encode(&self) -> String {
        // A struct of strings and an integer always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(body: &str) -> Result<Self, MessageError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let versioned: Versioned =
            serde_json::from_str(body).map_err(|e| MessageError::Malformed(e.to_string()))?;
        if versioned.version != MESSAGE_VERSION {
            return Err(MessageError::UnsupportedVersion(versioned.version));
        }
        serde_json::from_str(body).map_err(|e| MessageError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_what_it_cannot_read() {
        let msg = JobMessage::new(JobId::generate(), CorrelationId::generate());
        assert_eq!(JobMessage::decode(&msg.encode()), Ok(msg.clone()));
        assert!(matches!(
            JobMessage::decode("not json"),
            Err(MessageError::Malformed(_))
        ));
        let future = msg.encode().replace("\"version\":1", "\"version\":9");
        assert_eq!(
            JobMessage::decode(&future),
            Err(MessageError::UnsupportedVersion(9))
        );
        let bad_id = format!(
            r#"{{"version":1,"job_id":"x","correlation_id":"{}"}}"#,
            msg.correlation_id
        );
        assert!(matches!(
            JobMessage::decode(&bad_id),
            Err(MessageError::Malformed(_))
        ));
    }
}
