//! The functions' own work per request and per record, with no network I/O: validation and
//! fingerprint, the DynamoDB item codec, problem mapping, the queue message codec, and the
//! submit handler and worker batch on the in-memory embedded backend (SQLite in memory, so
//! those two include a little SQL, and no round trip).
//!
//! `cargo bench -p accepted-bench --bench hot_paths`; `-- --quick` for a short run.

#[path = "hot_paths/null_ports.rs"]
mod null_ports;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accepted_aws::item::{decode_job, encode_job};
use accepted_core::batch::sqs_event;
use accepted_core::fingerprint::fingerprint;
use accepted_core::http::problem_response;
use accepted_core::message::JobMessage;
use accepted_core::metrics::{MetricSink, Metrics};
use accepted_core::request::parse_submit;
use accepted_core::webhook::DestinationPolicy;
use accepted_core::{
    ApiError, Config, CorrelationId, FieldError, Job, JobQueue, JobStore, NewJob, Owner,
    ReceivedMessage, Timestamp,
};
use accepted_embedded::{Database, EmbeddedJobStore, EmbeddedQueue, QueueSettings};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lambda_http::{Body, Request};
use serde_json::json;

const CSV_BODY: &str =
    r#"{"type":"csv.summary","input":{"csv":"city,temp\nOslo,3\nLima,19\nOslo,5\n"}}"#;

fn config() -> Config {
    let env = HashMap::from([
        ("JOBS_TABLE", "bench"),
        ("JOBS_QUEUE_URL", "embedded://jobs"),
        ("AUTH_MODE", "none"),
        // Off: every iteration adds an unfinished job for the same owner, so the cap's count
        // would grow with the iteration count (and refuse past 1,000). Its query is an
        // adapter's I/O, which this benchmark leaves out.
        ("MAX_UNFINISHED_JOBS_PER_OWNER", "0"),
    ]);
    Config::from_lookup(|k| env.get(k).map(|v| (*v).to_owned())).expect("bench config")
}

/// A 64 KiB CSV input: the size of a large but ordinary request.
fn large_body() -> String {
    let rows: String = (0..4000)
        .map(|i| format!("city{},{}\n", i % 50, i % 40))
        .collect();
    json!({"type": "csv.summary", "input": {"csv": format!("city,temp\n{rows}")}}).to_string()
}

fn validation(c: &mut Criterion) {
    let registry = accepted_builtin_jobs::registry();
    let policy = DestinationPolicy::default();
    let mut group = c.benchmark_group("submit validation + fingerprint");
    for (name, body) in [
        ("csv 60 B", CSV_BODY.to_owned()),
        ("csv 64 KiB", large_body()),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = parse_submit(
                    Some("application/json"),
                    black_box(body.as_bytes()),
                    256 * 1024,
                    &registry,
                    policy,
                )
                .expect("valid");
                fingerprint(
                    &request.job_type,
                    &request.input,
                    request.callback_url.as_deref(),
                )
            })
        });
    }
    group.finish();
}

fn sample_job() -> Job {
    Job::create(
        NewJob {
            owner: Owner::parse("bench-owner").expect("owner"),
            job_type: "csv.summary".into(),
            input: json!({"csv": "city,temp\nOslo,3\nLima,19\nOslo,5\n"}),
            callback_url: Some("https://example.com/hook".into()),
            correlation_id: CorrelationId::generate(),
            idempotency_key: None,
            fingerprint: "f".repeat(64),
        },
        Timestamp::now(),
        Duration::from_secs(86_400),
    )
}

fn item_codec(c: &mut Criterion) {
    let job = sample_job();
    let item = encode_job(&job);
    c.bench_function("dynamodb item: encode job", |b| {
        b.iter(|| encode_job(black_box(&job)))
    });
    c.bench_function("dynamodb item: decode job", |b| {
        b.iter(|| decode_job(black_box(&item)).expect("decodes"))
    });
}

fn problem_mapping(c: &mut Criterion) {
    let err = ApiError::Validation(vec![FieldError::new("/input/csv", "must be a string")]);
    let cid = CorrelationId::generate();
    c.bench_function("problem details: 422 response", |b| {
        b.iter(|| problem_response(black_box(&err), "/jobs", &cid))
    });
}

