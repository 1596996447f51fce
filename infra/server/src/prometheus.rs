//! The job metrics of `accepted serve` in the Prometheus text format, for `GET /metrics`.
//!
//! The functions record their metrics as they do on Lambda (EMF lines on stdout, which stay);
//! [`PrometheusSink`] also adds them up in memory. A count becomes a counter
//! (`JobsAccepted` → `accepted_jobs_accepted_total`), a duration a histogram in seconds
//! (`QueueWaitMs` → `accepted_queue_wait_seconds`), and each EMF dimension a label
//! (`JobType` → `job_type`); the EMF namespace (`accepted/<stack>`) is not part of the name. The number of label sets is bounded, so a handler that invents
//! error codes cannot grow the server's memory: past [`MAX_SERIES`], new ones are counted
//! under `other`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use accepted_core::metrics::{MetricSink, Sample, Unit};
use accepted_core::Timestamp;
use serde_json::Value;

/// Upper bounds of the duration buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 900.0,
];
/// Every metric's name starts with it, whatever the EMF namespace (which names a stack).
const PREFIX: &str = "accepted";
/// Label sets kept per metric before new ones fold into `other`.
pub const MAX_SERIES: usize = 500;

type Labels = Vec<(String, String)>;

#[derive(Default, Clone)]
struct Histogram {
    /// Per bucket of [`BUCKETS`], not cumulative; the last counts values above them all.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

#[derive(Default)]
struct Series {
    counters: BTreeMap<(String, Labels), f64>,
    histograms: BTreeMap<(String, Labels), Histogram>,
}

/// Adds up what the functions record and forwards it to `forward` (the EMF lines).
pub struct PrometheusSink {
    series: Mutex<Series>,
    forward: Arc<dyn MetricSink>,
}

impl PrometheusSink {
    pub fn new(forward: Arc<dyn MetricSink>) -> Self {
        Self {
            series: Mutex::new(Series::default()),
            forward,
        }
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        let mut last = "";
        for ((name, labels), value) in &series.counters {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{} {value}", format_labels(labels, None));
        }
        for ((name, labels), histogram) in &series.histograms {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} histogram");
                last = name;
            }
            let mut cumulative = 0;
            for (i, count) in histogram.counts.iter().enumerate() {
                cumulative += count;
                let le = BUCKETS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
                let labels = format_labels(labels, Some(&le));
                let _ = writeln!(out, "{name}_bucket{labels} {cumulative}");
            }
            let plain = format_labels(labels, None);
            let _ = writeln!(out, "{name}_sum{plain} {}", histogram.sum);
            let _ = writeln!(out, "{name}_count{plain} {cumulative}");
        }
        out
    }
}

impl MetricSink for PrometheusSink {
    fn write(&self, line: &Value) {
        self.forward.write(line);
    }

