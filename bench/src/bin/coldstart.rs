//! Cold start and per-invoke cost of every Lambda bootstrap, as deployed, beside the floor.
//!
//! Each bootstrap (`cargo lambda build --release` output) runs under this crate's Runtime API
//! emulator, against a fresh stack on the AWS emulator at `AWS_ENDPOINT_URL` (moto). For each
//! function and each of `--starts` new processes: init (spawn to the first poll for an event,
//! what Lambda reports as Init Duration), the first invocation, then `--invokes` warm ones
//! (p50/p99), the CPU time per warm invocation, and the peak RSS. `hello` is the smallest
//! `lambda_runtime` function built the same way: the floor.
//!
//! Figures only; nothing is asserted about time. Usage (infra/bench.sh wraps it):
//! `coldstart --bootstraps target/lambda [--starts 5] [--invokes 200] [--only submit,worker]`

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accepted_bench::cost::{per_million_jobs, Architecture, Measured, Prices, Workload};
use accepted_bench::process::{cpu_time, peak_rss};
use accepted_bench::runtime_api::{Outcome, RuntimeApi};
use accepted_bench::stats::{ms, Samples};
use clap::Parser;
use serde_json::Value;
use tokio::io::AsyncReadExt;

#[derive(Parser)]
struct Args {
    /// Where the bootstraps are: `<dir>/<function>/bootstrap`.
    #[arg(long, default_value = "target/lambda")]
    bootstraps: PathBuf,
    /// The event fixtures.
    #[arg(long, default_value = "events")]
    events: PathBuf,
    /// New processes (cold starts) per function.
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Warm invocations per process.
    #[arg(long, default_value_t = 200)]
    invokes: usize,
    /// Only these functions (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The functions' `RUST_LOG` (the template's `LogLevel`): what they log, and so the bill.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Keep each function's stdout in `<dir>/<function>.log`, to read what it logs.
    #[arg(long)]
    logs: Option<PathBuf>,
    /// A variable for every function, over the stack's (`--env EVENT_KINDS=all`).
    #[arg(long = "env", value_parser = key_value)]
    overrides: Vec<(String, String)>,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text}: expected KEY=VALUE"))
}

const FUNCTIONS: [&str; 8] = [
    "hello",
    "submit",
    "status",
    "worker",
    "dlq",
    "events",
    "reconciler",
    "webhooks",
];
/// The job id the fixtures name; replaced by a real one.
const PLACEHOLDER: &str = "6f1c2a3e-8d4b-4f5a-9b7c-0d1e2f3a4b5c";
const LIMIT: Duration = Duration::from_secs(30);

/// One function's figures over all its processes.
#[derive(Default)]
struct Figures {
    size: u64,
    deflated: u64,
    init: Vec<Duration>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    cpu_per_invoke: Vec<Duration>,
    peak_rss: u64,
    /// The function's own log bytes (stdout) per warm invocation.
    log_bytes: Vec<f64>,
    /// The worker's log bytes per job in the batch of ten.
    batch_log_bytes_per_job: Vec<f64>,
}

/// What the functions share across the run: fixtures, and the jobs submit created.
struct Run {
    args: Args,
    env: BTreeMap<String, String>,
    fixtures: BTreeMap<&'static str, Value>,
    jobs: Vec<String>,
    sleepers: Vec<String>,
    batches: Vec<Duration>,
    /// The worker's CPU per job in those batches (the issue measures the worker so).
    batch_cpu_per_job: Vec<Duration>,
    serial: usize,
    /// Per function, how many of `jobs` it has used.
    cursors: BTreeMap<String, usize>,
}

