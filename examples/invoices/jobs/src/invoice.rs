//! The invoice a client submits, checked field by field, and the arithmetic of its totals.
//!
//! Money is integer minor units (cents), never floating point: a line is `quantity ×
//! unit_price`, tax is computed once per rate on the sum of that rate's lines and rounded half
//! up, so the totals match what an accountant computes by hand. Every amount must stay a JSON
//! safe integer (≤ 2^53 − 1), so no client's parser rounds it.

use accepted_job::FieldError;
use serde_json::{Map, Value};
use time::{Date, Duration};

/// Lines per invoice: what one rendering handles comfortably inside the worker's time limit.
pub const MAX_LINES: usize = 500;
/// Largest amount a client's JSON parser represents exactly (2^53 − 1).
pub const MAX_AMOUNT: u128 = 9_007_199_254_740_991;
const MAX_QUANTITY: u64 = 1_000_000;
const MAX_UNIT_PRICE: u64 = 1_000_000_000_000;
/// 100 % in basis points.
const MAX_TAX_RATE_BP: u64 = 10_000;
const MAX_TEXT_CHARS: usize = 200;
const MAX_ADDRESS_LINES: usize = 6;
const MAX_DUE_DAYS: u64 = 365;

/// A party on the invoice: who sells, who pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub address: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub description: String,
    pub quantity: u64,
    /// Minor units per item.
    pub unit_price: u64,
    pub tax_rate_bp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub number: String,
    pub currency: String,
    pub issued_on: Date,
    pub due_on: Date,
    pub seller: Party,
    pub buyer: Party,
    pub lines: Vec<Line>,
    pub notes: Option<String>,
}

/// The tax of one rate: the base it applies to and the rounded amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxGroup {
    pub rate_bp: u64,
    pub base: u128,
    pub tax: u128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: u128,
    pub taxes: Vec<TaxGroup>,
    pub tax: u128,
    pub total: u128,
}

/// Why the totals cannot be stated: an amount past [`MAX_AMOUNT`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the invoice's {what} exceeds {MAX_AMOUNT} minor units")]
pub struct AmountTooLarge {
    pub what: &'static str,
}

impl Invoice {
    /// The invoice in `input`, or every problem with it, each at its JSON Pointer.
    pub fn parse(input: &Value) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::default();
        let obj = f.object(input, "/input", &ALLOWED);
        let invoice = obj.and_then(|obj| f.invoice(obj));
        match invoice {
            Some(invoice) if f.errors.is_empty() => Ok(invoice),
            _ => Err(f.errors),
        }
    }

    /// Minor-unit digits of the currency (ISO 4217): what `1234` means as a decimal.
    pub fn minor_digits(&self) -> u32 {
        match self.currency.as_str() {
            "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "UGX" | "XAF" | "XOF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }

    /// Subtotal, tax per rate (rounded half up, once per rate) and total.
    pub fn totals(&self) -> Result<Totals, AmountTooLarge> {
        let mut taxes: Vec<TaxGroup> = Vec::new();
        let mut subtotal = 0u128;
        for line in &self.lines {
            let amount = line_amount(line);
            subtotal += amount;
            match taxes.iter_mut().find(|g| g.rate_bp == line.tax_rate_bp) {
                Some(group) => group.base += amount,
                None => taxes.push(TaxGroup {
                    rate_bp: line.tax_rate_bp,
                    base: amount,
                    tax: 0,
                }),
            }
        }
        taxes.sort_by_key(|g| g.rate_bp);
        for group in &mut taxes {
            group.tax = (group.base * u128::from(group.rate_bp) + 5_000) / 10_000;
        }
        let tax = taxes.iter().map(|g| g.tax).sum::<u128>();
        let total = subtotal + tax;
        for (what, amount) in [("subtotal", subtotal), ("tax", tax), ("total", total)] {
            if amount > MAX_AMOUNT {
                return Err(AmountTooLarge { what });
            }
        }
        Ok(Totals {
            subtotal,
            taxes,
            tax,
            total,
        })
    }
}

/// `quantity × unit_price` of a line: at most 10^18, no overflow in `u128`.
pub fn line_amount(line: &Line) -> u128 {
    u128::from(line.quantity) * u128::from(line.unit_price)
}

const ALLOWED: [&str; 8] = [
    "number",
    "currency",
    "issued_on",
    "due_days",
    "seller",
    "buyer",
    "lines",
    "notes",
];

