//! The Lambda entry point of webhook delivery (webhook queue → receivers): a deployment's `main` is
//! `accepted_webhooks::run().await`.

use std::sync::Arc;

use accepted_aws::{load_lambda_config, secret_provider, SqsJobQueue};
use accepted_core::config::WebhookConfig;
use accepted_core::logging;
use accepted_core::webhook::https::HttpsTransport;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

use crate::{handle_batch, Deliverer};

/// Serves the function under the Lambda runtime until it stops, configured from the
/// environment.
pub async fn run() -> Result<(), Error> {
    logging::init("webhooks");
    let config = WebhookConfig::from_env()?;
    let aws = load_lambda_config().await;
    let secrets = secret_provider(&aws, &config.secret)?;
    let transport = Arc::new(HttpsTransport::new(config.destinations, config.timeout)?);
    let mut deliverer = Deliverer::new(transport, secrets, &config).with_queue(Arc::new(
        SqsJobQueue::from_sdk_config(&aws, &config.queue_url),
    ));
    if let Some(dlq) = &config.dead_letter_queue_url {
        deliverer =
            deliverer.with_dead_letter_queue(Arc::new(SqsJobQueue::from_sdk_config(&aws, dlq)));
    }
    let deliverer = Arc::new(deliverer);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deliverer = Arc::clone(&deliverer);
        async move { Ok::<_, Error>(handle_batch(&deliverer, event.payload).await) }
    }))
    .await
}
