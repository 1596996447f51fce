//! The webhook master secret in AWS Secrets Manager (`GetSecretValue`, string secrets).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

use accepted_core::config::SecretSource;
use accepted_core::webhook::secrets::{
    CachedSecret, LiteralSecret, SecretError, SecretFetch, SecretProvider, SECRET_CACHE_TTL,
};
use accepted_core::webhook::{WebhookError, WebhookSecret};

pub struct SecretsManagerSecret {
    client: Client,
    secret_id: String,
}

impl SecretsManagerSecret {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), secret_id)
    }
}

#[async_trait]
impl SecretFetch for SecretsManagerSecret {
    async fn fetch(&self) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                let e = aws_sdk_secretsmanager::error::DisplayErrorContext(e);
                SecretError::Unavailable(e.to_string())
            })?;
        out.secret_string
            .ok_or_else(|| SecretError::Unavailable("the secret has no string value".into()))
    }
}

/// The provider a [`SecretSource`] names: Secrets Manager (cached for
/// [`SECRET_CACHE_TTL`]) or a literal.
pub fn secret_provider(
    sdk: &aws_config::SdkConfig,
    source: &SecretSource,
) -> Result<Arc<dyn SecretProvider>, WebhookError> {
    Ok(match source {
        SecretSource::SecretsManager(id) => Arc::new(CachedSecret::new(
            SecretsManagerSecret::from_sdk_config(sdk, id.clone()),
            SECRET_CACHE_TTL,
        )),
        SecretSource::Literal(text) => Arc::new(LiteralSecret(WebhookSecret::parse(text)?)),
    })
}