/// Collects every problem of the input, each at its pointer, so a client fixes them at once.
#[derive(Default)]
struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    fn fail(&mut self, pointer: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, message));
    }

    fn object<'a>(
        &mut self,
        value: &'a Value,
        at: &str,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Some(obj) = value.as_object() else {
            self.fail(at, "must be a JSON object");
            return None;
        };
        for key in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
            let pointer = format!("{at}/{}", accepted_job::input::escape_pointer(key));
            self.fail(
                &pointer,
                format!("unknown field; allowed: {}", allowed.join(", ")),
            );
        }
        Some(obj)
    }

    /// A required string of 1 to `max` characters with no control characters.
    fn text(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        key: &str,
        max: usize,
    ) -> Option<String> {
        let pointer = format!("{at}/{key}");
        let Some(value) = obj.get(key) else {
            self.fail(&pointer, "is required");
            return None;
        };
        self.text_value(value, &pointer, max)
    }

    fn text_value(&mut self, value: &Value, pointer: &str, max: usize) -> Option<String> {
        match value.as_str() {
            Some(s)
                if !s.trim().is_empty()
                    && s.chars().count() <= max
                    && !s.chars().any(char::is_control) =>
            {
                Some(s.to_owned())
            }
            _ => {
                self.fail(
                    pointer,
                    format!("must be text of 1 to {max} characters, without control characters"),
                );
                None
            }
        }
    }

    fn integer(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let pointer = format!("{at}/{key}");
        let Some(value) = obj.get(key) else {
            self.fail(&pointer, "is required");
            return None;
        };
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.fail(&pointer, format!("must be an integer from {min} to {max}"));
                None
            }
        }
    }

    fn invoice(&mut self, obj: &Map<String, Value>) -> Option<Invoice> {
        let number = self.text(obj, "/input", "number", 32);
        if let Some(n) = &number {
            if !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c))
            {
                self.fail("/input/number", "may hold only letters, digits and - _ / .");
            }
        }
        let currency = self.text(obj, "/input", "currency", 3);
        if let Some(c) = &currency {
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                self.fail(
                    "/input/currency",
                    "must be an ISO 4217 code such as EUR or JPY",
                );
            }
        }
        let issued_on = self.text(obj, "/input", "issued_on", 10).and_then(|s| {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            Date::parse(&s, format).ok().or_else(|| {
                self.fail("/input/issued_on", "must be a calendar date, YYYY-MM-DD");
                None
            })
        });
        let due_days = match obj.get("due_days") {
            None => Some(30),
            Some(_) => self.integer(obj, "/input", "due_days", 0, MAX_DUE_DAYS),
        };
        let seller = self.party(obj, "seller");
        let buyer = self.party(obj, "buyer");
        let lines = self.lines(obj);
        let notes = match obj.get("notes") {
            None => Some(None),
            Some(value) => self.text_value(value, "/input/notes", 2_000).map(Some),
        };
        let issued_on = issued_on?;
        let due_on = issued_on.checked_add(Duration::days(i64::try_from(due_days?).ok()?))?;
        Some(Invoice {
            number: number?,
            currency: currency?,
            issued_on,
            due_on,
            seller: seller?,
            buyer: buyer?,
            lines: lines?,
            notes: notes?,
        })
    }

    fn party(&mut self, obj: &Map<String, Value>, key: &str) -> Option<Party> {
        let at = format!("/input/{key}");
        let Some(value) = obj.get(key) else {
            self.fail(&at, "is required");
            return None;
        };
        let party = self.object(value, &at, &["name", "address"])?;
        let name = self.text(party, &at, "name", MAX_TEXT_CHARS);
        let address = match party.get("address") {
            None => Some(Vec::new()),
            Some(Value::Array(lines)) if lines.len() <= MAX_ADDRESS_LINES => lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    self.text_value(line, &format!("{at}/address/{i}"), MAX_TEXT_CHARS)
                })
                .collect::<Vec<_>>()
                .into_iter()
                .collect(),
            Some(_) => {
                self.fail(
                    &format!("{at}/address"),
                    format!("must be a list of at most {MAX_ADDRESS_LINES} lines"),
                );
                None
            }
        };
        Some(Party {
            name: name?,
            address: address?,
        })
    }

    fn lines(&mut self, obj: &Map<String, Value>) -> Option<Vec<Line>> {
        let lines = match obj.get("lines") {
            Some(Value::Array(lines)) if !lines.is_empty() && lines.len() <= MAX_LINES => lines,
            _ => {
                self.fail(
                    "/input/lines",
                    format!("must be a list of 1 to {MAX_LINES} lines"),
                );
                return None;
            }
        };
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| self.line(line, &format!("/input/lines/{i}")))
            .collect::<Vec<_>>()
            .into_iter()
            .collect()
    }

    fn line(&mut self, value: &Value, at: &str) -> Option<Line> {
        let line = self.object(
            value,
            at,
            &["description", "quantity", "unit_price", "tax_rate_bp"],
        )?;
        let description = self.text(line, at, "description", MAX_TEXT_CHARS);
        let quantity = self.integer(line, at, "quantity", 1, MAX_QUANTITY);
        let unit_price = self.integer(line, at, "unit_price", 0, MAX_UNIT_PRICE);
        let tax_rate_bp = match line.get("tax_rate_bp") {
            None => Some(0),
            Some(_) => self.integer(line, at, "tax_rate_bp", 0, MAX_TAX_RATE_BP),
        };
        Some(Line {
            description: description?,
            quantity: quantity?,
            unit_price: unit_price?,
            tax_rate_bp: tax_rate_bp?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::sample;
    use serde_json::json;

    #[test]
    fn a_valid_invoice_parses_with_its_defaults() {
        let invoice = Invoice::parse(&sample()).expect("valid");
        assert_eq!(invoice.due_on.to_string(), "2026-12-31");
        assert_eq!(invoice.lines.len(), 3);
        assert_eq!(invoice.notes, None);
        assert_eq!(invoice.minor_digits(), 2);
    }

    #[test]
    fn tax_is_rounded_half_up_once_per_rate() {
        let invoice = Invoice::parse(&sample()).expect("valid");
        let totals = invoice.totals().expect("in range");
        assert_eq!(totals.subtotal, 360_000 + 85_000 + 9_998);
        // 12 % of 99.98 is 11.9976: 12.00, not the 11.99 + … of rounding per line.
        assert_eq!(
            totals.taxes,
            [
                TaxGroup {
                    rate_bp: 1_200,
                    base: 9_998,
                    tax: 1_200
                },
                TaxGroup {
                    rate_bp: 2_500,
                    base: 445_000,
                    tax: 111_250
                },
            ]
        );
        assert_eq!(totals.tax, 112_450);
        assert_eq!(totals.total, 454_998 + 112_450);
    }

    #[test]
    fn every_problem_is_reported_at_its_pointer() {
        let mut input = sample();
        input["currency"] = json!("euro");
        input["issued_on"] = json!("2026-02-30");
        input["seller"]["address"][1] = json!(7);
        input["lines"][1]["quantity"] = json!(0);
        input["lines"][2]["colour"] = json!("red");
        input["buyer"] = json!("someone");
        let errors = Invoice::parse(&input).expect_err("invalid");
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/input/currency",
                "/input/issued_on",
                "/input/seller/address/1",
                "/input/buyer",
                "/input/lines/1/quantity",
                "/input/lines/2/colour",
            ]
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let errors = Invoice::parse(&json!({"number": "A1", "extra": true})).expect_err("invalid");
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/input/extra",
                "/input/currency",
                "/input/issued_on",
                "/input/seller",
                "/input/buyer",
                "/input/lines"
            ]
        );
        assert!(Invoice::parse(&json!([1])).is_err());
    }

    #[test]
    fn totals_past_a_json_safe_integer_are_refused() {
        let mut input = sample();
        let line =
            json!({"description": "x", "quantity": 1_000_000, "unit_price": 1_000_000_000_000u64});
        input["lines"] = json!([line.clone(), line]);
        let invoice = Invoice::parse(&input).expect("each field is in range");
        assert_eq!(invoice.totals(), Err(AmountTooLarge { what: "subtotal" }));
    }

    #[test]
    fn currencies_have_their_minor_units() {
        let mut input = sample();
        for (code, digits) in [("JPY", 0), ("KWD", 3), ("USD", 2)] {
            input["currency"] = json!(code);
            assert_eq!(
                Invoice::parse(&input).expect("valid").minor_digits(),
                digits,
                "{code}"
            );
        }
    }
}
