//! The Lambda entry point of the scheduled reconciler: a deployment's `main` is
//! `accepted_reconciler::run().await`.

use std::sync::Arc;

use accepted_aws::{load_lambda_config, DynamoJobStore, SqsJobQueue};
use accepted_core::{logging, Config, Timestamp};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

use crate::{sweep, Reconciler};

/// Serves the function under the Lambda runtime until it stops, configured from the
/// environment.
pub async fn run() -> Result<(), Error> {
    logging::init("reconciler");
    let config = Config::from_env()?;
    let aws = load_lambda_config().await;
    let store = DynamoJobStore::from_sdk_config(&aws, &config.table_name);
    let queue = SqsJobQueue::from_sdk_config(&aws, config.require_queue_url()?);
    let reconciler = Arc::new(Reconciler::new(Arc::new(store), Arc::new(queue), &config));
    // The scheduled event carries nothing the sweep needs.
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| {
        let reconciler = Arc::clone(&reconciler);
        async move { Ok::<_, Error>(sweep(&reconciler, Timestamp::now()).await?) }
    }))
    .await
}
