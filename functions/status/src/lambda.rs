//! The Lambda entry point of the job resource (`GET`/`DELETE /jobs/{id}`, `GET
//! /jobs/{id}/result`, `GET /jobs`, `GET /webhook-secret`): a deployment's `main` is
//! `accepted_status::run().await`.

use std::sync::Arc;

use accepted_aws::{load_lambda_config, secret_provider, DynamoJobStore, S3ResultStore};
use accepted_core::{logging, Config};
use lambda_http::{service_fn, Error, Request};

use crate::{handle, Status};

/// Serves the function under the Lambda runtime until it stops, configured from the
/// environment.
pub async fn run() -> Result<(), Error> {
    logging::init("status");
    let config = Config::from_env()?;
    let aws = load_lambda_config().await;
    let store = DynamoJobStore::from_sdk_config(&aws, &config.table_name);
    let mut status = Status::new(Arc::new(store), &config);
    if let Some(bucket) = &config.results_bucket {
        status = status.with_results(Arc::new(S3ResultStore::from_sdk_config(&aws, bucket)));
    }
    if let Some(source) = &config.webhook_secret {
        status = status.with_webhook_secrets(secret_provider(&aws, source)?);
    }
    let status = Arc::new(status);
    lambda_http::run(service_fn(move |req: Request| {
        let status = Arc::clone(&status);
        async move { Ok::<_, Error>(handle(&status, req).await) }
    }))
    .await
}
