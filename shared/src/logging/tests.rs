use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::{debug, info, info_span, warn};

use super::subscriber;
use crate::Timestamp;

/// Lines written by a subscriber, parsed back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

fn capture(filter: &str, body: impl FnOnce()) -> Vec<Value> {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = subscriber("worker", filter, move || writer.clone());
    tracing::subscriber::with_default(subscriber, body);
    captured.lines()
}

/// What lambda_runtime wraps each invocation in (its `request_span`).
fn invocation(request_id: &str) -> tracing::Span {
    info_span!(
        "Lambda runtime invoke",
        requestId = request_id,
        xrayTraceId = "Root=1-abc;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=1:a87bd80c:0"
    )
}

#[test]
fn a_line_is_one_flat_object_with_the_invocation_the_job_and_the_event() {
    let lines = capture("info", || {
        let _invocation = invocation("req-1").entered();
        let _job = info_span!("job", job_id = "job-7", correlation_id = "corr-7").entered();
        info!(attempt = 2, retry = true, error = "boom", "job started");
    });
    let [line] = lines.as_slice() else {
        panic!("one line: {lines:?}")
    };
    assert_eq!(line["message"], "job started");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["service"], "worker");
    assert_eq!(
        line["function_name"], "worker",
        "no AWS_LAMBDA_FUNCTION_NAME here"
    );
    assert_eq!(line["function_request_id"], "req-1");
    assert_eq!(
        line["xray_trace_id"], "1-abc",
        "the trace's id, not its header"
    );
    assert_eq!(line["cold_start"], true);
    assert_eq!(line["job_id"], "job-7");
    assert_eq!(line["correlation_id"], "corr-7");
    assert_eq!(line["span"], "job");
    assert_eq!(line["attempt"], 2, "numbers stay numbers");
    assert_eq!(line["retry"], true);
    assert_eq!(line["error"], "boom");
    let at = line["timestamp"].as_str().unwrap();
    assert!(Timestamp::parse_rfc3339(at).is_some(), "{at}");
    assert!(
        line.get("requestId").is_none(),
        "renamed, not duplicated: {line}"
    );
}

#[test]
fn only_the_first_invocation_of_the_process_is_the_cold_start() {
    let lines = capture("info", || {
        for request in ["req-1", "req-2", "req-3"] {
            let _invocation = invocation(request).entered();
            info!("handled");
        }
        info!("between invocations");
    });
    let cold: Vec<&Value> = lines.iter().map(|l| &l["cold_start"]).collect();
    assert_eq!(
        cold,
        [
            &Value::Bool(true),
            &false.into(),
            &false.into(),
            &Value::Null
        ]
    );
    assert!(lines[3].get("function_request_id").is_none());
}

#[test]
fn inner_spans_override_outer_ones_and_the_event_overrides_both() {
    let lines = capture("info", || {
        let _outer =
            info_span!("submit", job_id = tracing::field::Empty, status = "outer").entered();
        tracing::Span::current().record("job_id", "late-id");
        let _inner = info_span!("inner", status = "inner").entered();
        info!("inner wins");
        warn!(status = "event", "event wins");
    });
    assert_eq!(lines[0]["status"], "inner");
    assert_eq!(
        lines[0]["job_id"], "late-id",
        "a field recorded after the span opened"
    );
    assert_eq!(lines[1]["status"], "event");
    assert_eq!(lines[1]["level"], "WARN");
}

#[test]
fn the_level_filter_drops_lines_below_it() {
    let lines = capture("warn", || {
        debug!("hidden");
        info!("hidden too");
        warn!("shown");
    });
    let messages: Vec<&Value> = lines.iter().map(|l| &l["message"]).collect();
    assert_eq!(messages, [&Value::from("shown")]);
}

#[test]
fn a_line_of_the_invocation_itself_names_no_span_and_the_trace_is_its_id() {
    let lines = capture("info", || {
        let _invocation = invocation("req-2").entered();
        info!(count = 3, "events published");
    });
    let [line] = lines.as_slice() else {
        panic!("one line: {lines:?}")
    };
    assert!(line.get("span").is_none(), "the runtime's span: {line}");
    assert_eq!(line["function_request_id"], "req-2");
    assert_eq!(line["xray_trace_id"], "1-abc");
}

#[test]
fn the_trace_root_is_read_from_any_header_form() {
    use super::trace_root;
    assert_eq!(trace_root("Root=1-a;Parent=b;Sampled=1"), "1-a");
    assert_eq!(trace_root("Sampled=1; Root=1-a"), "1-a");
    assert_eq!(trace_root("1-a"), "1-a", "already an id");
    assert_eq!(trace_root(""), "");
}
