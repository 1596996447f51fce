//! Identifiers that cross a trust boundary. Each one is parsed once, at the edge, into a type
//! that cannot hold an invalid value, so the rest of the code never re-checks them.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job id: a random UUID (122 random bits), or for a keyed job on DynamoDB one derived
/// under a secret key (122 bits of an HMAC), so ids cannot be guessed or enumerated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    pub fn generate() -> Self {
        Self(Uuid::new_v4().hyphenated().to_string())
    }

    /// The id a store derived for a keyed job (16 bytes of an HMAC, say): a version 8 UUID,
    /// the version RFC 9562 leaves to applications, so it never collides with a random one.
    pub fn from_derived_bytes(bytes: [u8; 16]) -> Self {
        Self(
            uuid::Builder::from_custom_bytes(bytes)
                .into_uuid()
                .hyphenated()
                .to_string(),
        )
    }

    /// Accepts only the canonical lower-case hyphenated form, so one job has one spelling.
    pub fn parse(s: &str) -> Option<Self> {
        let uuid = Uuid::try_parse(s).ok()?;
        let canonical = uuid.hyphenated().to_string();
        (canonical == s).then_some(Self(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| format!("not a job id: {s:?}"))
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a job belongs to: the verified identity of the caller (JWT `sub`, IAM caller ARN), or
/// [`Owner::anonymous`] when the API runs without an authorizer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Owner(String);

impl Owner {
    pub const MAX_LEN: usize = 256;
    const ANONYMOUS: &'static str = "anonymous";

    pub fn anonymous() -> Self {
        Self(Self::ANONYMOUS.to_owned())
    }

    /// Owners become part of storage keys: no control characters, no `#` (the key separator).
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && !s.chars().any(|c| c.is_control() || c == '#');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Owner {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| "not a valid owner".to_owned())
    }
}

impl From<Owner> for String {
    fn from(o: Owner) -> Self {
        o.0
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id that follows one job through every hop: request, item, message, logs, events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CorrelationId(String);

impl CorrelationId {
    pub const MAX_LEN: usize = 128;

    pub fn generate() -> Self {
        Self(Uuid::new_v4().hyphenated().to_string())
    }

    /// A client's id is kept only when it is short and made of safe characters, because it
    /// is echoed into headers and every log line; anything else is replaced, not rejected,
    /// so a sloppy client still gets a traceable request.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn from_header_or_generate(header: Option<&str>) -> Self {
        header.and_then(Self::parse).unwrap_or_else(Self::generate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CorrelationId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| "not a valid correlation id".to_owned())
    }
}

impl From<CorrelationId> for String {
    fn from(c: CorrelationId) -> Self {
        c.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client's `Idempotency-Key`: 1–255 visible ASCII characters (IETF httpapi draft).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Option<Self> {
        let ok =
            !s.is_empty() && s.len() <= Self::MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| "not a valid idempotency key".to_owned())
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> Self {
        k.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_canonical_uuids() {
        let id = JobId::generate();
        assert_eq!(JobId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(JobId::parse(&id.as_str().to_uppercase()), None);
        assert_eq!(JobId::parse("../etc/passwd"), None);
        assert_eq!(JobId::parse(""), None);
        assert_ne!(JobId::generate(), id);
    }

    #[test]
    fn correlation_ids_from_clients_are_kept_only_when_safe() {
        assert_eq!(
            CorrelationId::from_header_or_generate(Some("req-42.a:b_c")).as_str(),
            "req-42.a:b_c"
        );
        for bad in ["", "has space", "new\nline", "é", &"x".repeat(129)] {
            let got = CorrelationId::from_header_or_generate(Some(bad));
            assert_ne!(got.as_str(), bad);
            assert!(CorrelationId::parse(got.as_str()).is_some());
        }
    }

    #[test]
    fn owners_and_keys_reject_separators_and_control_characters() {
        assert!(Owner::parse("user-1").is_some());
        assert!(Owner::parse("a#b").is_none());
        assert!(Owner::parse("a\u{0}b").is_none());
        assert!(Owner::parse(&"o".repeat(257)).is_none());
        assert!(IdempotencyKey::parse("order-7f3a").is_some());
        assert!(IdempotencyKey::parse("has space").is_none());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_none());
    }
}
