//! The `Idempotency-Key` request header, as the IETF httpapi draft (draft-09) defines it: a
//! Structured Field Item whose value is a String (RFC 9651), `Idempotency-Key: "8e03978e"`.
//!
//! Clients written against Stripe's API and earlier drafts send the key bare
//! (`Idempotency-Key: 8e03978e`), so both forms are read, and they name the same key: `"abc"`
//! and `abc` replay each other's job. One alphabet holds for every key, however it arrived
//! (a header, a producer's queue message): 1 to 255 visible ASCII characters. A value that is
//! neither form is refused, never ignored or read as something else.

use std::fmt;

use crate::ids::IdempotencyKey;

/// Why an `Idempotency-Key` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeaderError {
    Alphabet,
    MalformedString,
    Parameters,
}

impl KeyHeaderError {
    /// The reason a client reads in the problem document.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Alphabet => "must be 1 to 255 visible ASCII characters",
            Self::MalformedString => {
                r#"a quoted key must be a structured-field string: "...", with only \" and \\ escaped"#
            }
            Self::Parameters => r#"takes no parameters: send the key alone, as "key""#,
        }
    }
}

impl fmt::Display for KeyHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for KeyHeaderError {}

/// The key a header value names: a structured-field String, or a bare key.
pub fn parse_key_header(value: &str) -> Result<IdempotencyKey, KeyHeaderError> {
    // Structured-field parsing discards surrounding spaces; HTTP trims tabs as well.
    let value = value.trim_matches([' ', '\t']);
    let key = match value.strip_prefix('"') {
        Some(quoted) => sf_string(quoted)?,
        None => value.to_owned(),
    };
    IdempotencyKey::parse(&key).ok_or(KeyHeaderError::Alphabet)
}

/// `key` as the header's value, a structured-field String: what this project's own clients send.
pub fn key_header_value(key: &IdempotencyKey) -> String {
    let mut value = String::with_capacity(key.as_str().len() + 2);
    value.push('"');
    for c in key.as_str().chars() {
        if matches!(c, '"' | '\\') {
            value.push('\\');
        }
        value.push(c);
    }
    value.push('"');
    value
}

/// The content of a String whose opening quote is already consumed (RFC 9651 §4.2.5), with
/// nothing but spaces after its closing quote.
fn sf_string(rest: &str) -> Result<String, KeyHeaderError> {
    let mut key = String::new();
    let mut chars = rest.chars();
    loop {
        match chars.next() {
            None => return Err(KeyHeaderError::MalformedString),
            Some('\\') => match chars.next() {
                Some(escaped @ ('"' | '\\')) => key.push(escaped),
                _ => return Err(KeyHeaderError::MalformedString),
            },
            Some('"') => break,
            // A String holds printable ASCII only (%x20-7E).
            Some(c @ ' '..='~') => key.push(c),
            Some(_) => return Err(KeyHeaderError::MalformedString),
        }
    }
    match chars.as_str().trim_start_matches(' ') {
        "" => Ok(key),
        // The draft defines no parameters for this field.
        after if after.starts_with(';') => Err(KeyHeaderError::Parameters),
        _ => Err(KeyHeaderError::MalformedString),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Result<String, KeyHeaderError> {
        parse_key_header(value).map(|k| k.as_str().to_owned())
    }

    #[test]
    fn the_string_form_and_the_bare_form_name_the_same_key() {
        assert_eq!(key("\"abc\""), Ok("abc".into()));
        assert_eq!(key("abc"), Ok("abc".into()));
        assert_eq!(key("  \"abc\" "), Ok("abc".into()));
        assert_eq!(
            key("\"8e03978e-40d5-43e8-bc93-6894a57f9324\""),
            Ok("8e03978e-40d5-43e8-bc93-6894a57f9324".into())
        );
    }

    #[test]
    fn escapes_are_undone() {
        assert_eq!(key(r#""a\"b""#), Ok("a\"b".into()));
        assert_eq!(key(r#""a\\b""#), Ok("a\\b".into()));
        // A bare key is taken as it is, quotes and backslashes included.
        assert_eq!(key(r#"a"b\c"#), Ok(r#"a"b\c"#.into()));
    }

    #[test]
    fn malformed_strings_are_refused() {
        for bad in [
            "\"abc",
            "\"abc\"def",
            r#""a\b""#,
            "\"a\u{7f}b\"",
            "\"é\"",
            r#""abc\""#,
        ] {
            assert_eq!(key(bad), Err(KeyHeaderError::MalformedString), "{bad:?}");
        }
        assert_eq!(key("\"abc\";v=1"), Err(KeyHeaderError::Parameters));
    }

    #[test]
    fn a_key_sent_as_a_string_reads_back_as_itself() {
        for raw in ["abc", r#"a"b"#, r"a\b", r#"\""#, &"k".repeat(255)] {
            let key = IdempotencyKey::parse(raw).unwrap();
            let value = key_header_value(&key);
            assert!(value.starts_with('"') && value.ends_with('"'), "{value}");
            assert_eq!(parse_key_header(&value), Ok(key), "{value}");
        }
        assert_eq!(
            key_header_value(&IdempotencyKey::parse(r#"a"b"#).unwrap()),
            r#""a\"b""#
        );
    }

    #[test]
    fn every_key_keeps_one_alphabet_and_length() {
        for bad in ["", "\"\"", "\"a b\"", "a b", "clé", &"k".repeat(256)] {
            assert_eq!(key(bad), Err(KeyHeaderError::Alphabet), "{bad:?}");
        }
        let longest = "k".repeat(255);
        assert_eq!(key(&format!("\"{longest}\"")), Ok(longest));
    }
}
