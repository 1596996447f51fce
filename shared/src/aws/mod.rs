//! Adapters of the ports on AWS: DynamoDB for the [`JobStore`](crate::ports::JobStore), SQS
//! for the [`JobQueue`](crate::ports::JobQueue).
//!
//! Clients come from the standard AWS configuration chain, so `AWS_ENDPOINT_URL` (or
//! `AWS_ENDPOINT_URL_DYNAMODB` / `_SQS`) points them at moto server or LocalStack with no
//! code change.

mod dynamodb;
pub mod item;
mod sqs;

pub use dynamodb::DynamoJobStore;
pub use sqs::SqsJobQueue;

/// Loads the shared AWS configuration once, at cold start.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