impl Run {
    /// The next job submit created, for `function`: each in turn, then round again.
    fn next_job(&mut self, function: &str) -> Result<String, String> {
        let cursor = self.cursors.entry(function.to_owned()).or_default();
        let id = self.jobs.get(*cursor % self.jobs.len().max(1)).cloned();
        *cursor += 1;
        id.ok_or_else(|| format!("run submit before {function}"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL must point at moto (infra/moto.sh start)")?;
    let sdk = accepted_infra::emulator_sdk_config(&endpoint).await;
    let template = accepted_infra::Template::load(&accepted_infra::default_template_path())?;
    let prefix = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let stack = accepted_infra::bootstrap(&template, &prefix, &sdk).await?;
    let mut env = stack.env.clone();
    for key in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        env.insert(
            key.into(),
            std::env::var(key).unwrap_or_else(|_| "test".into()),
        );
    }
    env.insert("AWS_ENDPOINT_URL".into(), endpoint);
    env.insert("AWS_REGION".into(), "us-east-1".into());
    env.insert("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into());
    env.insert("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into());
    env.insert("RUST_LOG".into(), args.log_level.clone());
    env.extend(args.overrides.iter().cloned());
    // moto answers the per-owner cap's Query by reading every unfinished job of the owner in
    // Python, and this run leaves a thousand pending: submit would slow with each one. On
    // DynamoDB the count is one small Query (its cost is in the cost model).
    env.insert("MAX_UNFINISHED_JOBS_PER_OWNER".into(), "0".into());
    // Lambda mounts the JobTypesLayer (job-types/) at /opt; here the directory stands in.
    if let Some(file) = env.get_mut("JOB_TYPES_FILE") {
        if let Some(name) = file.strip_prefix("/opt/") {
            let layer = accepted_infra::default_template_path().with_file_name("job-types");
            *file = layer.join(name).display().to_string();
        }
    }

    let mut fixtures = BTreeMap::new();
    for (name, file) in [
        ("submit", "submit.json"),
        ("status", "status.json"),
        ("worker", "worker-batch.json"),
        ("dlq", "dead-letter-batch.json"),
        ("events", "job-stream.json"),
        ("reconciler", "schedule.json"),
        ("webhooks", "webhook-batch.json"),
    ] {
        let text = std::fs::read_to_string(args.events.join(file))?;
        fixtures.insert(name, serde_json::from_str(&text)?);
    }
    let selected: Vec<&'static str> = FUNCTIONS
        .into_iter()
        .filter(|f| args.only.is_empty() || args.only.iter().any(|o| o == f))
        .collect();
    let mut run = Run {
        args,
        env,
        fixtures,
        jobs: Vec::new(),
        sleepers: Vec::new(),
        batches: Vec::new(),
        batch_cpu_per_job: Vec::new(),
        serial: 0,
        cursors: BTreeMap::new(),
    };
    let mut all = BTreeMap::new();
    for function in selected {
        eprintln!("[coldstart] {function}");
        all.insert(function, measure(&mut run, function).await?);
    }
    report(&run, &all);
    Ok(())
}

async fn measure(run: &mut Run, function: &'static str) -> Result<Figures, String> {
    let path = run.args.bootstraps.join(function).join("bootstrap");
    let binary = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut figures = Figures {
        size: binary.len() as u64,
        deflated: deflated_size(&binary),
        ..Figures::default()
    };
    for _ in 0..run.args.starts {
        let api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
        let spawned = Instant::now();
        let mut child = tokio::process::Command::new(&path)
            .envs(&run.env)
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", deployed_name(function))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let pid = child.id().ok_or("the bootstrap exited at once")?;
        // Count what the function logs, as CloudWatch Logs would ingest it.
        let logged = Arc::new(AtomicU64::new(0));
        let mut kept = match &run.args.logs {
            Some(dir) => Some(log_file(dir, function).map_err(|e| e.to_string())?),
            None => None,
        };
        if let Some(mut stdout) = child.stdout.take() {
            let logged = logged.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = stdout.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    logged.fetch_add(n as u64, Ordering::Relaxed);
                    if let Some(file) = kept.as_mut() {
                        let _ = file.write_all(&buf[..n]);
                    }
                }
            });
        }
        let ready = api.initialized(LIMIT).await?;
        figures.init.push(ready.duration_since(spawned));

        let (_, first) = invoke(run, &api, function).await?;
        figures.first.push(first);
        let cpu_before = cpu_time(pid).map_err(|e| e.to_string())?;
        let logged_before = logged.load(Ordering::Relaxed);
        for _ in 0..run.args.invokes {
            let (_, took) = invoke(run, &api, function).await?;
            figures.warm.push(took);
        }
        let cpu = cpu_time(pid)
            .map_err(|e| e.to_string())?
            .saturating_sub(cpu_before);
        if let Ok(n) = u32::try_from(run.args.invokes.max(1)) {
            figures.cpu_per_invoke.push(cpu / n);
        }
        // Lines are flushed as they are written; give the last ones a moment to arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let bytes = logged.load(Ordering::Relaxed) - logged_before;
        figures
            .log_bytes
            .push(bytes as f64 / run.args.invokes.max(1) as f64);
        if function == "submit" {
            prepare_sleepers(run, &api).await?;
        }
        if function == "worker" {
            let before = logged.load(Ordering::Relaxed);
            let cpu_before = cpu_time(pid).map_err(|e| e.to_string())?;
            if let Some(jobs) = concurrent_batch(run, &api).await? {
                let cpu = cpu_time(pid)
                    .map_err(|e| e.to_string())?
                    .saturating_sub(cpu_before);
                if let Ok(n) = u32::try_from(jobs) {
                    run.batch_cpu_per_job.push(cpu / n);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                let bytes = logged.load(Ordering::Relaxed) - before;
                figures
                    .batch_log_bytes_per_job
                    .push(bytes as f64 / jobs as f64);
            }
        }
        figures.peak_rss = figures
            .peak_rss
            .max(peak_rss(pid).map_err(|e| e.to_string())?);
        let _ = child.kill().await;
    }
    Ok(figures)
}

/// One invocation with the function's next event; an error document fails the run.
async fn invoke(
    run: &mut Run,
    api: &RuntimeApi,
    function: &str,
) -> Result<(Value, Duration), String> {
    let event = next_event(run, function)?;
    let (outcome, took) = api.invoke(event.to_string(), LIMIT).await?;
    let body = match outcome {
        Outcome::Response(body) => body,
        Outcome::Error(err) => {
            return Err(format!(
                "{function} failed: {}",
                String::from_utf8_lossy(&err)
            ))
        }
    };
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if function == "submit" {
        let id = accepted_job_id(&answer).ok_or(format!("submit answered {answer}"))?;
        run.jobs.push(id);
    }
    Ok((answer, took))
}

/// The event of the function's next invocation: fixtures made unique (a new idempotency key)
/// or pointed at a job submit created, so no invocation is a replay of another.
fn next_event(run: &mut Run, function: &str) -> Result<Value, String> {
    run.serial += 1;
    let mut event = run
        .fixtures
        .get(function)
        .cloned()
        .unwrap_or_else(|| serde_json::json!({ "n": run.serial }));
    match function {
        "submit" => {
            event["headers"]["idempotency-key"] = format!("bench-{}", run.serial).into();
        }
        "worker" => {
            // One record: the next job submit created, as its queue message.
            let id = run.next_job(function)?;
            if let Some(records) = event["Records"].as_array_mut() {
                records.truncate(1);
            }
            event = with_job(&event, &id);
        }
        "status" | "dlq" => {
            let id = run.next_job(function)?;
            event = with_job(&event, &id);
        }
        _ => {}
    }
    Ok(event)
}

fn with_job(event: &Value, id: &str) -> Value {
    let text = event.to_string().replace(PLACEHOLDER, id);
    serde_json::from_str(&text).unwrap_or_else(|_| event.clone())
}

fn accepted_job_id(answer: &Value) -> Option<String> {
    let body: Value = serde_json::from_str(answer["body"].as_str()?).ok()?;
    Some(body["id"].as_str()?.to_owned())
}

/// Ten `demo.sleep` jobs of 100 ms, submitted through the running submit bootstrap.
async fn prepare_sleepers(run: &mut Run, api: &RuntimeApi) -> Result<(), String> {
    for _ in 0..10 {
        run.serial += 1;
        let mut event = run.fixtures["submit"].clone();
        event["headers"]["idempotency-key"] = format!("bench-sleep-{}", run.serial).into();
        event["body"] = r#"{"type":"demo.sleep","input":{"duration_ms":100}}"#.into();
        let (outcome, _) = api.invoke(event.to_string(), LIMIT).await?;
        let Outcome::Response(body) = outcome else {
            return Err("submit refused a demo.sleep job".into());
        };
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        run.sleepers
            .push(accepted_job_id(&answer).ok_or(format!("submit answered {answer}"))?);
    }
    Ok(())
}

/// One worker invocation with a batch of the ten sleepers: the jobs run concurrently, so the
/// batch takes about one job's 100 ms, not ten.
/// Runs the sleepers submit created as one batch; the number of jobs it ran.
async fn concurrent_batch(run: &mut Run, api: &RuntimeApi) -> Result<Option<usize>, String> {
    let ids: Vec<String> = run.sleepers.drain(..).collect();
    if ids.len() < 10 {
        return Ok(None);
    }
    let template = run.fixtures["worker"]["Records"][0].clone();
    let records: Vec<Value> = ids
        .iter()
        .map(|id| {
            let mut record = with_job(&template, id);
            record["messageId"] = uuid::Uuid::new_v4().to_string().into();
            record
        })
        .collect();
    let event = serde_json::json!({ "Records": records });
    let (outcome, took) = api.invoke(event.to_string(), LIMIT).await?;
    match outcome {
        Outcome::Response(body) if body.as_ref() == br#"{"batchItemFailures":[]}"# => {
            run.batches.push(took);
            Ok(Some(ids.len()))
        }
        Outcome::Response(body) | Outcome::Error(body) => Err(format!(
            "the batch of sleepers: {}",
            String::from_utf8_lossy(&body)
        )),
    }
}

/// The size of the binary deflated, as the deployment zip stores it (within its headers).
/// The name CloudFormation gives the function (`<stack>-<LogicalId>-<suffix>`): the log lines
/// carry it, so the bill's log bytes are those of a deployment, not of a short test name.
fn deployed_name(function: &str) -> String {
    let logical = match function {
        "submit" => "SubmitFunction",
        "status" => "StatusFunction",
        "worker" => "WorkerFunction",
        "dlq" => "DeadLetterFunction",
        "events" => "EventsFunction",
        "reconciler" => "ReconcilerFunction",
        "webhooks" => "WebhooksFunction",
        _ => "HelloFunction",
    };
    format!("accepted-{logical}-Q3ZK7M1WX0AB")
}

/// Where `--logs` keeps a function's stdout: appended to, over all its processes.
fn log_file(dir: &std::path::Path, function: &str) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{function}.log")))
}

