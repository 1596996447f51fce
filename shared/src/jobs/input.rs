//! Small helpers for validating a job's JSON input with precise JSON Pointers.

use serde_json::{Map, Value};

use crate::problem::FieldError;

/// The input as an object whose keys are all in `allowed`.
pub(crate) fn object<'a>(
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
pub(crate) fn optional_u64(
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

pub(crate) fn required_u64(
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

pub(crate) fn optional_str<'a>(
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

pub(crate) fn optional_bool(
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
pub(crate) fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

pub(crate) fn into_result(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
