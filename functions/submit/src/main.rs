//! Lambda entry point of `POST /jobs`: wiring only; the logic is in the library.

use std::sync::Arc;

use accepted_core::aws::{load_lambda_config, DynamoJobStore, SqsJobQueue};
use accepted_core::jobs::JobRegistry;
use accepted_core::{logging, Config};
use accepted_submit::{handle, Submit};
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init("submit");
    let config = Config::from_env()?;
    let aws = load_lambda_config().await;
    let store = DynamoJobStore::from_sdk_config(&aws, &config.table_name);
    let queue = SqsJobQueue::from_sdk_config(&aws, config.require_queue_url()?);
    let submit = Arc::new(Submit::new(
        Arc::new(store),
        Arc::new(queue),
        JobRegistry::builtin(),
        &config,
    ));
    lambda_http::run(service_fn(move |req: Request| {
        let submit = Arc::clone(&submit);
        async move { Ok::<_, Error>(handle(&submit, req).await) }
    }))
    .await
}