fn message_codec(c: &mut Criterion) {
    let job = sample_job();
    let message = JobMessage::new(job.id.clone(), job.correlation_id.clone());
    let body = message.encode();
    c.bench_function("queue message: encode", |b| {
        b.iter(|| black_box(&message).encode())
    });
    c.bench_function("queue message: decode", |b| {
        b.iter(|| JobMessage::decode(black_box(&body)).expect("decodes"))
    });
}

/// Metric lines serialized as for stdout, then dropped: the work without the terminal.
struct Serialized;

impl MetricSink for Serialized {
    fn write(&self, line: &serde_json::Value) {
        black_box(line.to_string());
    }
}

fn metrics() -> Metrics {
    Metrics::new("accepted", Arc::new(Serialized))
}

fn submit_request(n: usize) -> Request {
    let mut req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/jobs")
        .header("content-type", "application/json")
        .header("idempotency-key", format!("bench-{n}"))
        .body(Body::from(CSV_BODY))
        .expect("request");
    req.extensions_mut()
        .insert(lambda_http::request::RequestContext::ApiGatewayV2(
            Default::default(),
        ));
    req
}

fn submit_handler(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = Database::in_memory().expect("database");
    let queue = EmbeddedQueue::new(db.clone(), "jobs", QueueSettings::default());
    let handler = |store: Arc<dyn JobStore>, queue: Arc<dyn JobQueue>| {
        let mut submit = accepted_submit::Submit::new(
            store,
            queue,
            accepted_builtin_jobs::registry(),
            &config(),
        );
        submit.metrics = metrics();
        submit
    };
    let handlers = [
        // The handler's own work: adapters that answer at once and store nothing.
        (
            "submit handler: own work (adapters answer at once)",
            handler(
                Arc::new(null_ports::NullStore),
                Arc::new(null_ports::NullQueue),
            ),
        ),
        (
            "submit handler: new keyed job (in-memory store)",
            handler(Arc::new(EmbeddedJobStore::new(db)), Arc::new(queue)),
        ),
    ];
    let mut n = 0;
    for (name, submit) in handlers {
        c.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                n += 1;
                let req = submit_request(n);
                let submit = &submit;
                async move {
                    let res = accepted_submit::handle(submit, req).await;
                    assert_eq!(res.status(), 202);
                }
            })
        });
    }
}

/// The worker on a batch of ten jobs of `duration_ms`: decoding, leasing, running them
/// concurrently, recording. Each iteration gets ten fresh pending jobs, created outside the
/// timing. With 100 ms jobs the batch takes about 100 ms, not one second: the jobs overlap.
fn worker_batch(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = Database::in_memory().expect("database");
    let store = Arc::new(EmbeddedJobStore::new(db));
    let mut worker =
        accepted_worker::Worker::new(store.clone(), accepted_builtin_jobs::registry(), &config());
    worker.metrics = metrics();
    let worker = Arc::new(worker);
    let mut group = c.benchmark_group("worker batch");
    group.throughput(Throughput::Elements(10));
    for duration_ms in [1u64, 100] {
        if duration_ms >= 100 {
            group.sample_size(10);
        }
        let name = format!("ten demo.sleep {duration_ms} ms jobs (in-memory store)");
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (store, worker) = (store.clone(), &worker);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let event = pending_batch(store.as_ref(), duration_ms).await;
                        let started = Instant::now();
                        let response = accepted_worker::handle_batch(worker, event, None).await;
                        total += started.elapsed();
                        assert!(response.batch_item_failures.is_empty());
                    }
                    total
                }
            })
        });
    }
    group.finish();
}

/// Ten pending `demo.sleep` jobs in `store`, and the SQS event that names them.
async fn pending_batch(
    store: &EmbeddedJobStore,
    duration_ms: u64,
) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut messages = Vec::with_capacity(10);
    for i in 0..10 {
        let mut job = sample_job();
        job.job_type = "demo.sleep".into();
        job.input = json!({ "duration_ms": duration_ms });
        store.create(&job).await.expect("created");
        let body = JobMessage::new(job.id.clone(), job.correlation_id.clone());
        messages.push(ReceivedMessage {
            message_id: format!("m-{i}"),
            receipt_handle: format!("r-{i}"),
            body: body.encode(),
            receive_count: 1,
            sent_at: Timestamp::now(),
            attributes: Default::default(),
            trace_header: None,
        });
    }
    sqs_event(&messages, "arn:aws:sqs:us-east-1:123456789012:jobs")
}

criterion_group!(
    benches,
    validation,
    item_codec,
    problem_mapping,
    message_codec,
    submit_handler,
    worker_batch
);
criterion_main!(benches);
