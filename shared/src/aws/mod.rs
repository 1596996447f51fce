//! Adapters of the ports on AWS: DynamoDB for the [`JobStore`](crate::ports::JobStore), SQS
//! for the [`JobQueue`](crate::ports::JobQueue), EventBridge for the
//! [`EventPublisher`](crate::ports::EventPublisher) (feature `eventbridge`), S3 for results
//! (feature `s3`), Secrets Manager for the webhook secret (feature `secretsmanager`).
//!
//! Clients come from the standard AWS configuration chain, so `AWS_ENDPOINT_URL` (or
//! `AWS_ENDPOINT_URL_DYNAMODB` / `_SQS`) points them at moto server or LocalStack with no
//! code change.

mod calls;
mod dynamodb;
#[cfg(feature = "eventbridge")]
mod eventbridge;
pub mod item;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "secretsmanager")]
mod secrets;
mod sqs;

pub use calls::{AwsClients, CallCounter, CallCounts};
pub use dynamodb::DynamoJobStore;
#[cfg(feature = "eventbridge")]
pub use eventbridge::EventBridgePublisher;
#[cfg(feature = "s3")]
pub use s3::S3ResultStore;
#[cfg(feature = "secretsmanager")]
pub use secrets::{secret_provider, SecretsManagerSecret};
pub use sqs::SqsJobQueue;

/// Loads the shared AWS configuration once, at cold start.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
