//! Following a job until it ends: long-polls (`?wait=`, `If-None-Match`), and against a
//! server that answers at once, the `Retry-After` it suggests between reads.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::{ApiClient, ClientError, Job, Polled};

/// The job as it ended.
#[derive(Debug)]
pub struct Followed {
    pub job: Job,
    pub raw: Value,
    pub elapsed: Duration,
}

/// A read that came back sooner than this was not held by a long poll.
const PROMPT: Duration = Duration::from_millis(500);
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

/// Follows job `id` to a terminal state. `wait` is the long-poll window per read (the API
/// allows up to 20 s); `bar` shows the handler's progress when the caller wants one.
pub async fn follow(
    client: &ApiClient,
    id: &str,
    wait: u32,
    bar: Option<&ProgressBar>,
) -> Result<Followed, ClientError> {
    let started = Instant::now();
    if let Some(bar) = bar {
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_length(100);
        bar.set_prefix(short(id).to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    let mut etag: Option<String> = None;
    loop {
        let asked = Instant::now();
        let polled = client.job(id, Some(wait), etag.as_deref()).await?;
        let pause = match polled {
            Polled::NotModified => None,
            Polled::Changed {
                job,
                raw,
                etag: tag,
                retry_after,
            } => {
                if let Some(bar) = bar {
                    show(bar, &job);
                }
                if job.status.is_terminal() {
                    if let Some(bar) = bar {
                        bar.finish_and_clear();
                    }
                    return Ok(Followed {
                        job: *job,
                        raw,
                        elapsed: started.elapsed(),
                    });
                }
                etag = tag;
                retry_after
            }
        };
        if asked.elapsed() < PROMPT {
            tokio::time::sleep(pause.unwrap_or(DEFAULT_PAUSE)).await;
        }
    }
}

fn show(bar: &ProgressBar, job: &Job) {
    let percent = job.progress.as_ref().map_or(0, |p| u64::from(p.percent));
    bar.set_position(percent.min(100));
    let message = job
        .progress
        .as_ref()
        .and_then(|p| p.message.clone())
        .unwrap_or_default();
    bar.set_message(
        format!("{} {message}", job.status.as_str())
            .trim_end()
            .to_owned(),
    );
}

/// The first block of a UUID: enough to tell jobs apart on one screen.
pub fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}
