//! [`ResultStore`] on S3: one object per result under `results/`, encrypted by the bucket's
//! default encryption, fetched by clients through a presigned `GET` that expires quickly. The
//! bucket's lifecycle rule removes results when their jobs expire.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use accepted_core::ids::JobId;
use accepted_core::job::ResultRef;
use accepted_core::ports::{result_key, result_ref, ResultLink, ResultStore, ResultStoreError};

#[derive(Debug, Clone)]
pub struct S3ResultStore {
    client: Client,
    bucket: String,
}

impl S3ResultStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        Self::new(super::AwsClients::new(sdk).s3(), bucket)
    }
}

fn unavailable<E: std::error::Error + 'static>(err: E) -> ResultStoreError {
    ResultStoreError::Unavailable(DisplayErrorContext(err).to_string())
}

#[async_trait]
impl ResultStore for S3ResultStore {
    async fn put(&self, job: &JobId, document: &[u8]) -> Result<ResultRef, ResultStoreError> {
        let key = result_key(job);
        let reference = result_ref(key.clone(), document);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(document.to_vec()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(reference)
    }

    async fn link(
        &self,
        result: &ResultRef,
        ttl: Duration,
    ) -> Result<ResultLink, ResultStoreError> {
        let presigning = PresigningConfig::expires_in(ttl).map_err(unavailable)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&result.key)
            .presigned(presigning)
            .await
            .map_err(unavailable)?;
        Ok(ResultLink::Url(request.uri().to_owned()))
    }
}
