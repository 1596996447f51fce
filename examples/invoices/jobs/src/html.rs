//! The invoice as one self-contained HTML document (inline style, no scripts, no external
//! resources), ready to archive, e-mail or print to PDF.
//!
//! Every text of the client's goes through [`escape`]: an invoice is often shown in a
//! back-office page, and a buyer named `<script>` must stay a name.

use std::fmt::Write;

use crate::invoice::{line_amount, Invoice, Totals};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse;width:100%}th,td{padding:.4rem;border-bottom:1px solid #ddd}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.parties{display:flex;gap:4rem}";

/// Text safe inside an HTML element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `amount` minor units as a decimal with `digits` places: `123456` with 2 is `1234.56`.
pub fn money(amount: u128, digits: u32) -> String {
    if digits == 0 {
        return amount.to_string();
    }
    let unit = 10u128.pow(digits);
    format!(
        "{}.{:0width$}",
        amount / unit,
        amount % unit,
        width = digits as usize
    )
}

/// A rate in basis points as a percentage: `2500` is `25`, `1250` is `12.5`.
fn percent(rate_bp: u64) -> String {
    let whole = rate_bp / 100;
    match rate_bp % 100 {
        0 => whole.to_string(),
        frac if frac % 10 == 0 => format!("{whole}.{}", frac / 10),
        frac => format!("{whole}.{frac:02}"),
    }
}

/// Renders the invoice; `each_line` is called after each line (progress, cancellation) and
/// stops the rendering when it returns `false`.
pub fn render(
    invoice: &Invoice,
    totals: &Totals,
    mut each_line: impl FnMut(usize) -> bool,
) -> Option<String> {
    let digits = invoice.minor_digits();
    let currency = escape(&invoice.currency);
    let mut html = String::with_capacity(2_048 + invoice.lines.len() * 160);
    // Writing to a String cannot fail.
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Invoice {number}</title><style>{STYLE}</style></head><body>\n\
<h1>Invoice {number}</h1>\n<p>Issued {issued} · due {due}</p>\n<div class=\"parties\">",
        number = escape(&invoice.number),
        issued = invoice.issued_on,
        due = invoice.due_on,
    );
    for (role, party) in [("From", &invoice.seller), ("To", &invoice.buyer)] {
        let _ = write!(html, "<div><h2>{role}</h2><p>{}", escape(&party.name));
        for line in &party.address {
            let _ = write!(html, "<br>{}", escape(line));
        }
        html.push_str("</p></div>");
    }
    html.push_str(
        "</div>\n<table><thead><tr><th>Description</th><th class=\"n\">Quantity</th>\
<th class=\"n\">Unit price</th><th class=\"n\">Tax</th><th class=\"n\">Amount</th></tr></thead><tbody>\n",
    );
    for (i, line) in invoice.lines.iter().enumerate() {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} %</td>\
<td class=\"n\">{}</td></tr>",
            escape(&line.description),
            line.quantity,
            money(u128::from(line.unit_price), digits),
            percent(line.tax_rate_bp),
            money(line_amount(line), digits),
        );
        if !each_line(i + 1) {
            return None;
        }
    }
    let _ = writeln!(
        html,
        "</tbody><tfoot><tr><td colspan=\"4\">Subtotal</td><td class=\"n\">{}</td></tr>",
        money(totals.subtotal, digits)
    );
    for group in &totals.taxes {
        let _ = writeln!(
            html,
            "<tr><td colspan=\"4\">Tax {} % on {}</td><td class=\"n\">{}</td></tr>",
            percent(group.rate_bp),
            money(group.base, digits),
            money(group.tax, digits)
        );
    }
    let _ = writeln!(
        html,
        "<tr><th colspan=\"4\">Total due</th><th class=\"n\">{} {currency}</th></tr></tfoot></table>",
        money(totals.total, digits)
    );
    if let Some(notes) = &invoice.notes {
        let _ = writeln!(html, "<p>{}</p>", escape(notes));
    }
    html.push_str("</body></html>\n");
    Some(html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::sample;

    #[test]
    fn amounts_are_written_in_the_currency_s_minor_units() {
        assert_eq!(money(123_456, 2), "1234.56");
        assert_eq!(money(5, 2), "0.05");
        assert_eq!(money(1_500, 0), "1500");
        assert_eq!(money(1_005, 3), "1.005");
        assert_eq!(percent(2_500), "25");
        assert_eq!(percent(1_250), "12.5");
        assert_eq!(percent(1_234), "12.34");
        assert_eq!(percent(5), "0.05");
    }

    #[test]
    fn the_client_s_text_cannot_become_markup() {
        let mut input = sample();
        input["buyer"]["name"] = "<script>alert('x')</script> & \"co\"".into();
        let invoice = Invoice::parse(&input).expect("valid");
        let totals = invoice.totals().expect("in range");
        let html = render(&invoice, &totals, |_| true).expect("rendered");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;")
        );
    }

    #[test]
    fn the_document_holds_every_line_and_the_totals() {
        let invoice = Invoice::parse(&sample()).expect("valid");
        let totals = invoice.totals().expect("in range");
        let mut seen = Vec::new();
        let html = render(&invoice, &totals, |n| {
            seen.push(n);
            true
        })
        .expect("rendered");
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(html.matches("<tr><td>").count(), 3);
        assert!(html.contains("<td class=\"n\">3</td><td class=\"n\">1200.00</td><td class=\"n\">25 %</td><td class=\"n\">3600.00</td>"));
        assert!(html.contains("Tax 12 % on 99.98</td><td class=\"n\">12.00"));
        assert!(html.contains("Total due</th><th class=\"n\">5674.48 EUR"));
        assert!(html.contains("Issued 2026-12-01 · due 2026-12-31"));
    }

    #[test]
    fn rendering_stops_when_asked() {
        let invoice = Invoice::parse(&sample()).expect("valid");
        let totals = invoice.totals().expect("in range");
        assert_eq!(render(&invoice, &totals, |n| n < 2), None);
    }
}
