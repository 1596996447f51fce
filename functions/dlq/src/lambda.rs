//! The Lambda entry point of the dead-letter queue consumer: a deployment's `main` is
//! `accepted_dlq::run().await`.

use std::sync::Arc;

use accepted_aws::{keyed_job_store, load_lambda_config};
use accepted_core::{logging, Config};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

use crate::{handle_batch, DeadLetters};

/// Serves the function under the Lambda runtime until it stops, configured from the
/// environment.
pub async fn run() -> Result<(), Error> {
    logging::init("dlq");
    let config = Config::from_env()?;
    let aws = load_lambda_config().await;
    let store = keyed_job_store(&aws, &config)?;
    let dead_letters = Arc::new(DeadLetters::new(Arc::new(store), &config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let dead_letters = Arc::clone(&dead_letters);
        async move { Ok::<_, Error>(handle_batch(&dead_letters, event.payload).await) }
    }))
    .await
}
