//! The requests the AWS clients send, counted by service and operation.
//!
//! Every request is a line on the bill and a round trip on the latency path, so the calls a
//! job costs are a figure the project holds fixed. [`CallCounter`] is an SDK interceptor: it
//! sees each request the service answered (a retried request counts once per attempt),
//! whichever adapter sent it. [`AwsClients`] builds the clients, with the counter when asked.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Requests sent, keyed `Service.Operation` (`DynamoDB.PutItem`, `SQS.SendMessage`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CallCounts(BTreeMap<String, u64>);

impl CallCounts {
    pub fn get(&self, call: &str) -> u64 {
        self.0.get(call).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The requests to one service (`DynamoDB`, `SQS`, `S3`, `EventBridge`).
    pub fn of_service(&self, service: &str) -> u64 {
        self.0
            .iter()
            .filter(|(call, _)| call.split_once('.').is_some_and(|(s, _)| s == service))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(call, n)| (call.as_str(), *n))
    }
}

impl<const N: usize> From<[(&str, u64); N]> for CallCounts {
    fn from(calls: [(&str, u64); N]) -> Self {
        Self(
            calls
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(call, n)| (call.to_owned(), n))
                .collect(),
        )
    }
}

/// `DynamoDB.PutItem=1, SQS.SendMessage=1`: readable in an assertion's message.
impl fmt::Debug for CallCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls: Vec<String> = self.iter().map(|(c, n)| format!("{c}={n}")).collect();
        write!(f, "{{{}}}", calls.join(", "))
    }
}

/// Counts every request of the clients it is installed on. Clones share one tally.
#[derive(Clone, Default, Debug)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The requests counted so far, and a fresh start: one step's calls at a time.
    pub fn take(&self) -> CallCounts {
        CallCounts(std::mem::take(&mut *self.lock()))
    }

    pub fn snapshot(&self) -> CallCounts {
        CallCounts(self.lock().clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        // A panic elsewhere cannot leave a map of counters inconsistent.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // After transmit, not before: a presigned URL runs the request pipeline up to the wire
    // and stops, and is not a call.
    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let call = match cfg.load::<Metadata>() {
            Some(meta) => format!("{}.{}", meta.service(), meta.name()),
            None => "unknown.unknown".to_owned(),
        };
        *self.lock().entry(call).or_default() += 1;
        Ok(())
    }
}

/// Builds each service's client from one loaded configuration, with a [`CallCounter`] on
/// every one of them when [`AwsClients::counted`] asked for it.
#[derive(Clone, Debug)]
pub struct AwsClients {
    sdk: aws_config::SdkConfig,
    counter: Option<CallCounter>,
}

impl AwsClients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            sdk: sdk.clone(),
            counter: None,
        }
    }

    pub fn counted(mut self, counter: &CallCounter) -> Self {
        self.counter = Some(counter.clone());
        self
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let mut config = aws_sdk_dynamodb::config::Builder::from(&self.sdk);
        if let Some(counter) = &self.counter {
            config = config.interceptor(counter.clone());
        }
        aws_sdk_dynamodb::Client::from_conf(config.build())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let mut config = aws_sdk_sqs::config::Builder::from(&self.sdk);
        if let Some(counter) = &self.counter {
            config = config.interceptor(counter.clone());
        }
        aws_sdk_sqs::Client::from_conf(config.build())
    }

    /// Path-style addressing when an endpoint is configured (moto, LocalStack), which serve
    /// buckets under their path rather than as subdomains.
    #[cfg(feature = "s3")]
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut config = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(s3_endpoint_configured(&self.sdk));
        if let Some(counter) = &self.counter {
            config = config.interceptor(counter.clone());
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }

    /// Without the SDK's own retries: a re-sent `Invoke` runs the user's work again, so each
    /// attempt invokes once and the job's retry policy decides the rest.
    #[cfg(feature = "lambda")]
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        let mut config = aws_sdk_lambda::config::Builder::from(&self.sdk)
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled());
        if let Some(counter) = &self.counter {
            config = config.interceptor(counter.clone());
        }
        aws_sdk_lambda::Client::from_conf(config.build())
    }

    #[cfg(feature = "eventbridge")]
    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        let mut config = aws_sdk_eventbridge::config::Builder::from(&self.sdk);
        if let Some(counter) = &self.counter {
            config = config.interceptor(counter.clone());
        }
        aws_sdk_eventbridge::Client::from_conf(config.build())
    }
}

/// Whether S3 has an endpoint of its own: the global `AWS_ENDPOINT_URL` (or one set in code),
/// or `AWS_ENDPOINT_URL_S3` / a profile's `endpoint_url` for S3 alone, which the SDK applies
/// when it builds the S3 client, as it does for every service.
#[cfg(feature = "s3")]
fn s3_endpoint_configured(sdk: &aws_config::SdkConfig) -> bool {
    use aws_types::service_config::ServiceConfigKey;
    let own = || {
        let key = ServiceConfigKey::builder()
            .service_id("S3")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()?;
        sdk.service_config()?.load_config(key)
    };
    sdk.endpoint_url().is_some() || own().is_some()
}

#[cfg(all(test, feature = "s3"))]
mod tests {
    use std::time::Duration;

    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
    use aws_sdk_s3::presigning::PresigningConfig;
    use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

    use super::*;

    /// A service configuration with one endpoint, `AWS_ENDPOINT_URL_<service>`'s value.
    #[derive(Debug)]
    struct OwnEndpoint(&'static str, &'static str);

    impl LoadServiceConfig for OwnEndpoint {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            (key.service_id() == self.0 && key.env() == "AWS_ENDPOINT_URL")
                .then(|| self.1.to_owned())
        }
    }

    fn sdk() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
            .build()
    }

    /// The address the S3 client would send a request for `bucket/key` to.
    async fn object_uri(sdk: &aws_config::SdkConfig) -> String {
        let presigned = AwsClients::new(sdk)
            .s3()
            .get_object()
            .bucket("results")
            .key("job.json")
            .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
            .await
            .unwrap();
        presigned
            .uri()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn an_s3_endpoint_of_its_own_gets_path_style_addressing() {
        let only_s3 = sdk()
            .into_builder()
            .service_config(OwnEndpoint("S3", "http://localhost:4566"))
            .build();
        assert_eq!(
            object_uri(&only_s3).await,
            "http://localhost:4566/results/job.json"
        );

        let global = sdk()
            .into_builder()
            .endpoint_url("http://localhost:5151")
            .build();
        assert_eq!(
            object_uri(&global).await,
            "http://localhost:5151/results/job.json"
        );

        // Another service's endpoint leaves S3 on AWS, addressed the way AWS prefers.
        let only_sqs = sdk()
            .into_builder()
            .service_config(OwnEndpoint("SQS", "http://localhost:4566"))
            .build();
        assert_eq!(
            object_uri(&only_sqs).await,
            "https://results.s3.us-east-1.amazonaws.com/job.json"
        );
    }
}
