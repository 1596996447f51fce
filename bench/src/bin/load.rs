//! Throughput of the local server: concurrent clients submit jobs as fast as it accepts them,
//! then the run waits until every job is finished.
//!
//! Prints accepted requests per second, latency to `202` (p50/p99), the time until all jobs
//! completed, and the server's CPU time and peak memory. `--backend embedded` (SQLite) or
//! `--backend aws` (a fresh stack on the emulator at `AWS_ENDPOINT_URL`). Figures only.
//! `load --server target/release/accepted [--jobs 2000] [--clients 32] [--job-ms 0]`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accepted_bench::process::{cpu_time, peak_rss};
use accepted_bench::stats::{ms, Samples};
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Embedded,
    Aws,
}

#[derive(Parser)]
struct Args {
    /// The `accepted` binary (`cargo build --release -p accepted-server`).
    #[arg(long, default_value = "target/release/accepted")]
    server: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    backend: Backend,
    #[arg(long, default_value_t = 2000)]
    jobs: usize,
    /// Concurrent clients, each with its own keep-alive connection pool.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// How long each `demo.sleep` job runs.
    #[arg(long, default_value_t = 0)]
    job_ms: u64,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let data = std::env::temp_dir().join(format!("accepted-load-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    let mut env = BTreeMap::new();
    // The per-owner cap would refuse a burst from one owner: this measures the server.
    env.insert("MAX_UNFINISHED_JOBS_PER_OWNER".to_owned(), "0".to_owned());
    env.insert("RUST_LOG".to_owned(), "warn".to_owned());
    let backend = match args.backend {
        Backend::Embedded => "embedded",
        Backend::Aws => {
            let endpoint = std::env::var("AWS_ENDPOINT_URL")
                .map_err(|_| "--backend aws needs AWS_ENDPOINT_URL (infra/moto.sh start)")?;
            let sdk = accepted_infra::emulator_sdk_config(&endpoint).await;
            let template =
                accepted_infra::Template::load(&accepted_infra::default_template_path())?;
            let prefix = format!("load{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
            env.extend(
                accepted_infra::bootstrap(&template, &prefix, &sdk)
                    .await?
                    .env,
            );
            "aws"
        }
    };
    let port = free_port()?;
    let mut server = tokio::process::Command::new(&args.server)
        .args(["serve", "--port", &port.to_string(), "--backend", backend])
        .arg("--data-dir")
        .arg(&data)
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", args.server.display()))?;
    let pid = server.id().ok_or("the server exited at once")?;
    // Keep draining its output so it never blocks on a full pipe.
    let mut lines = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let listening = async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), listening)
        .await
        .map_err(|_| "the server did not listen within 60 s")?;

    let base = format!("http://127.0.0.1:{port}");
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let latencies = submit_all(&args, &base).await?;
    let submitted = started.elapsed();
    wait_until_finished(&base).await?;
    let all_done = started.elapsed();
    let cpu = cpu_time(pid)?.saturating_sub(cpu_before);
    let rss = peak_rss(pid)?;
    let _ = server.kill().await;
    let _ = std::fs::remove_dir_all(&data);

    let samples = Samples::new(latencies);
    println!(
        "load: {} jobs (demo.sleep {} ms), {} clients, {backend} backend",
        args.jobs, args.job_ms, args.clients
    );
    println!(
        "accepted: {:.0} requests/s; latency to 202 p50 {} ms, p99 {} ms",
        args.jobs as f64 / submitted.as_secs_f64(),
        ms(samples.percentile(50.0)),
        ms(samples.percentile(99.0)),
    );
    println!(
        "all {} jobs finished {:.2} s after the first submit ({:.0} jobs/s end to end)",
        args.jobs,
        all_done.as_secs_f64(),
        args.jobs as f64 / all_done.as_secs_f64()
    );
    println!(
        "server: {:.2} s CPU ({:.3} ms per job), peak RSS {:.1} MiB",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / args.jobs as f64,
        rss as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Every job submitted once, `--clients` at a time; the latency of each 202.
async fn submit_all(args: &Args, base: &str) -> Result<Vec<Duration>, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let body = Bytes::from(format!(
        r#"{{"type":"demo.sleep","input":{{"duration_ms":{}}}}}"#,
        args.job_ms
    ));
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let (next, body, jobs) = (next.clone(), body.clone(), args.jobs);
        let url: hyper::Uri = format!("{base}/jobs").parse().map_err(|_| "bad url")?;
        clients.push(tokio::spawn(async move {
            let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= jobs {
                    return Ok::<_, String>(latencies);
                }
                let req = hyper::Request::post(url.clone())
                    .header("content-type", "application/json")
                    .header("idempotency-key", format!("load-{n}"))
                    .body(Full::new(body.clone()))
                    .map_err(|e| e.to_string())?;
                let sent = Instant::now();
                let res = client.request(req).await.map_err(|e| e.to_string())?;
                let status = res.status();
                let _ = res.into_body().collect().await;
                if status != 202 {
                    return Err(format!("submit answered {status}"));
                }
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(args.jobs);
    for client in clients {
        all.extend(client.await.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

/// Polls the listing until no job is pending or running.
async fn wait_until_finished(base: &str) -> Result<(), String> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    loop {
        let mut open = 0;
        for status in ["pending", "running"] {
            let url: hyper::Uri = format!("{base}/jobs?status={status}&limit=1")
                .parse()
                .map_err(|_| "bad url")?;
            let res = client.get(url).await.map_err(|e| format!("list: {e}"))?;
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            let page: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            open += page["jobs"].as_array().map_or(0, Vec::len);
        }
        if open == 0 {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("jobs still open after 30 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
