//! What went wrong, as the CLI tells it: the API's problem documents first of all.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::transport::Answer;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API refused the request and said why (RFC 9457), or API Gateway did.
    #[error("{0}")]
    Problem(Box<ProblemReport>),
    /// No answer: connection refused, DNS, TLS, or the timeout.
    #[error("cannot reach the API: {0}")]
    Transport(String),
    /// An answer this client does not understand.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// Credentials for signing could not be found or used.
    #[error("{0}")]
    Credentials(String),
    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),
}

/// A problem document (RFC 9457) with the fields the API always fills.
#[derive(Debug, Clone, Deserialize)]
pub struct ProblemReport {
    #[serde(rename = "type", default)]
    pub problem_type: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub errors: Vec<FieldProblem>,
    /// The document as received, for `--json`.
    #[serde(skip)]
    pub raw: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldProblem {
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for ProblemReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.title, self.status)?;
        if !self.detail.is_empty() && self.detail != self.title {
            write!(f, ": {}", self.detail)?;
        }
        for field in &self.errors {
            let at = if field.pointer.is_empty() {
                "/"
            } else {
                &field.pointer
            };
            write!(f, "\n  {at}: {}", field.message)?;
        }
        if let Some(id) = &self.correlation_id {
            write!(f, "\n  correlation id: {id}")?;
        }
        Ok(())
    }
}

impl ClientError {
    /// The problem document, when the API sent one.
    pub fn problem(&self) -> Option<&ProblemReport> {
        match self {
            ClientError::Problem(p) => Some(p),
            _ => None,
        }
    }
}

impl Answer {
    /// Decodes a JSON body as `T`, keeping the document too.
    pub fn json<T: DeserializeOwned>(&self) -> Result<(T, Value), ClientError> {
        let raw: Value = serde_json::from_slice(&self.body).map_err(|e| {
            ClientError::Unexpected(format!("{} with a body that is not JSON: {e}", self.status))
        })?;
        let typed = T::deserialize(&raw)
            .map_err(|e| ClientError::Unexpected(format!("{}: {e}", self.status)))?;
        Ok((typed, raw))
    }

    /// An answer that is not the one asked for, as an error: the problem document when there
    /// is one, API Gateway's `{"message": …}`, or the status alone.
    pub fn into_error(self) -> ClientError {
        let status = self.status.as_u16();
        let raw: Option<Value> = serde_json::from_slice(&self.body).ok();
        if let Some(raw) = raw {
            if raw.get("title").is_some() && raw.get("status").is_some() {
                if let Ok(mut report) = ProblemReport::deserialize(&raw) {
                    report.raw = raw;
                    return ClientError::Problem(Box::new(report));
                }
            }
            if let Some(message) = raw.get("message").and_then(Value::as_str) {
                return ClientError::Problem(Box::new(ProblemReport {
                    problem_type: "about:blank".to_owned(),
                    title: message.to_owned(),
                    status,
                    detail: String::new(),
                    correlation_id: self.header("x-correlation-id").map(str::to_owned),
                    errors: Vec::new(),
                    raw,
                }));
            }
        }
        let reason = self.status.canonical_reason().unwrap_or("");
        ClientError::Unexpected(format!("{status} {reason}").trim_end().to_owned())
    }
}
