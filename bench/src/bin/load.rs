//! Throughput of the local server, beside the machine's own ceilings.
//!
//! For each `--clients` level, a fresh `accepted serve` takes `demo.sleep` submits from that
//! many keep-alive connections for `--seconds` (closed loop, as `wrk` does), then the run
//! waits until every accepted job has finished. Printed per level: accepted jobs/s, latency
//! to `202` (p50/p99), server CPU per accepted job, the share of jobs completed inside the
//! window, jobs completed per second until the backlog drained, and peak RSS. Then the time
//! from `202` to `completed` of lone trivial jobs, and the two ceilings on the same machine:
//! a hello-world axum POST under the same driver, and a bare append + `fdatasync` loop in the
//! same temporary folder. Figures only; nothing is asserted.
//! `load --server target/release/accepted [--clients 1,8,32,64] [--seconds 5] [--job-ms 0]`

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accepted_bench::http_load::{client, get_text, run_for, HttpClient, MakeRequest};
use accepted_bench::process::{cpu_time, peak_rss, written_bytes};
use accepted_bench::stats::{ms, Samples};
use clap::{Parser, ValueEnum};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Embedded,
    Aws,
}

impl Backend {
    fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Aws => "aws",
        }
    }
}

#[derive(Parser)]
struct Args {
    /// The `accepted` binary (`cargo build --release --bin accepted`).
    #[arg(long, default_value = "target/release/accepted")]
    server: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    backend: Backend,
    /// Connection counts to measure, each on a fresh server.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    clients: Vec<usize>,
    /// How long each level submits.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// How long each `demo.sleep` job runs.
    #[arg(long, default_value_t = 0)]
    job_ms: u64,
    /// Lone jobs whose time from `202` to `completed` is measured.
    #[arg(long, default_value_t = 20)]
    lone_jobs: usize,
    /// Skip the hello-world and fsync ceilings.
    #[arg(long)]
    no_ceilings: bool,
}

struct Server {
    child: tokio::process::Child,
    pid: u32,
    base: String,
    data: PathBuf,
}

impl Server {
    async fn start(args: &Args, env: &BTreeMap<String, String>) -> Result<Self, String> {
        let data = std::env::temp_dir().join(format!(
            "accepted-load-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let port = free_port().map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(&args.server)
            .args(["serve", "--port", &port.to_string()])
            .args(["--backend", args.backend.as_str()])
            .args(["--max-connections", "4096"])
            .arg("--data-dir")
            .arg(&data)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e}", args.server.display()))?;
        let pid = child.id().ok_or("the server exited at once")?;
        // Keep draining its output so it never blocks on a full pipe.
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let base = format!("http://127.0.0.1:{port}");
        let http = client();
        let ready = async {
            while get_text(&http, &format!("{base}/readyz")).await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), ready)
            .await
            .map_err(|_| "the server was not ready within 60 s")?;
        Ok(Self {
            child,
            pid,
            base,
            data,
        })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut env = BTreeMap::new();
    // The per-owner cap would refuse a burst from one owner: this measures the server.
    env.insert("MAX_UNFINISHED_JOBS_PER_OWNER".to_owned(), "0".to_owned());
    env.insert("RUST_LOG".to_owned(), "warn".to_owned());
    if let Backend::Aws = args.backend {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .map_err(|_| "--backend aws needs AWS_ENDPOINT_URL (infra/moto.sh start)")?;
        let sdk = accepted_infra::emulator_sdk_config(&endpoint).await;
        let template = accepted_infra::Template::load(&accepted_infra::default_template_path())?;
        let prefix = format!("load{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        env.extend(
            accepted_infra::bootstrap(&template, &prefix, &sdk)
                .await?
                .env,
        );
    }
    println!(
        "load: demo.sleep {} ms jobs, {} s per level, {} backend",
        args.job_ms,
        args.seconds,
        args.backend.as_str()
    );
    println!("| connections | accepted/s | 202 p50 | 202 p99 | server CPU per job | completed in window | completed/s to drain | written per job | writes per commit | peak RSS |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &clients in &args.clients {
        let server = Server::start(&args, &env).await?;
        let level = measure_level(&args, &server, clients).await;
        server.stop().await;
        println!("{}", level?);
    }

    if args.lone_jobs > 0 {
        let server = Server::start(&args, &env).await?;
        let lone = lone_jobs(&server.base, args.lone_jobs).await;
        server.stop().await;
        let lone = Samples::new(lone?);
        println!(
            "lone trivial job, 202 to completed (server timestamps, {} jobs): p50 {} ms, p99 {} ms",
            lone.len(),
            ms(lone.percentile(50.0)),
            ms(lone.percentile(99.0))
        );
    }

    if !args.no_ceilings {
        for &clients in &args.clients {
            let (rate, latencies) = hello_world(clients, Duration::from_secs(args.seconds)).await?;
            println!(
                "ceiling: axum hello-world POST, {clients} connections: {rate:.0} requests/s, p50 {} ms, p99 {} ms",
                ms(latencies.percentile(50.0)),
                ms(latencies.percentile(99.0))
            );
        }
        let dir = std::env::temp_dir();
        let rate = fsync_loop(&dir, Duration::from_secs(2))?;
        println!(
            "ceiling: append 4 KiB + fdatasync in {}: {rate:.0} per second",
            dir.display()
        );
    }
    Ok(())
}

struct Level {
    clients: usize,
    accepted: usize,
    window: Duration,
    latencies: Samples,
    cpu: Duration,
    done_in_window: f64,
    drained: Duration,
    /// Bytes the server wrote from the first submit until every job had finished.
    written: u64,
    /// The embedded database's writes per commit (`/metrics`), when it reports them.
    writes_per_commit: Option<f64>,
    rss: u64,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_job = self.cpu.as_secs_f64() * 1000.0 / self.accepted.max(1) as f64;
        write!(
            f,
            "| {} | {:.0} | {} ms | {} ms | {per_job:.3} ms | {:.0} % | {:.0} | {:.1} KiB | {} | {:.1} MiB |",
            self.clients,
            self.accepted as f64 / self.window.as_secs_f64(),
            ms(self.latencies.percentile(50.0)),
            ms(self.latencies.percentile(99.0)),
            self.done_in_window * 100.0,
            self.accepted as f64 / self.drained.as_secs_f64(),
            self.written as f64 / 1024.0 / self.accepted.max(1) as f64,
            self.writes_per_commit
                .map_or("-".to_owned(), |w| format!("{w:.1}")),
            self.rss as f64 / (1024.0 * 1024.0)
        )
    }
}

