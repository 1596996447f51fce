//! Lambda entry point of the dead-letter queue consumer: wiring only.

use std::sync::Arc;

use accepted_aws::{load_lambda_config, DynamoJobStore};
use accepted_core::{logging, Config};
use accepted_dlq::{handle_batch, DeadLetters};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init("dlq");
    let config = Config::from_env()?;
    let aws = load_lambda_config().await;
    let store = DynamoJobStore::from_sdk_config(&aws, &config.table_name);
    let dead_letters = Arc::new(DeadLetters::new(Arc::new(store), &config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let dead_letters = Arc::clone(&dead_letters);
        async move { Ok::<_, Error>(handle_batch(&dead_letters, event.payload).await) }
    }))
    .await
}
