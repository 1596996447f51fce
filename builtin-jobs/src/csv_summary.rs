//! `csv.summary`: a per-column report of a CSV document.
//!
//! Input: `{"csv": "...", "delimiter"?: ",", "has_header"?: true}`. For each column: how many
//! values and empty cells; for numeric columns min, max and mean; for text columns the
//! number of distinct values and the most frequent ones. A malformed document (ragged rows,
//! bad quoting) is a permanent failure: retrying cannot fix the input.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use accepted_job::input::{into_result, object, optional_bool, optional_str};
use accepted_job::FieldError;
use accepted_job::{JobContext, JobFailure, JobHandler};

/// Distinct text values tracked per column before the count is reported as a lower bound.
const MAX_DISTINCT: usize = 10_000;
const TOP_VALUES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvSummary;

struct Options<'a> {
    csv: &'a str,
    delimiter: u8,
    has_header: bool,
}

impl<'a> Options<'a> {
    fn parse(input: &'a Value) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = object(input, &["csv", "delimiter", "has_header"], &mut errors) else {
            return Err(errors);
        };
        let csv = optional_str(obj, "csv", &mut errors);
        if !obj.contains_key("csv") {
            errors.push(FieldError::new("/input/csv", "is required"));
        }
        let delimiter = match optional_str(obj, "delimiter", &mut errors) {
            None => b',',
            Some(d) if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" => d.as_bytes()[0],
            Some(_) => {
                errors.push(FieldError::new(
                    "/input/delimiter",
                    "must be one ASCII character other than a quote or newline",
                ));
                b','
            }
        };
        let has_header = optional_bool(obj, "has_header", &mut errors).unwrap_or(true);
        into_result(errors)?;
        Ok(Self {
            csv: csv.unwrap_or_default(),
            delimiter,
            has_header,
        })
    }
}

#[derive(Debug, Serialize, PartialEq)]
struct Report {
    rows: u64,
    columns: Vec<ColumnReport>,
}

#[derive(Debug, Serialize, PartialEq)]
struct ColumnReport {
    name: String,
    /// `number` when every non-empty value parses as a finite number, `empty` when there is
    /// no value at all, otherwise `text`.
    kind: &'static str,
    count: u64,
    nulls: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    distinct: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    distinct_capped: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    top: Vec<TopValue>,
}

#[derive(Debug, Serialize, PartialEq)]
struct TopValue {
    value: String,
    count: u64,
}

#[derive(Default)]
struct Column {
    count: u64,
    nulls: u64,
    all_numeric: bool,
    sum: f64,
    min: f64,
    max: f64,
    values: HashMap<String, u64>,
    capped: bool,
}

impl Column {
    fn new() -> Self {
        Self {
            all_numeric: true,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Self::default()
        }
    }

    fn add(&mut self, raw: &str) {
        let value = raw.trim();
        if value.is_empty() {
            self.nulls += 1;
            return;
        }
        self.count += 1;
        match value.parse::<f64>() {
            Ok(n) if n.is_finite() && self.all_numeric => {
                self.sum += n;
                self.min = self.min.min(n);
                self.max = self.max.max(n);
            }
            _ => self.all_numeric = false,
        }
        if let Some(c) = self.values.get_mut(value) {
            *c += 1;
        } else if self.values.len() < MAX_DISTINCT {
            self.values.insert(value.to_owned(), 1);
        } else {
            self.capped = true;
        }
    }

    fn report(self, name: String) -> ColumnReport {
        let numeric = self.all_numeric && self.count > 0;
        let kind = match (self.count, numeric) {
            (0, _) => "empty",
            (_, true) => "number",
            _ => "text",
        };
        let mut top: Vec<TopValue> = Vec::new();
        if kind == "text" {
            let mut counted: Vec<_> = self.values.iter().collect();
            counted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            top = counted
                .into_iter()
                .take(TOP_VALUES)
                .map(|(v, c)| TopValue {
                    value: v.clone(),
                    count: *c,
                })
                .collect();
        }
        ColumnReport {
            name,
            kind,
            count: self.count,
            nulls: self.nulls,
            min: numeric.then_some(self.min),
            max: numeric.then_some(self.max),
            mean: numeric.then(|| self.sum / self.count as f64),
            distinct: (kind == "text").then_some(self.values.len() as u64),
            distinct_capped: kind == "text" && self.capped,
            top,
        }
    }
}

