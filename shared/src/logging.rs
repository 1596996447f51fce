//! JSON logs, one object per line, for CloudWatch Logs Insights.
//!
//! Level comes from `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging controls) or
//! `RUST_LOG`, default `info`. Span fields (`job_id`, `correlation_id`, `request_id`) are
//! flattened onto every line logged inside the span.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .map(|l| l.to_lowercase())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    // Ignore the error of a second init (tests, local server): the first subscriber wins.
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(EnvFilter::new(filter))
        .try_init();
}
