//! A field-level validation error, as the API's `422` problem lists them.

use serde::Serialize;

/// A field-level validation error; `pointer` is a JSON Pointer (RFC 6901) into the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}
