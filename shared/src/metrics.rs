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

    /// Writes what the sink holds back; nothing for a sink that writes at once.
    fn flush(&self) {}
}

pub struct Stdout;

impl MetricSink for Stdout {
    fn write(&self, line: &Value) {
        println!("{line}");
    }
}

/// EMF on stdout, held until [`Metrics::flush`]: one document per namespace and set of
/// dimensions, each metric's values in an array. The worker flushes at the end of each
/// batch, so a batch of ten jobs logs one document per job type instead of twenty lines.
#[derive(Default)]
pub struct BufferedStdout {
    pending: Mutex<Vec<Pending>>,
}

/// Samples recorded and not yet written.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub namespace: String,
    pub dims: Vec<(&'static str, String)>,
    pub samples: Vec<Sample>,
}

impl MetricSink for BufferedStdout {
    fn write(&self, line: &Value) {
        println!("{line}");
    }

    fn record(
        &self,
        namespace: &str,
        _at: Timestamp,
        dims: &[(&'static str, &str)],
        samples: &[Sample],
    ) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.push(Pending {
                namespace: namespace.to_owned(),
                dims: dims.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
                samples: samples.to_vec(),
            });
        }
    }

    fn flush(&self) {
        let pending = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        for doc in documents(&pending, Timestamp::now()) {
            self.write(&doc);
        }
    }
}

/// EMF takes at most 100 values per metric in one document.
pub const VALUES_PER_DOCUMENT: usize = 100;

/// The EMF documents of `pending`: one per namespace and dimensions (more past
/// [`VALUES_PER_DOCUMENT`] values of a metric), in the order they were first recorded.
pub fn documents(pending: &[Pending], at: Timestamp) -> Vec<Value> {
    type Series = Vec<(&'static str, Unit, Vec<f64>)>;
    type Dims<'a> = &'a [(&'static str, String)];
    let mut groups: Vec<(&str, Dims, Series)> = Vec::new();
    for p in pending {
        let index = match groups
            .iter()
            .position(|(ns, dims, _)| *ns == p.namespace && *dims == p.dims.as_slice())
        {
            Some(index) => index,
            None => {
                groups.push((&p.namespace, &p.dims, Vec::new()));
                groups.len() - 1
            }
        };
        let series = &mut groups[index].2;
        for sample in &p.samples {
            match series.iter_mut().find(|(name, _, _)| *name == sample.name) {
                Some((_, _, values)) => values.push(sample.value),
                None => series.push((sample.name, sample.unit, vec![sample.value])),
            }
        }
    }
    let mut docs = Vec::new();
    for (namespace, dims, series) in groups {
        let longest = series.iter().map(|(_, _, v)| v.len()).max().unwrap_or(0);
        for start in (0..longest).step_by(VALUES_PER_DOCUMENT) {
            let chunk: Vec<(&str, Unit, &[f64])> = series
                .iter()
                .filter(|(_, _, values)| values.len() > start)
                .map(|(name, unit, values)| {
                    let end = values.len().min(start + VALUES_PER_DOCUMENT);
                    (*name, *unit, &values[start..end])
                })
                .collect();
            docs.push(document(namespace, at, dims, &chunk));
        }
    }
    docs
}

fn document(
    namespace: &str,
    at: Timestamp,
    dims: &[(&'static str, String)],
    series: &[(&str, Unit, &[f64])],
) -> Value {
    let names: Vec<&str> = dims.iter().map(|(k, _)| *k).collect();
    let definitions: Vec<Value> = series
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
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
        doc.insert((*k).into(), Value::from(v.as_str()));
    }
    for (name, _, values) in series {
        let value = match values {
            [one] => Value::from(*one),
            many => Value::from(many.to_vec()),
        };
        doc.insert((*name).into(), value);
    }
    Value::Object(doc)
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

    /// Writes what a buffering sink holds ([`BufferedStdout`]).
    pub fn flush(&self) {
        self.sink.flush();
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
    let dims: Vec<(&'static str, String)> =
        dims.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let values: Vec<[f64; 1]> = samples.iter().map(|s| [s.value]).collect();
    let series: Vec<(&str, Unit, &[f64])> = samples
        .iter()
        .zip(&values)
        .map(|(s, v)| (s.name, s.unit, &v[..]))
        .collect();
    document(namespace, at, &dims, &series)
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
    fn a_buffered_batch_is_one_document_per_dimensions_with_arrays_of_values() {
        let at = Timestamp::from_millis(1_800_000_000_000);
        let job = |job_type: &str, run_ms: i64| Pending {
            namespace: "accepted".into(),
            dims: vec![("JobType", job_type.to_owned())],
            samples: vec![
                Sample::count(name::COMPLETED),
                Sample::millis(name::RUN_TIME, run_ms),
            ],
        };
        let started = Pending {
            samples: vec![Sample::count(name::STARTED)],
            ..job("a", 0)
        };
        let docs = documents(&[started, job("a", 5), job("b", 7), job("a", 9)], at);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["JobType"], "a");
        assert_eq!(docs[0]["JobsStarted"], 1.0);
        assert_eq!(docs[0]["JobsCompleted"], json!([1.0, 1.0]));
        assert_eq!(docs[0]["RunTimeMs"], json!([5.0, 9.0]));
        let declared: Vec<&str> = docs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(declared, ["JobsStarted", "JobsCompleted", "RunTimeMs"]);
        assert_eq!(docs[1]["JobType"], "b");
        assert_eq!(docs[1]["RunTimeMs"], 7.0);
        assert_eq!(
            docs[1],
            line("accepted", at, &[("JobType", "b")], &job("b", 7).samples)
        );
    }

    #[test]
    fn past_a_hundred_values_a_metric_goes_on_in_another_document() {
        let at = Timestamp::from_millis(1_800_000_000_000);
        let mut pending: Vec<Pending> = (0..150)
            .map(|i| Pending {
                namespace: "accepted".into(),
                dims: vec![],
                samples: vec![Sample::millis(name::RUN_TIME, i)],
            })
            .collect();
        pending[0].samples.push(Sample::count(name::FAILED));
        let docs = documents(&pending, at);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["RunTimeMs"].as_array().unwrap().len(), 100);
        assert_eq!(docs[0]["JobsFailed"], 1.0);
        assert_eq!(docs[1]["RunTimeMs"].as_array().unwrap().len(), 50);
        assert!(docs[1].get("JobsFailed").is_none());
        assert_eq!(
            docs[1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            1
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
