//! The ids of keyed jobs on DynamoDB: HMAC-SHA256 of the owner and the idempotency key under
//! the stack's job-id key, as a version 8 UUID.
//!
//! An id the key determines makes a keyed accept one conditional `PutItem` of the job (1 write
//! unit) instead of a transaction of the job and a key record (4): the job item is the key
//! record. The HMAC keeps the ids unguessable: without the key, knowing an owner and their
//! idempotency key tells nothing of the id.
//!
//! The key never rotates. A new key gives every idempotency key a new id, so a retry that
//! arrives after the change would start a second job.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;

use accepted_core::ids::{IdempotencyKey, JobId, Owner};
use accepted_core::ports::StoreError;
use accepted_core::webhook::secrets::SecretFetch;

/// Shortest key accepted: 32 bytes, the strength of the HMAC itself.
const MIN_KEY_BYTES: usize = 32;

/// Derives keyed jobs' ids; the key is read once, on the first keyed job, and kept.
pub struct KeyedJobIds {
    source: Source,
    key: OnceCell<Arc<[u8]>>,
}

enum Source {
    Literal,
    Fetched(Box<dyn SecretFetch>),
}

impl std::fmt::Debug for KeyedJobIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match self.source {
            Source::Literal => "literal",
            Source::Fetched(_) => "fetched",
        };
        write!(f, "KeyedJobIds({source}, redacted)")
    }
}

impl KeyedJobIds {
    /// A key given directly (local runs, tests): at least 32 bytes.
    pub fn literal(key: &str) -> Result<Self, StoreError> {
        Ok(Self {
            source: Source::Literal,
            key: OnceCell::new_with(Some(checked(key)?)),
        })
    }

    /// A key read from a secret (Secrets Manager on AWS) when the first keyed job needs it.
    pub fn fetched(fetch: impl SecretFetch + 'static) -> Self {
        Self {
            source: Source::Fetched(Box::new(fetch)),
            key: OnceCell::new(),
        }
    }

    /// The id of `owner`'s job for `key`.
    pub async fn id(&self, owner: &Owner, key: &IdempotencyKey) -> Result<JobId, StoreError> {
        let secret =
            self.key
                .get_or_try_init(|| async {
                    match &self.source {
                        Source::Literal => Err(StoreError::Corrupt("no literal job-id key".into())),
                        Source::Fetched(fetch) => {
                            let text = fetch.fetch().await.map_err(|e| {
                                StoreError::Unavailable(format!("the job-id key: {e}"))
                            })?;
                            checked(&text)
                        }
                    }
                })
                .await?;
        Ok(derive(secret, owner, key))
    }
}

fn checked(key: &str) -> Result<Arc<[u8]>, StoreError> {
    if key.len() < MIN_KEY_BYTES {
        // What the key is, is never shown.
        return Err(StoreError::Corrupt(format!(
            "the job-id key is shorter than {MIN_KEY_BYTES} bytes"
        )));
    }
    Ok(Arc::from(key.as_bytes()))
}

fn derive(secret: &[u8], owner: &Owner, key: &IdempotencyKey) -> JobId {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key size");
    // Owners hold no NUL and keys are visible ASCII, so the encoding is unambiguous.
    mac.update(b"accepted job id v1\0");
    mac.update(owner.as_str().as_bytes());
    mac.update(b"\0");
    mac.update(key.as_str().as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    JobId::from_derived_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use accepted_core::webhook::secrets::SecretError;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn owner(s: &str) -> Owner {
        Owner::parse(s).unwrap()
    }

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey::parse(s).unwrap()
    }

    #[tokio::test]
    async fn an_id_depends_on_the_owner_the_key_and_the_secret() {
        let ids = KeyedJobIds::literal(KEY).unwrap();
        let a = ids.id(&owner("alice"), &key("k-1")).await.unwrap();
        assert_eq!(a, ids.id(&owner("alice"), &key("k-1")).await.unwrap());
        assert_ne!(a, ids.id(&owner("bob"), &key("k-1")).await.unwrap());
        assert_ne!(a, ids.id(&owner("alice"), &key("k-2")).await.unwrap());
        let other = KeyedJobIds::literal(&KEY.replace('0', "z")).unwrap();
        assert_ne!(a, other.id(&owner("alice"), &key("k-1")).await.unwrap());
        // A canonical UUID of version 8: it parses, and never equals a random (v4) id.
        assert_eq!(JobId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(&a.as_str()[14..15], "8");
    }

    #[test]
    fn a_short_key_is_refused_without_being_shown() {
        let err = KeyedJobIds::literal("short-secret").unwrap_err();
        assert!(!err.to_string().contains("short-secret"), "{err}");
    }

    struct Counted(Arc<AtomicUsize>);

    #[async_trait]
    impl SecretFetch for Counted {
        async fn fetch(&self) -> Result<String, SecretError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(KEY.to_owned())
        }
    }

    #[tokio::test]
    async fn a_fetched_key_is_read_once_and_gives_the_literal_s_ids() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let ids = KeyedJobIds::fetched(Counted(fetches.clone()));
        let first = ids.id(&owner("alice"), &key("k-1")).await.unwrap();
        ids.id(&owner("alice"), &key("k-2")).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let literal = KeyedJobIds::literal(KEY).unwrap();
        assert_eq!(
            first,
            literal.id(&owner("alice"), &key("k-1")).await.unwrap()
        );
    }
}
