//! The Lambda entry point of `POST /jobs`, for any registry: a deployment's `main` is
//! `accepted_submit::run(registry()).await`, with the same `registry()` its worker runs.
//! The types declared in `JOB_TYPES_FILE` join it: submit validates them, the worker runs them.

use std::path::Path;
use std::sync::Arc;

use accepted_aws::{keyed_job_store, load_lambda_config, SqsJobQueue};
use accepted_core::{declared, logging, Config, JobRegistry};
use lambda_http::{service_fn, Error, Request};

use crate::{handle, Submit};

/// Serves `POST /jobs` under the Lambda runtime until it stops: configuration from the
/// environment, DynamoDB and SQS from the function's credentials, `registry`'s job types.
pub async fn run(registry: JobRegistry) -> Result<(), Error> {
    logging::init("submit");
    let config = Config::from_env()?;
    let registry = with_declared(registry, config.job_types_file.as_deref())?;
    let aws = load_lambda_config().await;
    let store = keyed_job_store(&aws, &config)?;
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

/// `registry` with the types declared in `file` (`JOB_TYPES_FILE`), validated here and run by the worker; a
/// type that cannot run on AWS stops the start, as it stops the worker's.
pub fn with_declared(
    registry: JobRegistry,
    file: Option<&Path>,
) -> Result<JobRegistry, declared::DeclarationError> {
    let Some(file) = file else {
        return Ok(registry);
    };
    declared::register_file(registry, file, |declared| {
        declared::lambda_function(declared)?;
        Ok(Arc::new(declared::RunsElsewhere) as Arc<dyn declared::Target>)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/targets")
            .join(name)
    }

    #[test]
    fn declared_lambda_types_are_validated_here_and_local_only_types_refused_at_start() {
        let registry = with_declared(JobRegistry::default(), Some(&fixture("lambda-types.yaml")))
            .expect("Lambda types load");
        assert!(registry
            .validate("test.lambda", &serde_json::json!({"behave": "ok"}))
            .is_ok());
        assert!(registry
            .validate("test.lambda", &serde_json::json!({}))
            .is_err());

        let refused = with_declared(JobRegistry::default(), Some(&fixture("job-types.yaml")))
            .expect_err("a command runs only under accepted serve");
        let message = refused.to_string();
        assert!(
            message.contains(
                "job-types.yaml: job type \"test.behave\": runs only under accepted serve"
            ),
            "{message}"
        );
        assert_eq!(
            with_declared(JobRegistry::default(), None)
                .map(|r| r.types().count())
                .ok(),
            Some(0)
        );
    }
}
