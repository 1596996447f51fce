//! The Lambda entry point of the reconciler: a deployment's `main` is
//! `accepted_reconciler::run().await`. It is invoked by its schedule (a sweep) and by the
//! dispatch-check queue (an SQS batch).

use std::sync::Arc;

use accepted_aws::{load_lambda_config, DynamoJobStore, SqsJobQueue};
use accepted_core::{logging, Config, Timestamp};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

use crate::{check_dispatch, sweep, Reconciler};

/// Serves the function under the Lambda runtime until it stops, configured from the
/// environment.
pub async fn run() -> Result<(), Error> {
    logging::init("reconciler");
    let config = Config::from_env()?;
    let aws = load_lambda_config().await;
    let store = DynamoJobStore::from_sdk_config(&aws, &config.table_name);
    let queue = SqsJobQueue::from_sdk_config(&aws, config.require_queue_url()?);
    let reconciler = Arc::new(Reconciler::new(Arc::new(store), Arc::new(queue), &config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let reconciler = Arc::clone(&reconciler);
        async move { invoked(&reconciler, event.payload).await }
    }))
    .await
}

/// An SQS batch is dispatch checks; anything else is the schedule, whose event carries
/// nothing the sweep needs.
async fn invoked(reconciler: &Reconciler, event: Value) -> Result<Value, Error> {
    if is_sqs_batch(&event) {
        let batch: SqsEvent = serde_json::from_value(event)?;
        return Ok(serde_json::to_value(
            check_dispatch(reconciler, batch).await,
        )?);
    }
    Ok(serde_json::to_value(
        sweep(reconciler, Timestamp::now()).await?,
    )?)
}

fn is_sqs_batch(event: &Value) -> bool {
    event
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        .is_some_and(|source| source == "aws:sqs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqs_batch_is_told_from_the_schedule() {
        let sqs = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]});
        let schedule =
            serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event"});
        assert!(is_sqs_batch(&sqs));
        assert!(!is_sqs_batch(&schedule));
        assert!(!is_sqs_batch(&serde_json::json!({})));
    }
}
