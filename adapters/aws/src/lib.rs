//! Adapters of the ports on AWS: DynamoDB for the [`JobStore`](accepted_core::ports::JobStore), SQS
//! for the [`JobQueue`](accepted_core::ports::JobQueue) and the
//! [`DispatchChecks`](accepted_core::ports::DispatchChecks), EventBridge for the
//! [`EventPublisher`](accepted_core::ports::EventPublisher) (feature `eventbridge`), S3 for results
//! (feature `s3`), Secrets Manager for the webhook secret and the job-id key (feature
//! `secretsmanager`), Lambda for
//! the targets of declared job types (feature `lambda`).
//!
//! Clients come from the standard AWS configuration chain, so `AWS_ENDPOINT_URL` (or
//! `AWS_ENDPOINT_URL_DYNAMODB` / `_SQS` / `_LAMBDA`) points them at moto server or LocalStack with no
//! code change.

mod calls;
mod dispatch_checks;
mod dynamodb;
#[cfg(feature = "eventbridge")]
mod eventbridge;
pub mod http_client;
pub mod item;
mod job_ids;
#[cfg(feature = "lambda")]
mod lambda;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "secretsmanager")]
mod secrets;
mod sqs;

pub use calls::{AwsClients, CallCounter, CallCounts};
pub use dispatch_checks::SqsDispatchChecks;
pub use dynamodb::DynamoJobStore;
#[cfg(feature = "eventbridge")]
pub use eventbridge::{
    BusSubscriptions, EventBridgePublisher, Pattern, Receivers, SubscriptionsUnread,
    SUBSCRIPTIONS_REFRESH,
};
pub use job_ids::KeyedJobIds;
#[cfg(feature = "lambda")]
pub use lambda::LambdaTarget;
#[cfg(feature = "s3")]
pub use s3::S3ResultStore;
#[cfg(feature = "secretsmanager")]
pub use secrets::{keyed_job_ids, keyed_job_store, secret_provider, SecretsManagerSecret};
pub use sqs::SqsJobQueue;

/// Loads the AWS configuration from the standard chain (environment, profile files, SSO, web
/// identity, container and instance metadata): for the local server and tools.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client::new_shared())
        .load()
        .await
}

/// Loads the AWS configuration of a Lambda function, once, at cold start.
///
/// Lambda always hands a function its role's credentials and its region in environment
/// variables, so the rest of the standard chain is dead weight there. It is not free: the chain
/// builds an STS client for web identity, and every SDK client loads and parses the root
/// certificates when it is built, so skipping it shortens every cold start (BENCHMARKS.md).
/// Endpoint overrides (`AWS_ENDPOINT_URL`) still apply. Without credentials in the
/// environment (a bootstrap run locally with a profile or SSO), the standard chain is used.
pub async fn load_lambda_config() -> aws_config::SdkConfig {
    use aws_config::environment::{
        EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
    };
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        return load_config().await;
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client::new_shared())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .region(EnvironmentVariableRegionProvider::new())
        .load()
        .await
}
