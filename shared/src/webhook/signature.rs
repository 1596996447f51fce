//! Webhook signatures in the Standard Webhooks format (<https://www.standardwebhooks.com>):
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`,
//! keyed with the secret's bytes (`whsec_<base64>`).
//!
//! [`sign`] is what the sender does; [`verify`] is for receivers: it rejects missing, empty or
//! truncated signatures and timestamps outside the tolerance (replays), and compares in
//! constant time. The secret never appears in `Debug` output.
//!
//! Each owner signs with a key of its own, derived from the deployment's master secret
//! ([`WebhookSecret::for_owner`]), so one tenant's key cannot forge deliveries to another's
//! receiver; an owner fetches its key from `GET /webhook-secret`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

const SECRET_PREFIX: &str = "whsec_";
const VERSION: &str = "v1";
/// How far a `webhook-timestamp` may be from the receiver's clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;
/// Length of an HMAC-SHA256 tag: anything shorter is a truncated signature.
const TAG_BYTES: usize = 32;

/// A signing secret: `whsec_` and the base64 of its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WebhookError {
    #[error("the secret must be whsec_ followed by base64 of at least 24 bytes")]
    InvalidSecret,
    #[error("header {0} is missing or empty")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not whole seconds since the epoch")]
    InvalidTimestamp,
    #[error("webhook-timestamp is outside the tolerance (replayed or skewed)")]
    StaleTimestamp,
    #[error("no v1 signature matches")]
    NoMatchingSignature,
}

/// Domain separation for per-owner keys; a new derivation gets a new label.
const OWNER_KEY_LABEL: &[u8] = b"accepted.webhook.owner-key.v1:";

impl WebhookSecret {
    /// A new random secret of 32 bytes, from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(bytes)
    }

    /// The key `owner`'s deliveries are signed with: HMAC-SHA256 of the owner under this
    /// (master) secret. Deterministic, so every function derives the same key without storing
    /// one per owner; rotating the master rotates every owner's key.
    pub fn for_owner(&self, owner: &str) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(OWNER_KEY_LABEL);
        mac.update(owner.as_bytes());
        Self(mac.finalize().into_bytes().to_vec())
    }

    /// The `whsec_<base64>` form receivers configure. Only for the owner's own key, never
    /// for logs.
    pub fn reveal(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| WebhookError::InvalidSecret)?;
        if bytes.len() < 24 {
            return Err(WebhookError::InvalidSecret);
        }
        Ok(Self(bytes))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` header value for a delivery.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(id, timestamp, body).finalize().into_bytes();
    format!("{VERSION},{}", STANDARD.encode(tag))
}

