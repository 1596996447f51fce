//! The Lambda entry point of the SQS worker, for any registry: a deployment's `main` is
//! `accepted_worker::run(registry()).await`, with the same `registry()` its submit runs.
//! The types declared in `JOB_TYPES_FILE` join it, each run by its Lambda function.

use std::path::Path;
use std::sync::Arc;

use accepted_aws::{
    keyed_job_store, load_lambda_config, AwsClients, LambdaTarget, S3ResultStore, SqsJobQueue,
};
use accepted_core::{declared, logging, Config, JobRegistry, Timestamp};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

use crate::{handle_batch, Worker};

/// Runs SQS batches of jobs under the Lambda runtime until it stops, with `registry`'s job
/// types, reporting partial batch failures.
pub async fn run(registry: JobRegistry) -> Result<(), Error> {
    logging::init("worker");
    let config = Config::from_env()?;
    let aws = load_lambda_config().await;
    let registry = with_declared(registry, config.job_types_file.as_deref(), &aws)?;
    let store = keyed_job_store(&aws, &config)?;
    let mut worker = Worker::new(Arc::new(store), registry, &config);
    // One SQS client for both queues: a client is built once, at cold start.
    let sqs = AwsClients::new(&aws).sqs();
    // The source queue, to delay retries by changing their visibility (backoff).
    if let Some(url) = &config.queue_url {
        worker = worker.with_queue(Arc::new(SqsJobQueue::new(sqs.clone(), url)));
    }
    // The dead-letter queue, to set aside at once what can never be processed.
    if let Some(url) = &config.dead_letter_queue_url {
        worker = worker.with_dead_letter_queue(Arc::new(SqsJobQueue::new(sqs, url)));
    }
    // The bucket for results too large for the job item.
    if let Some(bucket) = &config.results_bucket {
        worker = worker.with_results(Arc::new(S3ResultStore::from_sdk_config(&aws, bucket)));
    }
    let worker = Arc::new(worker);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move {
            let deadline = i64::try_from(event.context.deadline)
                .ok()
                .map(Timestamp::from_millis);
            Ok::<_, Error>(handle_batch(&worker, event.payload, deadline).await)
        }
    }))
    .await
}

/// `registry` with the types declared in `file` (`JOB_TYPES_FILE`), each invoking its function; a type that
/// cannot run on AWS stops the start, naming the file and the type.
pub fn with_declared(
    registry: JobRegistry,
    file: Option<&Path>,
    aws: &aws_config::SdkConfig,
) -> Result<JobRegistry, declared::DeclarationError> {
    let Some(file) = file else {
        return Ok(registry);
    };
    let client = AwsClients::new(aws).lambda();
    declared::register_file(registry, file, |declared| {
        let target = LambdaTarget::for_declared(&client, declared)?;
        Ok(Arc::new(target) as Arc<dyn declared::Target>)
    })
}
