//! Job metrics as CloudWatch Embedded Metric Format: one JSON line on stdout per event,
//! which CloudWatch Logs turns into metrics. No SDK call, nothing on the hot path but a write.
//!
//! Every metric is recorded twice: per job type (or per reason) and without dimensions, so
//! dashboards can show the funnel of all jobs without metric math.

use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

use crate::time::Timestamp;

pub const DEFAULT_NAMESPACE: &str = "accepted";

/// The metrics this code records; their names are part of the operations contract
/// (dashboards and alarms refer to them).
pub mod name {
    pub const ACCEPTED: &str = "JobsAccepted";
    pub const REPLAYED: &str = "JobsReplayed";
    pub const REJECTED: &str = "JobsRejected";
    pub const STARTED: &str = "JobsStarted";
    pub const COMPLETED: &str = "JobsCompleted";
    pub const FAILED: &str = "JobsFailed";
    pub const RETRIED: &str = "JobsRetried";
    pub const DEAD_LETTERED: &str = "JobsDeadLettered";
    pub const QUEUE_WAIT: &str = "QueueWaitMs";
    pub const RUN_TIME: &str = "RunTimeMs";
    pub const END_TO_END: &str = "EndToEndMs";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One value of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub unit: Unit,
    pub value: f64,
}

impl Sample {
    pub fn count(name: &'static str) -> Self {
        Self {
            name,
            unit: Unit::Count,
            value: 1.0,
        }
    }

    pub fn millis(name: &'static str, ms: i64) -> Self {
        Self {
            name,
            unit: Unit::Milliseconds,
            value: ms.max(0) as f64,
        }
    }
}

/// Where EMF lines go: stdout in Lambda and in the local server, memory in tests.
pub trait MetricSink: Send + Sync {
    fn write(&self, line: &Value);

    /// Records `samples`; the default writes them as one EMF line. A sink that aggregates
    /// (the local server's Prometheus endpoint) reads the samples themselves.
    fn record(
        &self,
        namespace: &str,
        at: Timestamp,
        dims: &[(&'static str, &str)],
        samples: &[Sample],
    ) {
        self.write(&line(namespace, at, dims, samples));
    }
}

pub struct Stdout;

impl MetricSink for Stdout {
    fn write(&self, line: &Value) {
        println!("{line}");
    }
}

/// Keeps the lines, for tests.
#[derive(Default)]
pub struct Recorded(Mutex<Vec<Value>>);

impl Recorded {
    pub fn lines(&self) -> Vec<Value> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The sum of `metric` over the lines whose dimensions include all of `dims`.
    pub fn total(&self, metric: &str, dims: &[(&str, &str)]) -> f64 {
        self.lines()
            .iter()
            .filter(|line| dims.iter().all(|(k, v)| line[*k] == *v))
            .filter_map(|line| line[metric].as_f64())
            .sum()
    }
}

impl MetricSink for Recorded {
    fn write(&self, line: &Value) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line.clone());
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    namespace: Arc<str>,
    sink: Arc<dyn MetricSink>,
}

impl Metrics {
    pub fn new(namespace: &str, sink: Arc<dyn MetricSink>) -> Self {
        Self {
            namespace: namespace.into(),
            sink,
        }
    }

    pub fn stdout(namespace: &str) -> Self {
        Self::new(namespace, Arc::new(Stdout))
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Records `samples` under the dimensions `dims` (and without dimensions).
    pub fn record(&self, dims: &[(&'static str, &str)], samples: &[Sample]) {
        self.sink
            .record(&self.namespace, Timestamp::now(), dims, samples);
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// One EMF document.
pub fn line(
    namespace: &str,
    at: Timestamp,
    dims: &[(&'static str, &str)],
    samples: &[Sample],
) -> Value {
    let names: Vec<&str> = dims.iter().map(|(k, _)| *k).collect();
    let definitions: Vec<Value> = samples
        .iter()
        .map(|s| json!({"Name": s.name, "Unit": s.unit.as_str()}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.as_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [names, []],
                "Metrics": definitions,
            }],
        }),
    );
    for (k, v) in dims {
        doc.insert((*k).into(), Value::from(*v));
    }
    for s in samples {
        doc.insert(s.name.into(), Value::from(s.value));
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_its_metrics_and_carries_their_values() {
        let at = Timestamp::from_millis(1_800_000_000_000);
        let doc = line(
            "accepted",
            at,
            &[("JobType", "csv.summary")],
            &[
                Sample::count(name::COMPLETED),
                Sample::millis(name::RUN_TIME, 42),
            ],
        );
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_800_000_000_000i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "accepted",
                        "Dimensions": [["JobType"], []],
                        "Metrics": [
                            {"Name": "JobsCompleted", "Unit": "Count"},
                            {"Name": "RunTimeMs", "Unit": "Milliseconds"}
                        ]
                    }]
                },
                "JobType": "csv.summary",
                "JobsCompleted": 1.0,
                "RunTimeMs": 42.0
            })
        );
    }

    #[test]
    fn durations_are_never_negative_and_recordings_add_up() {
        assert_eq!(Sample::millis(name::QUEUE_WAIT, -5).value, 0.0);
        let recorded = Arc::new(Recorded::default());
        let metrics = Metrics::new("t", recorded.clone());
        metrics.record(&[("JobType", "a")], &[Sample::count(name::STARTED)]);
        metrics.record(&[("JobType", "b")], &[Sample::count(name::STARTED)]);
        assert_eq!(recorded.total(name::STARTED, &[]), 2.0);
        assert_eq!(recorded.total(name::STARTED, &[("JobType", "a")]), 1.0);
    }
}
