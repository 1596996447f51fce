//! The idempotency fingerprint: what "the same request" means.
//!
//! Two requests are the same when their job type, input and callback are equal as JSON
//! values, whatever the key order or whitespace. The fingerprint is the SHA-256 of a
//! canonical encoding (keys sorted, no whitespace) so it does not depend on serde_json's
//! map ordering features.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of the canonical form of `(job_type, input, callback_url)`.
pub fn fingerprint(job_type: &str, input: &Value, callback_url: Option<&str>) -> String {
    let mut canonical = String::new();
    canonical.push_str("v1\n");
    canonical.push_str(job_type);
    canonical.push('\n');
    write_canonical(input, &mut canonical);
    canonical.push('\n');
    canonical.push_str(callback_url.unwrap_or(""));
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": 2, "x": 1}], "a": "s"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"s","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_eq!(fingerprint("t", &a, None), fingerprint("t", &b, None));
    }

    #[test]
    fn type_input_and_callback_all_count() {
        let input = json!({"n": 1});
        let base = fingerprint("t", &input, None);
        assert_ne!(base, fingerprint("u", &input, None));
        assert_ne!(base, fingerprint("t", &json!({"n": 2}), None));
        assert_ne!(
            base,
            fingerprint("t", &input, Some("https://example.com/hook"))
        );
        assert_ne!(base, fingerprint("t", &json!([1, 2]), None));
        assert_ne!(
            fingerprint("t", &json!([1, 2]), None),
            fingerprint("t", &json!([2, 1]), None)
        );
        assert_eq!(base.len(), 64);
    }
}