async fn measure_level(args: &Args, server: &Server, clients: usize) -> Result<Level, String> {
    let body = Bytes::from(format!(
        r#"{{"type":"demo.sleep","input":{{"duration_ms":{}}}}}"#,
        args.job_ms
    ));
    let url: hyper::Uri = format!("{}/jobs", server.base)
        .parse()
        .map_err(|_| "bad url")?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let make: MakeRequest = Arc::new(move |n| {
        hyper::Request::post(url.clone())
            .header("content-type", "application/json")
            .header("idempotency-key", format!("load-{run}-{n}"))
            .body(Full::new(body.clone()))
            .unwrap_or_default()
    });
    let window = Duration::from_secs(args.seconds);
    let cpu_before = cpu_time(server.pid).map_err(|e| e.to_string())?;
    let written_before = written_bytes(server.pid).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let latencies = run_for(clients, window, 202, make).await?;
    let window = started.elapsed();
    let cpu = cpu_time(server.pid)
        .map_err(|e| e.to_string())?
        .saturating_sub(cpu_before);
    let accepted = latencies.len();
    let http = client();
    let done_in_window = finished(&http, &server.base).await? as f64 / accepted.max(1) as f64;
    while finished(&http, &server.base).await? < accepted {
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("jobs still open after 30 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Level {
        clients,
        accepted,
        window,
        latencies: Samples::new(latencies),
        cpu,
        done_in_window,
        drained: started.elapsed(),
        written: written_bytes(server.pid)
            .map_err(|e| e.to_string())?
            .saturating_sub(written_before),
        writes_per_commit: writes_per_commit(&http, &server.base).await?,
        rss: peak_rss(server.pid).map_err(|e| e.to_string())?,
    })
}

/// `accepted_sqlite_writes_total / accepted_sqlite_commits_total`, on the embedded backend.
async fn writes_per_commit(http: &HttpClient, base: &str) -> Result<Option<f64>, String> {
    let metrics = get_text(http, &format!("{base}/metrics")).await?;
    let counter = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
    };
    Ok(counter("accepted_sqlite_writes_total")
        .zip(counter("accepted_sqlite_commits_total"))
        .map(|(writes, commits)| writes / commits.max(1.0)))
}

/// Jobs completed or failed so far, from the server's own counters.
async fn finished(http: &HttpClient, base: &str) -> Result<usize, String> {
    let metrics = get_text(http, &format!("{base}/metrics")).await?;
    Ok(metrics
        .lines()
        .filter(|l| {
            l.starts_with("accepted_jobs_completed_total")
                || l.starts_with("accepted_jobs_failed_total")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize)
}

/// One job at a time: submitted, followed to the end by long polls.
async fn lone_jobs(base: &str, count: usize) -> Result<Vec<Duration>, String> {
    let http = client();
    let mut took = Vec::with_capacity(count);
    for _ in 0..count {
        let req = hyper::Request::post(format!("{base}/jobs"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"type":"demo.sleep","input":{"duration_ms":0}}"#,
            )))
            .map_err(|e| e.to_string())?;
        let res = http.request(req).await.map_err(|e| e.to_string())?;
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let job: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let id = job["id"].as_str().ok_or("no id")?.to_owned();
        let job = loop {
            let text = get_text(&http, &format!("{base}/jobs/{id}?wait=5")).await?;
            let job: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if job["status"] == "completed" {
                break job;
            }
        };
        let at = |field: &str| -> Result<i64, String> {
            let text = job[field].as_str().ok_or(format!("no {field}"))?;
            accepted_core::Timestamp::parse_rfc3339(text)
                .map(|t| t.as_millis())
                .ok_or(format!("bad {field}"))
        };
        let millis = (at("finished_at")? - at("created_at")?).max(0) as u64;
        took.push(Duration::from_millis(millis));
    }
    Ok(took)
}

/// The floor: an axum POST handler that answers `202` at once, under the same driver.
async fn hello_world(clients: usize, duration: Duration) -> Result<(f64, Samples), String> {
    let app = axum::Router::new().route(
        "/jobs",
        axum::routing::post(|| async { (axum::http::StatusCode::ACCEPTED, "{}") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url: hyper::Uri = format!("http://{addr}/jobs")
        .parse()
        .map_err(|_| "bad url")?;
    let make: MakeRequest = Arc::new(move |_| {
        hyper::Request::post(url.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap_or_default()
    });
    let started = Instant::now();
    let latencies = run_for(clients, duration, 202, make).await?;
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    server.abort();
    Ok((rate, Samples::new(latencies)))
}

/// The disk's floor: how many durable appends per second one writer gets.
fn fsync_loop(dir: &Path, duration: Duration) -> Result<f64, String> {
    let path = dir.join(format!("accepted-fsync-{}", std::process::id()));
    let mut file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let block = [0u8; 4096];
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < duration {
        file.write_all(&block).map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())?;
        count += 1;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
