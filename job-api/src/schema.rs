//! JSON Schema (draft 2020-12) checks of a job's input and result.
//!
//! A schema is compiled once, when its type is registered, so a schema that is not valid
//! 2020-12 fails at start, never at the first request. The compiled form refuses what the
//! schema refuses with one [`FieldError`] per problem, each with a JSON Pointer into the
//! request, the same shape a hand-written [`JobHandler::validate`](crate::JobHandler::validate)
//! returns. `format` is asserted, not just annotated: a schema that says `"format": "date"`
//! means it. References resolve only inside the schema itself: nothing is fetched from a
//! file or the network.

use std::fmt;

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::Value;
use thiserror::Error;

use crate::field::FieldError;

/// Most problems reported for one document; past it the answer says how many were left out.
pub const MAX_REPORTED_ERRORS: usize = 50;

/// A compiled draft 2020-12 schema.
pub struct Schema {
    source: Value,
    validator: Validator,
}

/// A schema that cannot be compiled: not valid 2020-12, or it refers to a document outside
/// itself.
#[derive(Debug, Error)]
#[error("not a usable JSON Schema (draft 2020-12): {0}")]
pub struct SchemaError(String);

impl Schema {
    pub fn compile(source: Value) -> Result<Self, SchemaError> {
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&source)
            .map_err(|err| SchemaError(err.to_string()))?;
        Ok(Self { source, validator })
    }

    /// The schema as it was declared.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Every problem with `instance`, pointers prefixed with `base` (for example `/input`).
    pub fn check(&self, instance: &Value, base: &str) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut left_out = 0usize;
        for error in self.validator.iter_errors(instance) {
            if errors.len() >= MAX_REPORTED_ERRORS {
                left_out += 1;
                continue;
            }
            let at = format!("{base}{}", error.instance_path().as_str());
            match error.kind() {
                // Point at the missing or unexpected member itself, as hand-written checks do.
                ValidationErrorKind::Required { property } => {
                    let name = property
                        .as_str()
                        .map_or_else(|| property.to_string(), escape);
                    errors.push(FieldError::new(format!("{at}/{name}"), "is required"));
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for name in unexpected {
                        errors.push(FieldError::new(
                            format!("{at}/{}", escape(name)),
                            "unknown field",
                        ));
                    }
                }
                // Masked: the message names the rule, not the value, so a huge or secret
                // input is never echoed back.
                _ => errors.push(FieldError::new(at, error.masked().to_string())),
            }
        }
        if left_out > 0 {
            errors.push(FieldError::new(
                base,
                format!("{left_out} more problems not listed"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schema").field(&self.source).finish()
    }
}

/// RFC 6901 escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_schema() -> Schema {
        Schema::compile(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["sku", "quantity"],
            "additionalProperties": false,
            "properties": {
                "sku": {"type": "string", "minLength": 1},
                "quantity": {"type": "integer", "minimum": 1},
                "ship_on": {"type": "string", "format": "date"},
                "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}}
            },
            "$defs": {"line": {"type": "object", "required": ["a/b"]}}
        }))
        .expect("compiles")
    }

    fn pointers(result: Result<(), Vec<FieldError>>) -> Vec<String> {
        let mut pointers: Vec<_> = result
            .expect_err("refused")
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        pointers.sort();
        pointers
    }

    #[test]
    fn valid_input_passes() {
        let schema = order_schema();
        assert!(schema
            .check(
                &json!({"sku": "A-1", "quantity": 2, "ship_on": "2026-12-02"}),
                "/input"
            )
            .is_ok());
    }

    #[test]
    fn each_problem_has_a_pointer_into_the_request() {
        let schema = order_schema();
        let refused = schema.check(
            &json!({"quantity": 0, "ship_on": "tomorrow", "colour": "red", "lines": [{}, {"a/b": 1}, {}]}),
            "/input",
        );
        assert_eq!(
            pointers(refused),
            [
                "/input/colour",
                "/input/lines/0/a~1b",
                "/input/lines/2/a~1b",
                "/input/quantity",
                "/input/ship_on",
                "/input/sku",
            ]
        );
    }

    #[test]
    fn messages_name_the_rule_not_the_value() {
        let schema = order_schema();
        let secret = "s3cr3t-".repeat(100);
        let refused = schema
            .check(&json!({"sku": "A", "quantity": secret}), "/input")
            .expect_err("refused");
        assert_eq!(refused.len(), 1);
        assert!(!refused[0].message.contains("s3cr3t"), "{:?}", refused[0]);
        assert!(refused[0].message.contains("integer"), "{:?}", refused[0]);
    }

    #[test]
    fn a_flood_of_problems_is_cut_short_and_counted() {
        let schema = Schema::compile(json!({"type": "array", "items": {"type": "string"}}))
            .expect("compiles");
        let refused = schema
            .check(&json!(vec![1; 80]), "/input")
            .expect_err("refused");
        assert_eq!(refused.len(), MAX_REPORTED_ERRORS + 1);
        assert_eq!(refused[MAX_REPORTED_ERRORS].pointer, "/input");
        assert_eq!(
            refused[MAX_REPORTED_ERRORS].message,
            "30 more problems not listed"
        );
    }

    #[test]
    fn schemas_that_are_not_2020_12_or_reach_outside_are_refused() {
        assert!(Schema::compile(json!({"type": "no-such-type"})).is_err());
        assert!(Schema::compile(json!({"minimum": "one"})).is_err());
        assert!(Schema::compile(json!({"$ref": "https://example.com/schema.json"})).is_err());
        assert!(Schema::compile(json!({"$ref": "file:///etc/passwd"})).is_err());
    }
}
