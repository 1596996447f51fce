//! `invoice-jobs`: the job types of a team that uses `accepted`, in a crate of its own.
//!
//! It depends on `accepted-job` alone (no AWS SDK, no HTTP stack, no database), so it builds
//! in seconds and its tests need no server. Every entry point of the deployment — the Lambda
//! bootstraps in `lambdas/`, the local server in `server/` — is wired from [`registry`], so
//! the API never accepts a type its worker cannot run.
//!
//! ```
//! let registry = invoice_jobs::registry();
//! assert_eq!(registry.types().collect::<Vec<_>>(), ["invoice.render"]);
//! ```

mod html;
mod invoice;
mod render;

use accepted_job::JobRegistry;

pub use invoice::{Invoice, Line, Party, Totals};
pub use render::InvoiceRender;

/// The job types this team runs, for every entry point of its deployment.
pub fn registry() -> JobRegistry {
    JobRegistry::default().with(InvoiceRender)
}

#[cfg(test)]
mod fixtures {
    use serde_json::{json, Value};

    /// The invoice the tests start from (also in `events/submit-invoice.json`).
    pub fn sample() -> Value {
        json!({
            "number": "INV-2026-0042",
            "currency": "EUR",
            "issued_on": "2026-12-01",
            "seller": {"name": "Fjord Analytics AS", "address": ["Storgata 1", "0155 Oslo"]},
            "buyer": {"name": "Lima Foods S.A.C.", "address": ["Av. Larco 345", "Lima 15074"]},
            "lines": [
                {"description": "Data pipeline audit", "quantity": 3, "unit_price": 120_000, "tax_rate_bp": 2_500},
                {"description": "Training day", "quantity": 1, "unit_price": 85_000, "tax_rate_bp": 2_500},
                {"description": "Book: Designing Data-Intensive Applications", "quantity": 2, "unit_price": 4_999, "tax_rate_bp": 1_200}
            ]
        })
    }
}