    fn record(
        &self,
        namespace: &str,
        at: Timestamp,
        dims: &[(&'static str, &str)],
        samples: &[Sample],
    ) {
        self.forward.record(namespace, at, dims, samples);
        let labels: Labels = dims
            .iter()
            .map(|(k, v)| (snake_case(k), (*v).to_owned()))
            .collect();
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for sample in samples {
            let base = format!("{PREFIX}_{}", snake_case(sample.name));
            match sample.unit {
                Unit::Count => {
                    let key = bounded(&series.counters, format!("{base}_total"), &labels);
                    *series.counters.entry(key).or_default() += sample.value;
                }
                Unit::Milliseconds => {
                    let name = format!("{}_seconds", base.trim_end_matches("_ms"));
                    let key = bounded(&series.histograms, name, &labels);
                    let seconds = sample.value / 1000.0;
                    let histogram = series.histograms.entry(key).or_default();
                    let bucket = BUCKETS
                        .iter()
                        .position(|b| seconds <= *b)
                        .unwrap_or(BUCKETS.len());
                    histogram.counts[bucket] += 1;
                    histogram.sum += seconds;
                }
            }
        }
    }
}

/// The key for `labels` on metric `name`, or its `other` key once the metric has
/// [`MAX_SERIES`] label sets.
fn bounded<V>(
    map: &BTreeMap<(String, Labels), V>,
    name: String,
    labels: &Labels,
) -> (String, Labels) {
    let key = (name, labels.clone());
    if map.contains_key(&key) {
        return key;
    }
    let (name, labels) = key;
    let kept = map.keys().filter(|(n, _)| *n == name).count();
    if kept < MAX_SERIES {
        return (name, labels);
    }
    let other = labels
        .into_iter()
        .map(|(k, _)| (k, "other".to_owned()))
        .collect();
    (name, other)
}

fn format_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// A label value as the text format writes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `JobsAccepted` → `jobs_accepted`; `accepted` stays.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use accepted_core::metrics::{name, Metrics, Recorded};

    use super::*;

    fn sink() -> (Arc<PrometheusSink>, Arc<Recorded>) {
        let emf = Arc::new(Recorded::default());
        (Arc::new(PrometheusSink::new(emf.clone())), emf)
    }

    #[test]
    fn counts_become_counters_and_durations_histograms_in_seconds() {
        let (prometheus, emf) = sink();
        // The stack's EMF namespace does not change the names dashboards refer to.
        let metrics = Metrics::new("accepted/my-stack", prometheus.clone());
        let demo = [("JobType", "demo.sleep")];
        metrics.record(&demo, &[Sample::count(name::ACCEPTED)]);
        metrics.record(&demo, &[Sample::count(name::ACCEPTED)]);
        metrics.record(
            &demo,
            &[
                Sample::count(name::COMPLETED),
                Sample::millis(name::RUN_TIME, 30),
            ],
        );
        let text = prometheus.render();
        assert!(text.contains("# TYPE accepted_jobs_accepted_total counter\n"));
        assert!(text.contains("accepted_jobs_accepted_total{job_type=\"demo.sleep\"} 2\n"));
        assert!(text.contains("accepted_jobs_completed_total{job_type=\"demo.sleep\"} 1\n"));
        assert!(text.contains("# TYPE accepted_run_time_seconds histogram\n"));
        let bucket = |le: &str| {
            format!("accepted_run_time_seconds_bucket{{job_type=\"demo.sleep\",le=\"{le}\"}}")
        };
        assert!(text.contains(&format!("{} 0\n", bucket("0.025"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", bucket("0.05"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", bucket("+Inf"))), "{text}");
        assert!(text.contains("accepted_run_time_seconds_sum{job_type=\"demo.sleep\"} 0.03\n"));
        assert!(text.contains("accepted_run_time_seconds_count{job_type=\"demo.sleep\"} 1\n"));
        assert_eq!(emf.lines().len(), 3, "the EMF lines still go out");
    }

    #[test]
    fn label_values_are_escaped_and_series_are_bounded() {
        let (prometheus, _) = sink();
        let metrics = Metrics::new("accepted", prometheus.clone());
        metrics.record(
            &[("ErrorCode", "a\"b\\c\nd")],
            &[Sample::count(name::FAILED)],
        );
        for i in 0..MAX_SERIES + 10 {
            let code = format!("code-{i}");
            metrics.record(&[("ErrorCode", &code)], &[Sample::count(name::FAILED)]);
        }
        let text = prometheus.render();
        let series = text
            .lines()
            .filter(|l| l.starts_with("accepted_jobs_failed_total{"))
            .count();
        assert_eq!(series, MAX_SERIES + 1, "{MAX_SERIES} kept and one other");
        assert!(text.contains("accepted_jobs_failed_total{error_code=\"other\"} 11\n"));
        assert!(
            text.contains("{error_code=\"a\\\"b\\\\c\\nd\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn names_and_labels_are_snake_case() {
        assert_eq!(snake_case("JobsDeadLettered"), "jobs_dead_lettered");
        assert_eq!(snake_case("accepted"), "accepted");
        assert_eq!(snake_case("my-app"), "my_app");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
