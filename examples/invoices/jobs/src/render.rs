//! `invoice.render`: the job type. It checks the invoice at submit, and in the worker
//! computes its totals and renders it, reporting progress and honouring cancellation.

use accepted_job::{async_trait, FieldError, JobContext, JobFailure, JobHandler, RetryPolicy};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::html;
use crate::invoice::Invoice;

/// Renders an invoice: totals per tax rate and one self-contained HTML document.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvoiceRender;

#[async_trait]
impl JobHandler for InvoiceRender {
    fn job_type(&self) -> &str {
        "invoice.render"
    }

    fn validate(&self, input: &Value) -> Result<(), Vec<FieldError>> {
        Invoice::parse(input).map(drop)
    }

    fn example_input(&self) -> Option<Value> {
        serde_json::from_str(include_str!("../../events/invoice.json")).ok()
    }

    /// Rendering is pure computation: a retry can only help against a crash, so two attempts
    /// are enough whatever the deployment's default.
    fn retry_policy(&self, default: &RetryPolicy) -> RetryPolicy {
        RetryPolicy {
            max_attempts: default.max_attempts.min(2),
            ..*default
        }
    }

    async fn run(&self, ctx: &JobContext, input: &Value) -> Result<Value, JobFailure> {
        // The worker validated the input already; a failure here is a bug, not the client's.
        let invoice = Invoice::parse(input).map_err(|_| {
            JobFailure::permanent("invalid_invoice", "the invoice did not validate")
        })?;
        let totals = invoice
            .totals()
            .map_err(|e| JobFailure::permanent("amount_too_large", e.to_string()))?;
        let lines = invoice.lines.len();
        let rendered = html::render(&invoice, &totals, |done| {
            if done % 50 == 0 || done == lines {
                let percent = u8::try_from(done * 100 / lines).unwrap_or(100);
                let message = format!("rendered {done} of {lines} lines");
                ctx.report_progress(percent, Some(&message));
            }
            !ctx.is_cancelled()
        });
        let Some(document) = rendered else {
            return Err(JobFailure::cancelled());
        };
        let taxes: Vec<Value> = totals
            .taxes
            .iter()
            .map(|g| json!({"rate_bp": g.rate_bp, "base": to_json(g.base), "tax": to_json(g.tax)}))
            .collect();
        Ok(json!({
            "number": invoice.number,
            "currency": invoice.currency,
            "minor_digits": invoice.minor_digits(),
            "issued_on": invoice.issued_on.to_string(),
            "due_on": invoice.due_on.to_string(),
            "subtotal": to_json(totals.subtotal),
            "taxes": taxes,
            "tax": to_json(totals.tax),
            "total": to_json(totals.total),
            "html_sha256": hex(&Sha256::digest(document.as_bytes())),
            "html": document,
        }))
    }
}

/// An amount already checked against `MAX_AMOUNT`, so it fits a `u64`.
fn to_json(amount: u128) -> Value {
    u64::try_from(amount).map_or(Value::Null, Value::from)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::sample;
    use accepted_job::{CorrelationId, JobId};

    fn context() -> (JobContext, accepted_job::AttemptSignals) {
        JobContext::new(JobId::generate(), 1, CorrelationId::generate())
    }

    #[tokio::test]
    async fn renders_the_invoice_with_its_totals_and_a_digest() {
        let (ctx, mut signals) = context();
        let result = InvoiceRender.run(&ctx, &sample()).await.expect("rendered");
        assert_eq!(result["total"], 567_448);
        assert_eq!(result["tax"], 112_450);
        assert_eq!(
            result["taxes"][0],
            json!({"rate_bp": 1200, "base": 9998, "tax": 1200})
        );
        assert_eq!(result["due_on"], "2026-12-31");
        let html = result["html"].as_str().expect("html");
        assert_eq!(result["html_sha256"], hex(&Sha256::digest(html.as_bytes())));
        let progress = signals.next_progress().await;
        assert_eq!(progress.percent, 100);
        assert_eq!(progress.message.as_deref(), Some("rendered 3 of 3 lines"));
    }

    #[tokio::test]
    async fn a_cancelled_job_stops_rendering() {
        let (ctx, signals) = context();
        signals.cancel();
        let err = InvoiceRender
            .run(&ctx, &sample())
            .await
            .expect_err("cancelled");
        assert_eq!(err, JobFailure::cancelled());
    }

    #[tokio::test]
    async fn an_impossible_total_fails_for_good() {
        let (ctx, _signals) = context();
        let mut input = sample();
        let line =
            json!({"description": "x", "quantity": 1_000_000, "unit_price": 1_000_000_000_000u64});
        input["lines"] = json!([line.clone(), line]);
        assert!(
            InvoiceRender.validate(&input).is_ok(),
            "each field is in range"
        );
        let err = InvoiceRender
            .run(&ctx, &input)
            .await
            .expect_err("too large");
        assert!(!err.is_retryable());
        assert_eq!(err.code(), "amount_too_large");
    }

    #[test]
    fn the_example_input_is_valid() {
        let example = InvoiceRender.example_input().expect("an example");
        assert_eq!(InvoiceRender.validate(&example), Ok(()));
        assert_eq!(
            example,
            sample(),
            "the fixture and the tests' invoice are one"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut input = sample();
        input["lines"][0]["unit_price"] = json!(-1);
        let errors = InvoiceRender.validate(&input).expect_err("invalid");
        assert_eq!(errors[0].pointer, "/input/lines/0/unit_price");
    }

    #[test]
    fn at_most_two_attempts() {
        let default = RetryPolicy {
            max_attempts: 5,
            base: std::time::Duration::from_secs(1),
            cap: std::time::Duration::from_secs(60),
        };
        let policy = InvoiceRender.retry_policy(&default);
        assert_eq!(
            policy,
            RetryPolicy {
                max_attempts: 2,
                ..default
            }
        );
        let single = RetryPolicy {
            max_attempts: 1,
            ..default
        };
        assert_eq!(InvoiceRender.retry_policy(&single).max_attempts, 1);
    }
}
