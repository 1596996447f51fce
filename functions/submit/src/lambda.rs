//! The Lambda entry point of `POST /jobs`, for any registry: a deployment's `main` is
//! `accepted_submit::run(registry()).await`, with the same `registry()` its worker runs.

use std::sync::Arc;

use accepted_aws::{load_lambda_config, DynamoJobStore, SqsJobQueue};
use accepted_core::{logging, Config, JobRegistry};
use lambda_http::{service_fn, Error, Request};

use crate::{handle, Submit};

/// Serves `POST /jobs` under the Lambda runtime until it stops: configuration from the
/// environment, DynamoDB and SQS from the function's credentials, `registry`'s job types.
pub async fn run(registry: JobRegistry) -> Result<(), Error> {
    logging::init("submit");
    let config = Config::from_env()?;
    let aws = load_lambda_config().await;
    let store = DynamoJobStore::from_sdk_config(&aws, &config.table_name);
    let queue = SqsJobQueue::from_sdk_config(&aws, config.require_queue_url()?);
    let submit = Arc::new(Submit::new(
        Arc::new(store),
        Arc::new(queue),
        registry,
        &config,
    ));
    lambda_http::run(service_fn(move |req: Request| {
        let submit = Arc::clone(&submit);
        async move { Ok::<_, Error>(handle(&submit, req).await) }
    }))
    .await
}
