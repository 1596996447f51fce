//! Where the webhook master secret comes from. On AWS it is a Secrets Manager secret, read
//! once and kept for [`SECRET_CACHE_TTL`] so a rotation takes effect within minutes without a
//! call per delivery; locally it is a literal.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use thiserror::Error;

use super::signature::WebhookSecret;

pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    #[error("the secret could not be read: {0}")]
    Unavailable(String),
    /// The stored value is not a usable secret; what it is, is never shown.
    #[error("the stored webhook secret is not whsec_ followed by base64 of 24 or more bytes")]
    Malformed,
}

#[async_trait]
pub trait SecretProvider: Send + Sync {
    async fn master(&self) -> Result<WebhookSecret, SecretError>;
}

/// A secret given directly (local server, tests).
pub struct LiteralSecret(pub WebhookSecret);

#[async_trait]
impl SecretProvider for LiteralSecret {
    async fn master(&self) -> Result<WebhookSecret, SecretError> {
        Ok(self.0.clone())
    }
}

/// Fetches the secret's text with `fetch` and keeps the parsed secret for `ttl`.
pub struct CachedSecret<F> {
    fetch: F,
    ttl: Duration,
    cached: Mutex<Option<(Instant, WebhookSecret)>>,
}

impl<F> CachedSecret<F> {
    pub fn new(fetch: F, ttl: Duration) -> Self {
        Self {
            fetch,
            ttl,
            cached: Mutex::new(None),
        }
    }
}

/// Reads the secret's current text.
#[async_trait]
pub trait SecretFetch: Send + Sync {
    async fn fetch(&self) -> Result<String, SecretError>;
}

#[async_trait]
impl<F: SecretFetch> SecretProvider for CachedSecret<F> {
    async fn master(&self) -> Result<WebhookSecret, SecretError> {
        let lock = || {
            self.cached
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((at, secret)) = lock().as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(secret.clone());
            }
        }
        let text = self.fetch.fetch().await?;
        let secret = WebhookSecret::parse(&text).map_err(|_| SecretError::Malformed)?;
        *lock() = Some((Instant::now(), secret.clone()));
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting {
        calls: AtomicU32,
        text: String,
    }

    #[async_trait]
    impl SecretFetch for &'static Counting {
        async fn fetch(&self) -> Result<String, SecretError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(self.text.clone())
        }
    }

    #[tokio::test]
    async fn the_secret_is_fetched_once_per_ttl_and_validated() {
        let source: &'static Counting = Box::leak(Box::new(Counting {
            calls: AtomicU32::new(0),
            text: WebhookSecret::generate().reveal(),
        }));
        let cached = CachedSecret::new(source, Duration::from_secs(60));
        let a = cached.master().await.unwrap();
        let b = cached.master().await.unwrap();
        assert_eq!(a, b);
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);

        let expired = CachedSecret::new(source, Duration::ZERO);
        expired.master().await.unwrap();
        expired.master().await.unwrap();
        assert_eq!(source.calls.load(Ordering::SeqCst), 3);

        let bad: &'static Counting = Box::leak(Box::new(Counting {
            calls: AtomicU32::new(0),
            text: "hunter2".into(),
        }));
        let err = CachedSecret::new(bad, Duration::ZERO)
            .master()
            .await
            .unwrap_err();
        assert_eq!(err, SecretError::Malformed);
        assert!(!err.to_string().contains("hunter2"));
    }
}
