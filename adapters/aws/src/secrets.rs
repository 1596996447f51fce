//! Secrets in AWS Secrets Manager (`GetSecretValue`, string secrets): the webhook master
//! secret and the job-id key.

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

/// The [`KeyedJobIds`](crate::KeyedJobIds) a [`SecretSource`] names: a Secrets Manager
/// secret, read on the first keyed job and kept (the key never rotates), or a literal.
pub fn keyed_job_ids(
    sdk: &aws_config::SdkConfig,
    source: &SecretSource,
) -> Result<crate::KeyedJobIds, accepted_core::ports::StoreError> {
    match source {
        SecretSource::SecretsManager(id) => Ok(crate::KeyedJobIds::fetched(
            SecretsManagerSecret::from_sdk_config(sdk, id.clone()),
        )),
        SecretSource::Literal(text) => crate::KeyedJobIds::literal(text),
    }
}

/// The job store of a function that creates or finds keyed jobs (submit, the worker, the
/// dead-letter consumer, the local server on AWS): keyed by the job-id key
/// `JOB_ID_KEY_SECRET_ARN` (or `JOB_ID_KEY`) names, honouring legacy idempotency records if
/// `LEGACY_IDEMPOTENCY_RECORDS` says so.
pub fn keyed_job_store(
    sdk: &aws_config::SdkConfig,
    config: &accepted_core::Config,
) -> Result<crate::DynamoJobStore, accepted_core::config::ConfigError> {
    let ids = keyed_job_ids(sdk, config.require_job_id_key()?).map_err(|_| {
        accepted_core::config::ConfigError::Invalid {
            name: "JOB_ID_KEY",
            expected: "at least 32 bytes",
            value: "(not shown)".into(),
        }
    })?;
    Ok(
        crate::DynamoJobStore::from_sdk_config(sdk, &config.table_name)
            .with_keyed_ids(Arc::new(ids))
            .with_legacy_idempotency_records(config.legacy_idempotency_records),
    )
}
