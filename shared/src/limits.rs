//! Structural limits on client JSON, checked after parsing and before anything is written.
//!
//! The body size bounds the bytes; these bound the shape, so that no input can make a handler,
//! the item encoder or a consumer of the lifecycle events recurse deeply or walk a huge tree.
//! Both `POST /jobs` and job requests from other producers are held to them.

use serde_json::Value;

use crate::problem::FieldError;

/// Deepest nesting of arrays and objects, counting the document itself as level 1.
pub const MAX_DEPTH: usize = 32;
/// Most values (object members and array elements, at every level) in one document.
pub const MAX_NODES: usize = 10_000;
/// Longest object key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

/// The first limit `value` breaks, located by a JSON Pointer under `at`.
pub fn check(value: &Value, at: &str) -> Result<(), FieldError> {
    let mut nodes = 0;
    walk(value, at, 1, &mut nodes)
}

fn walk(value: &Value, at: &str, depth: usize, nodes: &mut usize) -> Result<(), FieldError> {
    let nested = matches!(value, Value::Array(_) | Value::Object(_));
    if nested && depth > MAX_DEPTH {
        return Err(FieldError::new(
            at,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{at}/{i}");
                count(nodes, &here)?;
                walk(item, &here, depth + 1, nodes)?;
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                let here = format!("{at}/{}", escape(key));
                if key.len() > MAX_KEY_BYTES {
                    return Err(FieldError::new(
                        at,
                        format!("has a key longer than {MAX_KEY_BYTES} bytes"),
                    ));
                }
                count(nodes, &here)?;
                walk(member, &here, depth + 1, nodes)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn count(nodes: &mut usize, at: &str) -> Result<(), FieldError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(FieldError::new(
            at,
            format!("more than {MAX_NODES} values in one document"),
        ));
    }
    Ok(())
}

/// A key as a JSON Pointer reference token (RFC 6901).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        (1..levels).fold(json!([]), |inner, _| json!([inner]))
    }

    #[test]
    fn depth_is_bounded_and_the_pointer_names_where() {
        assert!(check(&nested(MAX_DEPTH), "/input").is_ok());
        let err = check(&nested(MAX_DEPTH + 1), "/input").unwrap_err();
        assert_eq!(err.pointer, format!("/input{}", "/0".repeat(MAX_DEPTH)));
    }

    #[test]
    fn values_are_counted_at_every_level() {
        let flat = Value::Array(vec![json!(1); MAX_NODES]);
        assert!(check(&flat, "").is_ok());
        let wide = json!({"a": vec![json!(1); MAX_NODES - 1], "b": 2});
        let err = check(&wide, "").unwrap_err();
        assert_eq!(err.pointer, "/b");
    }

    #[test]
    fn long_keys_are_refused_and_keys_are_escaped_in_pointers() {
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        let err = check(&json!({"a/b": {long: 1}}), "/input").unwrap_err();
        assert_eq!(err.pointer, "/input/a~1b");
        assert!(check(&json!({"k".repeat(MAX_KEY_BYTES): 1}), "").is_ok());
    }
}