fn deflated_size(binary: &[u8]) -> u64 {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    match encoder.write_all(binary).and_then(|()| encoder.finish()) {
        Ok(out) => out.len() as u64,
        Err(_) => 0,
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The price of a million jobs at the warm p50 durations and log volumes measured here.
fn cost(all: &BTreeMap<&'static str, Figures>) {
    let priced = [
        "submit",
        "status",
        "worker",
        "events",
        "reconciler",
        "webhooks",
    ];
    let measured: Vec<Measured> = priced
        .into_iter()
        .filter_map(|name| {
            let f = all.get(name)?;
            let p50 = Samples::new(f.warm.clone()).percentile(50.0);
            // The worker's lines per job come from the batch of ten, when it ran: a lone
            // job's invocation also carries the batch's own lines.
            let log_bytes_per_job = match f.batch_log_bytes_per_job.is_empty() {
                true => mean(&f.log_bytes),
                false => mean(&f.batch_log_bytes_per_job),
            };
            Some(Measured {
                name,
                billed_ms: p50.as_secs_f64() * 1000.0,
                log_bytes_per_job,
            })
        })
        .collect();
    if measured.len() < priced.len() {
        return;
    }
    // What one "event published" line weighs: the events function's bytes per invocation
    // with `--env EVENT_KINDS=all` (three lines, one job), less its bytes without, over three.
    const EVENT_LINE_BYTES: f64 = 475.0;
    let work = Workload::happy_path(10.0, &measured);
    let hooked = work.clone().with_webhook(10.0, &measured, EVENT_LINE_BYTES);
    let prices = Prices::US_EAST_1;
    let bills = [
        per_million_jobs(&work, &prices, Architecture::X86_64),
        per_million_jobs(&work, &prices, Architecture::Arm64),
        per_million_jobs(&hooked, &prices, Architecture::X86_64),
        per_million_jobs(
            &work.clone().with_every_event(EVENT_LINE_BYTES),
            &prices,
            Architecture::X86_64,
        ),
        per_million_jobs(
            &work.clone().with_platform_logs(),
            &prices,
            Architecture::X86_64,
        ),
    ];
    println!("\ncost of one million jobs (us-east-1 list prices, see bench/src/cost.rs)\n");
    println!("| line | x86_64 USD | arm64 USD | with a webhook | LifecycleEvents=All | SystemLogLevel=INFO |");
    println!("|---|---|---|---|---|---|");
    for (i, (name, _)) in bills[0].lines.iter().enumerate() {
        let cells: Vec<String> = bills
            .iter()
            .map(|b| format!("{:.2}", b.lines[i].1))
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = bills.iter().map(|b| format!("{:.2}", b.total())).collect();
    println!("| total | {} |", totals.join(" | "));
}

fn report(run: &Run, all: &BTreeMap<&'static str, Figures>) {
    let floor = all
        .get("hello")
        .map(|f| Samples::new(f.init.clone()).percentile(50.0));
    println!(
        "cold start: {} starts x {} warm invocations per function\n",
        run.args.starts, run.args.invokes
    );
    println!("| function | size MiB | zipped MiB | init p50 ms | init vs floor | first invoke ms | warm p50 ms | warm p99 ms | CPU/invoke ms | peak RSS MiB | log B/invoke |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mib = |b: u64| format!("{:.1}", b as f64 / (1024.0 * 1024.0));
    for function in FUNCTIONS {
        let Some(f) = all.get(function) else { continue };
        let init = Samples::new(f.init.clone());
        let warm = Samples::new(f.warm.clone());
        let ratio = match floor {
            Some(floor) if !floor.is_zero() => {
                format!(
                    "{:.2}x",
                    init.percentile(50.0).as_secs_f64() / floor.as_secs_f64()
                )
            }
            _ => "-".into(),
        };
        println!(
            "| {function} | {} | {} | {} | {ratio} | {} | {} | {} | {} | {} | {:.0} |",
            mib(f.size),
            mib(f.deflated),
            ms(init.percentile(50.0)),
            ms(Samples::new(f.first.clone()).percentile(50.0)),
            ms(warm.percentile(50.0)),
            ms(warm.percentile(99.0)),
            ms(Samples::new(f.cpu_per_invoke.clone()).mean()),
            mib(f.peak_rss),
            mean(&f.log_bytes),
        );
    }
    if !run.batches.is_empty() {
        let batches = Samples::new(run.batches.clone());
        println!(
            "\nworker: a batch of ten 100 ms demo.sleep jobs took p50 {} ms (n={}); 1000 ms would mean one at a time",
            ms(batches.percentile(50.0)),
            batches.len()
        );
        let cpu = Samples::new(run.batch_cpu_per_job.clone());
        println!(
            "worker: CPU per job in those batches p50 {} ms",
            ms(cpu.percentile(50.0))
        );
    }
    cost(all);
}