fn summarise(opts: &Options<'_>) -> Result<Report, JobFailure> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .has_headers(opts.has_header)
        .flexible(false)
        .from_reader(opts.csv.as_bytes());
    let invalid = |e: csv::Error| JobFailure::permanent("invalid_csv", e.to_string());
    let mut names: Vec<String> = if opts.has_header {
        reader
            .headers()
            .map_err(invalid)?
            .iter()
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };
    let mut columns: Vec<Column> = names.iter().map(|_| Column::new()).collect();
    let mut rows = 0u64;
    for record in reader.records() {
        let record = record.map_err(invalid)?;
        if columns.is_empty() {
            columns = record.iter().map(|_| Column::new()).collect();
            names = (1..=record.len()).map(|i| format!("column_{i}")).collect();
        }
        for (column, value) in columns.iter_mut().zip(record.iter()) {
            column.add(value);
        }
        rows += 1;
    }
    Ok(Report {
        rows,
        columns: columns
            .into_iter()
            .zip(names)
            .map(|(c, name)| c.report(name))
            .collect(),
    })
}

#[async_trait]
impl JobHandler for CsvSummary {
    fn job_type(&self) -> &str {
        "csv.summary"
    }

    fn description(&self) -> Option<&str> {
        Some("A per-column report of a CSV document: counts, numeric ranges, frequent values.")
    }

    fn input_schema(&self) -> Option<Value> {
        Some(serde_json::json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["csv"],
            "properties": {
                "csv": {"type": "string"},
                "delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "not": {"enum": ["\"", "\n"]}},
                "has_header": {"type": "boolean"}
            }
        }))
    }

    fn validate(&self, input: &Value) -> Result<(), Vec<FieldError>> {
        Options::parse(input).map(|_| ())
    }

    fn example_input(&self) -> Option<Value> {
        Some(serde_json::json!({"csv": "city,temp\nOslo,3\nLima,19\nOslo,5\n"}))
    }

    async fn run(&self, _ctx: &JobContext, input: &Value) -> Result<Value, JobFailure> {
        let opts = Options::parse(input)
            .map_err(|_| JobFailure::permanent("invalid_input", "input failed validation"))?;
        let report = summarise(&opts)?;
        serde_json::to_value(report).map_err(|e| JobFailure::permanent("internal", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accepted_job::{CorrelationId, JobId};
    use serde_json::json;

    async fn run(input: Value) -> Result<Value, JobFailure> {
        let (ctx, _signals) = JobContext::new(JobId::generate(), 1, CorrelationId::generate());
        CsvSummary.run(&ctx, &input).await
    }

    #[tokio::test]
    async fn reports_numbers_text_and_nulls_per_column() {
        let csv = "city,price,note\nParis,10,\nLyon,2.5,\nParis,,x\n";
        let report = run(json!({ "csv": csv })).await.unwrap();
        assert_eq!(
            report,
            json!({
                "rows": 3,
                "columns": [
                    {"name": "city", "kind": "text", "count": 3, "nulls": 0, "distinct": 2,
                     "top": [{"value": "Paris", "count": 2}, {"value": "Lyon", "count": 1}]},
                    {"name": "price", "kind": "number", "count": 2, "nulls": 1,
                     "min": 2.5, "max": 10.0, "mean": 6.25},
                    {"name": "note", "kind": "text", "count": 1, "nulls": 2, "distinct": 1,
                     "top": [{"value": "x", "count": 1}]}
                ]
            })
        );
    }

    #[tokio::test]
    async fn headerless_documents_get_positional_names_and_custom_delimiters_work() {
        let report = run(json!({"csv": "1;a\n3;b\n", "delimiter": ";", "has_header": false}))
            .await
            .unwrap();
        assert_eq!(report["rows"], 2);
        assert_eq!(report["columns"][0]["name"], "column_1");
        assert_eq!(report["columns"][0]["mean"], 2.0);
        assert_eq!(report["columns"][1]["kind"], "text");
    }

    #[tokio::test]
    async fn ragged_rows_are_a_permanent_failure() {
        let err = run(json!({"csv": "a,b\n1,2\n3\n"})).await.unwrap_err();
        assert!(matches!(err, JobFailure::Permanent { ref code, .. } if code == "invalid_csv"));
    }

    #[test]
    fn validation_rejects_missing_csv_and_bad_options() {
        let errs = CsvSummary
            .validate(&json!({"delimiter": ",,", "has_header": "yes"}))
            .unwrap_err();
        let pointers: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/input/csv", "/input/delimiter", "/input/has_header"]
        );
        assert!(CsvSummary.validate(&json!({"csv": 5})).is_err());
        assert!(CsvSummary.validate(&json!({"csv": "a\n1"})).is_ok());
    }
}
