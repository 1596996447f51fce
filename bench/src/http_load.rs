//! A closed-loop HTTP load driver: `clients` connections, each sending its next request as
//! soon as the previous answer is in, until a deadline — what `wrk` does, in process, so the
//! same driver measures the server and the hello-world floor it is compared with.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One request to send: the `n`th of the run.
pub type MakeRequest = Arc<dyn Fn(usize) -> hyper::Request<Full<Bytes>> + Send + Sync>;

/// Sends requests from `clients` connections until `duration` is over; the latency of each
/// answer with status `expect`. Any other status ends the run with an error.
pub async fn run_for(
    clients: usize,
    duration: Duration,
    expect: u16,
    make: MakeRequest,
) -> Result<Vec<Duration>, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, make) = (Arc::clone(&next), Arc::clone(&make));
        tasks.push(tokio::spawn(async move {
            // One connection per client: a pool of one, kept alive.
            let client: HttpClient = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build_http();
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let req = make(next.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                let res = client.request(req).await.map_err(|e| e.to_string())?;
                let status = res.status();
                let _ = res.into_body().collect().await;
                if status != expect {
                    return Err(format!("answered {status}, expected {expect}"));
                }
                latencies.push(sent.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

/// The body of a GET, as text.
pub async fn get_text(client: &HttpClient, url: &str) -> Result<String, String> {
    let uri: hyper::Uri = url.parse().map_err(|_| format!("bad url {url}"))?;
    let res = client.get(uri).await.map_err(|e| format!("{url}: {e}"))?;
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|e| e.to_string())
}
