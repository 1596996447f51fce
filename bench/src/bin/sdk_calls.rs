//! CPU per AWS call on the caller's side: the SDK's share of what each function spends.
//!
//! Runs the calls the functions make (the job store's create, get and a heartbeat on
//! DynamoDB, a run reference on SQS) through the adapters, built as the functions build them
//! (`load_lambda_config`), against a fresh stack on the emulator at `AWS_ENDPOINT_URL`.
//!
//! moto closes the connection after every response (Werkzeug's server does not keep HTTP/1.1
//! connections alive), which AWS does not: each call would pay a TCP connect. So the calls go
//! through a keep-alive relay to the emulator, on threads of its own, and what is measured is
//! the CPU of the thread the calls run on (a current-thread runtime on the main thread, from
//! `/proc/self/task/<tid>/schedstat`), per call, over `--calls` calls of each kind after a
//! warm-up, for `--rounds` rounds (median printed). `--direct` skips the relay.
//!
//! Figures only, nothing asserted. Under `perf record` it shows where a call's CPU goes:
//! `sdk_calls --calls 5000 --only get`.

use std::sync::Arc;
use std::time::Duration;

use accepted_aws::{DynamoJobStore, SqsJobQueue};
use accepted_core::{
    CorrelationId, Job, JobMessage, JobQueue, JobStore, NewJob, Owner, Timestamp, Transition,
};
use accepted_infra::{bootstrap, default_template_path, emulator_endpoints, Template};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Calls of each kind per round.
    #[arg(long, default_value_t = 300)]
    calls: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Only these kinds: create, get, heartbeat, send (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Straight to the emulator, a new connection per call, instead of through the relay.
    #[arg(long)]
    direct: bool,
    /// With the SDK's stalled-stream protection off, to show what it costs per call.
    #[arg(long)]
    no_stall_protection: bool,
}

const KINDS: [&str; 4] = ["create", "get", "heartbeat", "send"];

fn job(retention: Duration) -> Job {
    Job::create(
        NewJob {
            owner: Owner::anonymous(),
            job_type: "demo.sleep".into(),
            input: json!({"duration_ms": 1}),
            callback_url: None,
            correlation_id: CorrelationId::generate(),
            idempotency_key: None,
            fingerprint: "f".into(),
        },
        Timestamp::now(),
        retention,
    )
}

struct Calls {
    store: Arc<DynamoJobStore>,
    queue: SqsJobQueue,
    /// A started job, for heartbeats; the job read by `get`.
    running: Job,
}

impl Calls {
    async fn one(&self, kind: &str) {
        let retention = Duration::from_secs(86_400);
        match kind {
            "create" => {
                self.store.create(&job(retention)).await.expect("create");
            }
            "get" => {
                self.store.get(&self.running.id).await.expect("get");
            }
            "heartbeat" => {
                let now = Timestamp::now();
                let beat = Transition::Heartbeat {
                    attempt: self.running.attempts,
                    now,
                    lease_until: now.plus(Duration::from_secs(600)),
                };
                self.store
                    .transition(&self.running.id, &beat)
                    .await
                    .expect("heartbeat");
            }
            "send" => {
                let message = JobMessage::new(self.running.id.clone(), CorrelationId::generate());
                self.queue
                    .send(&message, &self.running.owner)
                    .await
                    .expect("send");
            }
            other => panic!("unknown kind {other}"),
        }
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse::<u64>().ok())
        .expect("a CPU time");
    Duration::from_nanos(ns)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let endpoints =
        emulator_endpoints(std::env::vars()).expect("an emulator on loopback (AWS_ENDPOINT_URL)");
    let emulator = endpoints
        .get("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL")
        .clone();
    let mut sdk = accepted_aws::load_lambda_config().await;
    if !args.direct {
        let relay = relay::start(&emulator);
        sdk = sdk.into_builder().endpoint_url(relay).build();
    }
    if args.no_stall_protection {
        sdk = sdk
            .into_builder()
            .stalled_stream_protection(
                aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
            )
            .build();
    }
    let template = Template::load(&default_template_path()).expect("template.yaml");
    let prefix = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let stack = bootstrap(&template, &prefix, &sdk)
        .await
        .expect("bootstrap");
    let table = stack.env.get("JOBS_TABLE").expect("JOBS_TABLE");
    let queue_url = stack.env.get("JOBS_QUEUE_URL").expect("JOBS_QUEUE_URL");
    let store = Arc::new(DynamoJobStore::from_sdk_config(&sdk, table));
    let running = job(Duration::from_secs(86_400));
    store.create(&running).await.expect("create");
    let now = Timestamp::now();
    let start = Transition::Start {
        now,
        lease_until: now.plus(Duration::from_secs(600)),
    };
    let running = store.transition(&running.id, &start).await.expect("start");
    let calls = Calls {
        store,
        queue: SqsJobQueue::from_sdk_config(&sdk, queue_url),
        running,
    };
    println!(
        "| call | CPU µs per call (median of {} rounds × {} calls) |",
        args.rounds, args.calls
    );
    println!("|---|---|");
    for kind in KINDS {
        if !args.only.is_empty() && !args.only.iter().any(|k| k == kind) {
            continue;
        }
        for _ in 0..20 {
            calls.one(kind).await;
        }
        let mut per_call = Vec::new();
        for _ in 0..args.rounds {
            let before = thread_cpu();
            for _ in 0..args.calls {
                calls.one(kind).await;
            }
            let spent = thread_cpu() - before;
            per_call.push(spent.as_secs_f64() * 1e6 / args.calls as f64);
        }
        per_call.sort_by(f64::total_cmp);
        println!("| {kind} | {:.0} |", per_call[per_call.len() / 2]);
    }
}

/// A keep-alive HTTP relay to the emulator, on a runtime and threads of its own.
mod relay {
    use axum::body::{to_bytes, Body};
    use axum::extract::{Request, State};
    use axum::http::{header, Response, Uri};
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    #[derive(Clone)]
    struct Upstream {
        base: String,
        client: Client<HttpConnector, Full<Bytes>>,
    }

    /// Starts the relay; returns its base URL.
    pub fn start(upstream: &str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        listener.set_nonblocking(true).expect("non-blocking");
        let upstream = Upstream {
            base: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("relay runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(forward).with_state(upstream);
                axum::serve(listener, app).await.expect("relay");
            });
        });
        format!("http://{address}")
    }

    async fn forward(State(upstream): State<Upstream>, request: Request) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{}{path}", upstream.base)
            .parse::<Uri>()
            .expect("uri");
        let body = to_bytes(body, usize::MAX).await.expect("request body");
        let request = hyper::Request::from_parts(parts, Full::new(body));
        let response = upstream.client.request(request).await.expect("emulator");
        let (mut parts, body) = response.into_parts();
        parts.headers.remove(header::CONNECTION);
        let body = body.collect().await.expect("response body").to_bytes();
        Response::from_parts(parts, Body::from(body))
    }
}
