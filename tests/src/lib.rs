//! Harness of the end-to-end tests: a private stack on the emulator per test, built from
//! `template.yaml`, and the real handlers wired to the real AWS adapters.
//!
//! The tests need an AWS emulator on loopback (`AWS_ENDPOINT_URL`, and per service
//! `AWS_ENDPOINT_URL_<SERVICE>`); `infra/test.sh` starts moto server and sets it. They refuse
//! to run against anything but loopback, so a stray AWS profile can never make them touch a
//! real account.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use accepted_aws::{AwsClients, CallCounter, DynamoJobStore, SqsJobQueue};
use accepted_core::JobRegistry;
use accepted_core::{Config, Job, JobId, JobStore, QueueConsumer, ReceivedMessage};
use accepted_infra::{bootstrap, default_template_path, Stack, Template};
use accepted_status::Status;
use accepted_submit::Submit;
use accepted_worker::sqs_event;
use accepted_worker::Worker;
use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_sdk_sqs::types::QueueAttributeName;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequestContext,
};
use lambda_http::http::{self, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

pub mod conflicts;
pub mod contract;
pub mod faults;
pub mod lambda_emulator;
pub mod old_items;
pub mod ports;
pub mod receiver;
pub mod streams;
pub mod tokens;
pub mod write_units;

pub struct TestStack {
    pub stack: Stack,
    pub config: Config,
    pub sdk: aws_config::SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub store: Arc<DynamoJobStore>,
    pub submit: Submit,
    pub status: Status,
    pub worker: Arc<Worker>,
    pub queue_url: String,
    pub dlq_url: String,
    /// The EMF lines submit and the worker wrote.
    pub metrics: Arc<accepted_core::metrics::Recorded>,
    /// The AWS requests submit, status and the worker sent.
    pub calls: CallCounter,
    /// The jobs queue and its dead-letter queue, as consumers.
    pub consumer: SqsJobQueue,
    pub dead_letters: SqsJobQueue,
}

/// SDK configuration for the emulators the environment names: `AWS_ENDPOINT_URL`, and any
/// per-service `AWS_ENDPOINT_URL_<SERVICE>` for a service elsewhere (SQS on LocalStack,
/// DynamoDB on DynamoDB Local). Every one must be on loopback; fixed fake credentials and
/// region, so the credential chain never reaches for a real profile or the instance metadata
/// service.
/// The functions' HTTP client is the one under test ([`accepted_aws::http_client`]).
pub async fn emulator_sdk_config() -> aws_config::SdkConfig {
    match accepted_infra::emulator_sdk_config_from_env().await {
        Ok(sdk) => sdk
            .into_builder()
            .http_client(accepted_aws::http_client::new_shared())
            .build(),
        Err(reason) => panic!(
            "these tests need an AWS emulator on loopback: run them with infra/test.sh, or start \
             one with infra/moto.sh start and export AWS_ENDPOINT_URL ({reason})"
        ),
    }
}

/// The emulator the environment names for `service` (`SQS`, `EVENTBRIDGE`, as in
/// `AWS_ENDPOINT_URL_<SERVICE>`), as the SDK resolves it: the per-service variable, else the
/// global one.
pub fn service_endpoint(service: &str) -> Option<String> {
    [
        format!("AWS_ENDPOINT_URL_{service}"),
        "AWS_ENDPOINT_URL".to_owned(),
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().filter(|url| !url.is_empty()))
}

/// Whether EventBridge and SQS are on one emulator, so the template's rules can deliver to the
/// stack's queues. An emulator delivers only to its own queues: with SQS elsewhere
/// (`AWS_ENDPOINT_URL_SQS` alone) the route from the bus to the webhook queue cannot exist,
/// and the tests that need it say so and stop.
pub fn rules_reach_the_queues() -> bool {
    service_endpoint("EVENTBRIDGE") == service_endpoint("SQS")
}

/// The ids of keyed jobs under the stack's job-id key (a secret on the emulator), read once.
fn keyed_ids(sdk: &aws_config::SdkConfig, config: &Config) -> Arc<accepted_aws::KeyedJobIds> {
    let source = config
        .require_job_id_key()
        .expect("the template sets JOB_ID_KEY_SECRET_ARN");
    Arc::new(accepted_aws::keyed_job_ids(sdk, source).expect("a usable job-id key"))
}

impl TestStack {
    /// The ids of keyed jobs, as the stack's functions derive them.
    pub fn keyed_ids(&self) -> Arc<accepted_aws::KeyedJobIds> {
        keyed_ids(&self.sdk, &self.config)
    }

    /// A fresh stack with the built-in job types.
    pub async fn new() -> Self {
        Self::with_registry(accepted_builtin_jobs::registry(), &[]).await
    }

    /// A fresh stack; `overrides` replace environment variables the template sets. Retries
    /// back off by at most a few milliseconds unless overridden, so tests need not wait.
    pub async fn with_registry(registry: JobRegistry, overrides: &[(&str, &str)]) -> Self {
        let sdk = emulator_sdk_config().await;
        let template = Template::load(&default_template_path()).expect("template.yaml loads");
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let stack = bootstrap(&template, &prefix, &sdk)
            .await
            .expect("bootstrap on the emulator");
        let mut env: HashMap<String, String> = stack.env.clone().into_iter().collect();
        env.insert("RETRY_BASE_MS".into(), "1".into());
        env.insert("RETRY_CAP_MS".into(), "5".into());
        for (k, v) in overrides {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("template env is valid");
        // The functions' clients count their requests; the harness's own (the consumer that
        // stands in for Lambda's event source mapping, `sqs`, `dynamo`) do not.
        let calls = CallCounter::new();
        let counted = AwsClients::new(&sdk).counted(&calls);
        let store = Arc::new(
            DynamoJobStore::new(counted.dynamodb(), &config.table_name)
                .with_keyed_ids(keyed_ids(&sdk, &config)),
        );
        let queue_url = config.require_queue_url().expect("queue url").to_owned();
        let consumer = SqsJobQueue::from_sdk_config(&sdk, &queue_url);
        let queue = Arc::new(SqsJobQueue::new(counted.sqs(), &queue_url));
        let dlq_url = stack
            .output("JobsDeadLetterQueueUrl")
            .expect("dlq output")
            .to_owned();
        let results: Option<Arc<dyn accepted_core::ResultStore>> =
            config.results_bucket.as_ref().map(|bucket| {
                Arc::new(accepted_aws::S3ResultStore::new(counted.s3(), bucket))
                    as Arc<dyn accepted_core::ResultStore>
            });
        let metrics = Arc::new(accepted_core::metrics::Recorded::default());
        let recorder = accepted_core::metrics::Metrics::new("accepted", metrics.clone());
        let mut status = Status::new(store.clone(), &config);
        let mut submit = Submit::new(store.clone(), queue.clone(), registry.clone(), &config);
        submit.metrics = recorder.clone();
        let mut worker = Worker::new(store.clone(), registry.clone(), &config)
            .with_queue(queue)
            .with_dead_letter_queue(Arc::new(SqsJobQueue::new(counted.sqs(), &dlq_url)));
        worker.metrics = recorder;
        if let Some(results) = results {
            status = status.with_results(results.clone());
            worker = worker.with_results(results);
        }
        if let Some(source) = &config.webhook_secret {
            let secrets = accepted_aws::secret_provider(&sdk, source).expect("the secret");
            status = status.with_webhook_secrets(secrets);
        }
        Self {
            consumer: consumer.clone(),
            dead_letters: SqsJobQueue::from_sdk_config(&sdk, &dlq_url),
            submit,
            metrics,
            calls,
            status,
            worker: Arc::new(worker),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            dynamo: aws_sdk_dynamodb::Client::new(&sdk),
            store,
            stack,
            config,
            sdk,
            queue_url,
            dlq_url,
        }
    }

    pub async fn post_job(
        &self,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (Response<Body>, Value) {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.post_raw(body.to_string().as_bytes(), &all, None).await
    }

    pub async fn post_raw(
        &self,
        body: &[u8],
        headers: &[(&str, &str)],
        owner: Option<&str>,
    ) -> (Response<Body>, Value) {
        let req = request(Method::POST, "/jobs", body, headers, owner);
        let res = accepted_submit::handle(&self.submit, req).await;
        checked("POST", "/jobs", res)
    }

    /// A request to `/job-types`, which the submit function serves.
    pub async fn job_types(
        &self,
        method: Method,
        headers: &[(&str, &str)],
        owner: Option<&str>,
    ) -> (Response<Body>, Value) {
        let name = method.to_string();
        let req = request(method, "/job-types", b"", headers, owner);
        checked(
            &name,
            "/job-types",
            accepted_submit::handle(&self.submit, req).await,
        )
    }

    pub async fn get_job(&self, id: &str, owner: Option<&str>) -> (Response<Body>, Value) {
        let path = format!("/jobs/{id}");
        let req = request(Method::GET, &path, b"", &[], owner)
            .with_path_parameters(HashMap::from([("id".to_owned(), id.to_owned())]));
        checked(
            "GET",
            &path,
            accepted_status::handle(&self.status, req).await,
        )
    }

    /// Any request to the status function's routes (`/jobs`, `/jobs/{id}`, `/jobs/{id}/result`,
    /// query string included), as API Gateway would deliver it.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        owner: Option<&str>,
    ) -> (Response<Body>, Value) {
        let name = method.to_string();
        let req = request(method, path_and_query, b"", headers, owner);
        checked(
            &name,
            path_and_query,
            accepted_status::handle(&self.status, req).await,
        )
    }

    pub async fn stored(&self, id: &str) -> Job {
        let id = JobId::parse(id).expect("job id");
        self.store
            .get(&id)
            .await
            .expect("store")
            .expect("job exists")
    }

    /// Messages currently visible on `queue`, received (and thereby hidden), up to `max`.
    pub async fn receive(&self, queue: &SqsJobQueue, max: usize) -> Vec<ReceivedMessage> {
        let mut all = Vec::new();
        while all.len() < max {
            let want = (max - all.len()).min(10) as u32;
            let got = queue.receive(want, Duration::ZERO).await.expect("receive");
            if got.is_empty() {
                break;
            }
            // What our code sent carries the correlation attribute; raw test input does not.
            for message in got
                .iter()
                .filter(|m| m.attributes.contains_key("correlation_id"))
            {
                if let Ok(body) = serde_json::from_str::<Value>(&message.body) {
                    contract::check_message("RunReference", &body);
                }
            }
            all.extend(got);
        }
        all
    }

    pub async fn queue_depth(&self, queue_url: &str) -> (u64, u64) {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        let get = |n: QueueAttributeName| attrs.get(&n).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// One poll of the event source mapping: receive up to 10 messages, invoke the worker
    /// with them as an SQS event, and delete the ones it did not report as failed; the worker
    /// itself delays the failed ones (backoff). Waits briefly for a message whose backoff is
    /// running out. Returns the worker's response, or `None` when the queue stayed empty.
    pub async fn poll_worker_once(&self) -> Option<SqsBatchResponse> {
        self.poll_with(&self.worker).await
    }

    /// [`TestStack::poll_worker_once`] with another worker configuration.
    pub async fn poll_with(&self, worker: &Arc<Worker>) -> Option<SqsBatchResponse> {
        let mut messages = self.receive(&self.consumer, 10).await;
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            messages = self.receive(&self.consumer, 10).await;
        }
        if messages.is_empty() {
            return None;
        }
        let event = sqs_event(&messages, &self.queue_url);
        let response = accepted_worker::handle_batch(worker, event, None).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &messages {
            if !failed.contains(&m.message_id.as_str()) {
                self.consumer
                    .delete(&m.receipt_handle)
                    .await
                    .expect("delete");
            }
        }
        Some(response)
    }

    /// Polls until the queue is empty, at most `max_polls` times; returns the responses.
    pub async fn drain(&self, max_polls: usize) -> Vec<SqsBatchResponse> {
        let mut responses = Vec::new();
        for _ in 0..max_polls {
            match self.poll_worker_once().await {
                Some(r) => responses.push(r),
                None => break,
            }
        }
        responses
    }

    /// Items in the table (jobs and idempotency records).
    pub async fn item_count(&self) -> usize {
        let out = self
            .dynamo
            .scan()
            .table_name(&self.config.table_name)
            .send()
            .await
            .expect("scan");
        out.items.unwrap_or_default().len()
    }

    pub async fn send_raw(&self, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send")
            .message_id
            .unwrap_or_default()
    }
}

/// Each test's resources are deleted when it ends, so the emulator's memory stays flat over a
/// suite of hundreds of stacks.
impl Drop for TestStack {
    fn drop(&mut self) {
        // Drop cannot await: delete from a thread with a runtime of its own, and with an HTTP
        // client of its own. The test's pooled connections belong to the test's runtime,
        // which is blocked here: a request on one of them would wait until it timed out.
        let sdk = self
            .sdk
            .clone()
            .into_builder()
            .http_client(accepted_aws::http_client::new_shared())
            .build();
        let (dynamo, sqs) = (
            aws_sdk_dynamodb::Client::new(&sdk),
            aws_sdk_sqs::Client::new(&sdk),
        );
        let tables: Vec<String> = self.stack.tables.values().cloned().collect();
        let queues: Vec<String> = self.stack.queues.values().cloned().collect();
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                for table in tables {
                    let _ = dynamo.delete_table().table_name(table).send().await;
                }
                for queue in queues {
                    let _ = sqs.delete_queue().queue_url(queue).send().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// An API Gateway HTTP API (payload v2) request, with a JWT authorizer when `owner` is set.
pub fn request(
    method: Method,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    owner: Option<&str>,
) -> Request {
    let mut builder = http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder
        .body(Body::from(body.to_vec()))
        .expect("valid request");
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.request_id = Some(uuid::Uuid::new_v4().to_string());
    if let Some(owner) = owner {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims.insert("sub".into(), owner.into());
        let mut auth = ApiGatewayRequestAuthorizer::default();
        auth.jwt = Some(jwt);
        ctx.authorizer = Some(auth);
    }
    req.with_request_context(RequestContext::ApiGatewayV2(ctx))
}

/// [`split`], after checking the answer against `api/openapi.yaml`.
pub fn checked(method: &str, path: &str, res: Response<Body>) -> (Response<Body>, Value) {
    let (res, body) = split(res);
    let content_type = header(&res, "content-type").map(str::to_owned);
    contract::check_response(
        method,
        path,
        res.status().as_u16(),
        content_type.as_deref(),
        &body,
    );
    (res, body)
}

/// The pointers of a `422` problem's field errors, sorted.
pub fn pointers(problem: &Value) -> Vec<&str> {
    let mut pointers: Vec<&str> = problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["pointer"].as_str())
                .collect()
        })
        .unwrap_or_default();
    pointers.sort_unstable();
    pointers
}

pub fn split(res: Response<Body>) -> (Response<Body>, Value) {
    let body: Value = match res.body() {
        Body::Empty => Value::Null,
        b => serde_json::from_slice(b.as_ref()).unwrap_or(Value::Null),
    };
    (res, body)
}

pub fn header<'a>(res: &'a Response<Body>, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Waits for background effects that the emulator applies asynchronously.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}
