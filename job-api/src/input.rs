//! Helpers for validating a job's JSON input with precise JSON Pointers.
//!
//! Each helper records what is wrong in `errors` (pointers under `/input`, as the API's `422`
//! shows them) and returns what it could read, so one call of
//! [`JobHandler::validate`](crate::JobHandler::validate) reports every problem at once.
//!
//! ```
//! use accepted_job::input::{into_result, object, optional_str, required_u64};
//! use serde_json::json;
//!
//! let input = json!({"width": 40000, "format": 7, "colour": "red"});
//! let mut errors = Vec::new();
//! if let Some(obj) = object(&input, &["width", "format"], &mut errors) {
//!     required_u64(obj, "width", 10_000, &mut errors);
//!     optional_str(obj, "format", &mut errors);
//! }
//! let pointers: Vec<_> = into_result(errors).unwrap_err().into_iter().map(|e| e.pointer).collect();
//! assert_eq!(pointers, ["/input/colour", "/input/width", "/input/format"]);
//! ```

use serde_json::{Map, Value};

use crate::field::FieldError;

/// The input as an object whose keys are all in `allowed`.
pub fn object<'a>(
    input: &'a Value,
    allowed: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<&'a Map<String, Value>> {
    let Some(obj) = input.as_object() else {
        errors.push(FieldError::new("/input", "must be a JSON object"));
        return None;
    };
    for key in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
        errors.push(FieldError::new(
            format!("/input/{}", escape_pointer(key)),
            format!("unknown field; allowed: {}", allowed.join(", ")),
        ));
    }
    Some(obj)
}

/// An optional unsigned integer field within `0..=max`.
pub fn optional_u64(
    obj: &Map<String, Value>,
    key: &str,
    max: u64,
    errors: &mut Vec<FieldError>,
) -> Option<u64> {
    let value = obj.get(key)?;
    match value.as_u64() {
        Some(n) if n <= max => Some(n),
        _ => {
            errors.push(FieldError::new(
                format!("/input/{key}"),
                format!("must be an integer from 0 to {max}"),
            ));
            None
        }
    }
}

/// A required unsigned integer field within `0..=max`.
pub fn required_u64(
    obj: &Map<String, Value>,
    key: &str,
    max: u64,
    errors: &mut Vec<FieldError>,
) -> Option<u64> {
    if !obj.contains_key(key) {
        errors.push(FieldError::new(format!("/input/{key}"), "is required"));
        return None;
    }
    optional_u64(obj, key, max, errors)
}

/// An optional string field.
pub fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    let value = obj.get(key)?;
    let s = value.as_str();
    if s.is_none() {
        errors.push(FieldError::new(format!("/input/{key}"), "must be a string"));
    }
    s
}

/// An optional boolean field.
pub fn optional_bool(
    obj: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<bool> {
    let value = obj.get(key)?;
    let b = value.as_bool();
    if b.is_none() {
        errors.push(FieldError::new(
            format!("/input/{key}"),
            "must be true or false",
        ));
    }
    b
}

/// RFC 6901 escaping of one reference token.
pub fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// `Ok(())` when nothing was recorded, else every error: what `validate` returns.
pub fn into_result(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
