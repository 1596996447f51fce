//! The Lambda entry point of the lifecycle event publisher (DynamoDB stream → EventBridge): a deployment's `main` is
//! `accepted_events::run().await`.

use std::sync::Arc;

use accepted_aws::{load_lambda_config, EventBridgePublisher};
use accepted_core::{logging, Config};
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

use crate::{handle_records, Publisher};

/// Serves the function under the Lambda runtime until it stops, configured from the
/// environment.
pub async fn run() -> Result<(), Error> {
    logging::init("events");
    let config = Config::from_env()?;
    let bus = config.require_event_bus()?.to_owned();
    let aws = load_lambda_config().await;
    let publisher = Arc::new(Publisher {
        publisher: Arc::new(EventBridgePublisher::from_sdk_config(&aws, bus)),
        source: config.event_source.clone(),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let publisher = Arc::clone(&publisher);
        async move { Ok::<_, Error>(handle_records(&publisher, event.payload).await) }
    }))
    .await
}
