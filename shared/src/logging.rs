//! JSON logs, one flat object per line, for CloudWatch Logs Insights.
//!
//! Each line carries `timestamp`, `level`, `message`, `service` (the component: `submit`,
//! `worker`, …), `function_name` (`AWS_LAMBDA_FUNCTION_NAME`, else the service), and inside
//! a Lambda invocation `function_request_id`, `xray_trace_id` (the trace's id, `1-…`, not the
//! whole header) and `cold_start`; then the fields of every enclosing span, outermost first,
//! and the event's own fields last. The object is flat so that one query
//! (`filter job_id = …`) finds a line whatever span wrote it; the names follow Powertools for
//! AWS Lambda, so its queries carry over.
//!
//! The level comes from `RUST_LOG` (the template's `LogLevel`), else from
//! `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), default `info`. The template
//! opens Lambda's own filter (`TRACE`), since it would drop the EMF lines, which have no level.

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::Timestamp;

/// Installs the JSON subscriber for this process. A second call (tests, the local server
/// running several components) leaves the first subscriber in place.
pub fn init(service: &'static str) {
    let _ = tracing::subscriber::set_global_default(subscriber(
        service,
        &level_from_env(),
        std::io::stdout,
    ));
}

/// The subscriber `init` installs, writing to `writer`: tests capture lines with it.
pub fn subscriber<W>(
    service: &'static str,
    filter: &str,
    writer: W,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines::new(service))
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(writer)
        .finish()
}

fn level_from_env() -> String {
    std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .unwrap_or_else(|| "info".to_owned())
}

/// The line format. Span fields are kept by the fmt layer as JSON text (`JsonFields`); they
/// are parsed back and merged, which costs a little per line and keeps the object flat.
pub struct JsonLines {
    service: &'static str,
    function_name: String,
    /// The first invocation this process served: its lines are the cold start.
    first_request: OnceLock<String>,
}

impl JsonLines {
    pub fn new(service: &'static str) -> Self {
        let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| service.to_owned());
        Self {
            service,
            function_name,
            first_request: OnceLock::new(),
        }
    }

    fn line<S, N>(&self, ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Map<String, Value>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Timestamp::now().to_rfc3339().into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("service".into(), self.service.into());
        line.insert("function_name".into(), self.function_name.as_str().into());
        if let Some(scope) = ctx.event_scope() {
            let mut innermost = None;
            for span in scope.from_root() {
                innermost = Some(span.name());
                let ext = span.extensions();
                let Some(fields) = ext.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    for (key, value) in fields {
                        let (key, value) = match runtime_field(&key) {
                            Some("xray_trace_id") => ("xray_trace_id", trace_id(value)),
                            Some(name) => (name, value),
                            None => (key.as_str(), value),
                        };
                        line.insert(key.to_owned(), value);
                    }
                }
            }
            if let Some(name) = innermost.filter(|name| *name != RUNTIME_SPAN) {
                line.insert("span".into(), name.into());
            }
        }
        if let Some(Value::String(request)) = line.get("function_request_id") {
            let first = self.first_request.get_or_init(|| request.clone());
            let cold = first == request;
            line.insert("cold_start".into(), cold.into());
        }
        event.record(&mut FieldsVisitor(&mut line));
        line
    }
}

/// The name of lambda_runtime's invocation span: its fields are the invocation's, its name
/// is not one of ours, so a line written directly inside it names no `span`.
const RUNTIME_SPAN: &str = "Lambda runtime invoke";

/// The X-Ray trace id of a trace header (`Root=1-…;Parent=…;Sampled=…;Lineage=…`), as
/// Powertools logs it: the id finds the trace; the rest only continues it.
pub fn trace_root(header: &str) -> &str {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .unwrap_or(header)
}

fn trace_id(value: Value) -> Value {
    match value {
        Value::String(header) => trace_root(&header).into(),
        other => other,
    }
}

/// The fields lambda_runtime puts on its invocation span, in this format's names.
fn runtime_field(key: &str) -> Option<&'static str> {
    match key {
        "requestId" => Some("function_request_id"),
        "xrayTraceId" => Some("xray_trace_id"),
        "tenantId" => Some("tenant_id"),
        _ => None,
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let line = self.line(ctx, event);
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// An event's fields as JSON values: numbers and booleans stay typed, the rest is text.
struct FieldsVisitor<'a>(&'a mut Map<String, Value>);

impl FieldsVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        // tracing-log's metadata fields describe the `log` call site, not the event.
        if !field.name().starts_with("log.") {
            self.0.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for FieldsVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests;
