//! The Lambda entry point of the lifecycle event publisher (DynamoDB stream → EventBridge, and
//! each new job's dispatch check): a deployment's `main` is
//! `accepted_events::run().await`.

use std::sync::Arc;

use accepted_aws::{load_lambda_config, BusSubscriptions, EventBridgePublisher, SqsDispatchChecks};
use accepted_core::{logging, Config, DispatchChecks};
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

use crate::{handle_records, Kinds, Publisher};

/// Serves the function under the Lambda runtime until it stops, configured from the
/// environment.
pub async fn run() -> Result<(), Error> {
    logging::init("events");
    let config = Config::from_env()?;
    let bus = config.require_event_bus()?.to_owned();
    let aws = load_lambda_config().await;
    let dispatch_checks = config.dispatch_check_queue_url.as_ref().map(|url| {
        Arc::new(SqsDispatchChecks::from_sdk_config(
            &aws,
            url,
            config.dispatch_check_delay,
        )) as Arc<dyn DispatchChecks>
    });
    let kinds = Kinds::configured(&config.event_kinds, || {
        BusSubscriptions::from_sdk_config(&aws, &bus)
    });
    let publisher = Arc::new(Publisher {
        publisher: Arc::new(EventBridgePublisher::from_sdk_config(&aws, bus)),
        source: config.event_source.clone(),
        dispatch_checks,
        kinds,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let publisher = Arc::clone(&publisher);
        async move { Ok::<_, Error>(handle_records(&publisher, event.payload).await) }
    }))
    .await
}