/// The three headers of a delivery, as received.
#[derive(Debug, Clone, Copy)]
pub struct WebhookHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks a delivery: its timestamp within `tolerance_secs` of `now_secs`, and one of the
/// space-separated `v1,<base64>` signatures a full, matching tag.
pub fn verify(
    secret: &WebhookSecret,
    headers: WebhookHeaders<'_>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    fn present<'h>(value: Option<&'h str>, name: &'static str) -> Result<&'h str, WebhookError> {
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(WebhookError::MissingHeader(name))
    }
    let id = present(headers.id, "webhook-id")?;
    let timestamp: i64 = present(headers.timestamp, "webhook-timestamp")?
        .parse()
        .map_err(|_| WebhookError::InvalidTimestamp)?;
    let signatures = present(headers.signature, "webhook-signature")?;
    if (now_secs - timestamp).abs() > tolerance_secs {
        return Err(WebhookError::StaleTimestamp);
    }
    let expected = secret.mac(id, timestamp, body);
    let matches = signatures
        .split(' ')
        .filter_map(|candidate| candidate.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
        .filter(|tag| tag.len() == TAG_BYTES)
        // `verify_slice` compares in constant time.
        .any(|tag| expected.clone().verify_slice(&tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(WebhookError::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks specification's test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).unwrap()
    }

    fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> WebhookHeaders<'a> {
        WebhookHeaders {
            id: Some(id),
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    #[test]
    fn owner_keys_are_stable_distinct_and_round_trip() {
        let master = secret();
        let a = master.for_owner("alice");
        assert_eq!(a, master.for_owner("alice"));
        assert_ne!(a, master.for_owner("bob"));
        assert_ne!(a, master);
        assert_eq!(WebhookSecret::parse(&a.reveal()), Ok(a.clone()));
        assert_eq!(format!("{a:?}"), "WebhookSecret(redacted)");
        assert_ne!(WebhookSecret::generate(), WebhookSecret::generate());
        let body = b"{}";
        let ts = TIMESTAMP.to_string();
        let signed_for_bob = sign(&master.for_owner("bob"), ID, TIMESTAMP, body);
        assert_eq!(
            verify(&a, headers(ID, &ts, &signed_for_bob), body, TIMESTAMP, 300),
            Err(WebhookError::NoMatchingSignature),
            "one owner's key does not verify another's deliveries"
        );
    }

    #[test]
    fn signs_the_specification_test_vector() {
        assert_eq!(sign(&secret(), ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn verifies_the_test_vector_and_any_listed_signature() {
        let ts = TIMESTAMP.to_string();
        let ok = |sig: &str| verify(&secret(), headers(ID, &ts, sig), BODY, TIMESTAMP, 300);
        assert_eq!(ok(SIGNATURE), Ok(()));
        let rotated = format!("v1,bm90LXRoZS1zaWduYXR1cmUtd2UtYXJlLWxvb2tpbmctZm9y {SIGNATURE}");
        assert_eq!(
            ok(&rotated),
            Ok(()),
            "one of several signatures (key rotation)"
        );
    }

    #[test]
    fn rejects_tampering_truncation_emptiness_and_replays() {
        let ts = TIMESTAMP.to_string();
        let check = |id: &str, ts: &str, sig: &str, body: &[u8], now: i64| {
            verify(
                &secret(),
                headers(id, ts, sig),
                body,
                now,
                DEFAULT_TOLERANCE_SECS,
            )
        };
        let no_match = Err(WebhookError::NoMatchingSignature);
        assert_eq!(
            check(ID, &ts, SIGNATURE, br#"{"test": 1}"#, TIMESTAMP),
            no_match
        );
        assert_eq!(
            check("msg_other", &ts, SIGNATURE, BODY, TIMESTAMP),
            no_match
        );
        let truncated = &SIGNATURE[..SIGNATURE.len() - 8];
        assert_eq!(check(ID, &ts, truncated, BODY, TIMESTAMP), no_match);
        assert_eq!(check(ID, &ts, "v1,", BODY, TIMESTAMP), no_match);
        assert_eq!(
            check(ID, &ts, &SIGNATURE.replacen("v1", "v2", 1), BODY, TIMESTAMP),
            no_match
        );
        assert_eq!(
            check(ID, &ts, "", BODY, TIMESTAMP),
            Err(WebhookError::MissingHeader("webhook-signature"))
        );
        assert_eq!(
            check("", &ts, SIGNATURE, BODY, TIMESTAMP),
            Err(WebhookError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            check(ID, "yesterday", SIGNATURE, BODY, TIMESTAMP),
            Err(WebhookError::InvalidTimestamp)
        );
        for skew in [DEFAULT_TOLERANCE_SECS + 1, -DEFAULT_TOLERANCE_SECS - 1] {
            assert_eq!(
                check(ID, &ts, SIGNATURE, BODY, TIMESTAMP + skew),
                Err(WebhookError::StaleTimestamp)
            );
        }
    }

    #[test]
    fn secrets_are_validated_and_never_printed() {
        assert_eq!(
            WebhookSecret::parse("whsec_"),
            Err(WebhookError::InvalidSecret)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_!!!"),
            Err(WebhookError::InvalidSecret)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ="),
            Err(WebhookError::InvalidSecret)
        );
        assert!(!format!("{:?}", secret()).contains("MfKQ"));
    }
}
