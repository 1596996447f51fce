//! Whether an EventBridge event pattern may match an event, read from the pattern.
//!
//! The answer over-approximates: an event is left out only when the pattern cannot match
//! it. The entry's `source`, `detail-type` and `detail` are evaluated as EventBridge does
//! (fields ANDed, an array's matchers ORed, an array value matched by any of its elements,
//! `$or` over branches); the fields EventBridge adds itself (`account`, `region`, `time`,
//! `id`, `resources`) and every matcher this code does not evaluate (numeric, CIDR, nested
//! forms) count as "may match". So a pattern never loses an event it would have matched; at
//! worst an event nobody receives is published.

use serde_json::{Map, Value};

/// The fields of an entry that this code knows before EventBridge sees it.
const KNOWN: [&str; 3] = ["source", "detail-type", "detail"];

/// A rule's `EventPattern`, read once.
#[derive(Debug, Clone)]
pub struct Pattern(Option<Value>);

impl Pattern {
    /// A pattern that is not valid JSON may match anything.
    pub fn parse(text: &str) -> Self {
        Self(serde_json::from_str(text).ok())
    }

    /// Whether the pattern may match `entry`, the event as the bus receives it:
    /// `{"source": …, "detail-type": …, "detail": …}`.
    pub fn may_match(&self, entry: &Value) -> bool {
        match &self.0 {
            Some(Value::Object(pattern)) => object_may_match(pattern, Some(entry), true),
            _ => true,
        }
    }
}

/// Each field of `pattern` against the same field of `event` (absent, or not an object:
/// every field is absent). `top` is the entry itself, where only [`KNOWN`] is evaluated.
fn object_may_match(pattern: &Map<String, Value>, event: Option<&Value>, top: bool) -> bool {
    if matches!(event, Some(Value::Array(_))) {
        // Arrays of objects: not evaluated.
        return true;
    }
    pattern.iter().all(|(key, expected)| {
        if key == "$or" {
            return match expected.as_array() {
                Some(branches) => branches.iter().any(|branch| match branch.as_object() {
                    Some(branch) => object_may_match(branch, event, top),
                    None => true,
                }),
                None => true,
            };
        }
        if top && !KNOWN.contains(&key.as_str()) {
            return true;
        }
        let field = event.and_then(|e| e.get(key));
        match expected {
            Value::Array(matchers) => field_may_match(matchers, field),
            Value::Object(nested) => object_may_match(nested, field, false),
            // Not a pattern EventBridge would accept: not evaluated.
            _ => true,
        }
    })
}

/// A leaf's matchers against the event's value there (`None`: the event has no such field).
fn field_may_match(matchers: &[Value], field: Option<&Value>) -> bool {
    match field {
        Some(Value::Array(items)) if items.is_empty() => true,
        Some(Value::Array(items)) => items
            .iter()
            .any(|item| field_may_match(matchers, Some(item))),
        // Matchers apply to leaves; on an object they are not evaluated.
        Some(Value::Object(_)) => true,
        _ => matchers
            .iter()
            .any(|matcher| matcher_may_match(matcher, field)),
    }
}

fn matcher_may_match(matcher: &Value, value: Option<&Value>) -> bool {
    match (matcher, value) {
        (Value::Object(rule), _) => rule_may_match(rule, value),
        (Value::Number(expected), Some(Value::Number(actual))) => {
            expected.as_f64() == actual.as_f64()
        }
        (Value::Array(_), _) => true,
        (expected, Some(actual)) => expected == actual,
        (_, None) => false,
    }
}

fn rule_may_match(rule: &Map<String, Value>, value: Option<&Value>) -> bool {
    let Some((operator, operand)) = rule.iter().next() else {
        return true;
    };
    if rule.len() != 1 {
        return true;
    }
    if let ("exists", Value::Bool(exists)) = (operator.as_str(), operand) {
        // A null value is a value; not evaluated either way.
        return matches!(value, Some(Value::Null)) || value.is_some() == *exists;
    }
    let Some(value) = value else {
        // Content matchers need a value; `anything-but` is not evaluated on a missing one.
        return operator == "anything-but" || !STRING_MATCHERS.contains(&operator.as_str());
    };
    let Value::String(text) = value else {
        return match (operator.as_str(), operand) {
            ("anything-but", Value::Number(_) | Value::Array(_)) => {
                !listed(operand).iter().any(|o| same(o, value))
            }
            _ => true,
        };
    };
    match (operator.as_str(), operand) {
        ("prefix", Value::String(prefix)) => text.starts_with(prefix.as_str()),
        ("suffix", Value::String(suffix)) => text.ends_with(suffix.as_str()),
        ("equals-ignore-case", Value::String(other)) => text.eq_ignore_ascii_case(other),
        ("wildcard", Value::String(glob)) => wildcard(glob, text),
        ("anything-but", Value::String(_) | Value::Array(_)) => {
            !listed(operand).iter().any(|o| same(o, value))
        }
        // Nested forms (`{"prefix": {"equals-ignore-case": …}}`, `anything-but` a prefix),
        // numeric and CIDR matchers: not evaluated, so they may match.
        _ => true,
    }
}

const STRING_MATCHERS: [&str; 4] = ["prefix", "suffix", "equals-ignore-case", "wildcard"];

fn listed(operand: &Value) -> Vec<&Value> {
    match operand {
        Value::Array(values) => values.iter().collect(),
        other => vec![other],
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => a == b,
    }
}

/// EventBridge's `wildcard`: `*` matches any run of characters, `\*` a literal star.
fn wildcard(glob: &str, value: &str) -> bool {
    // Split on unescaped stars; each piece must appear in order.
    let mut pieces: Vec<String> = vec![String::new()];
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => pieces.last_mut().map_or((), |p| p.push(next)),
                None => pieces.last_mut().map_or((), |p| p.push('\\')),
            },
            '*' => pieces.push(String::new()),
            _ => pieces.last_mut().map_or((), |p| p.push(c)),
        }
    }
    let (first, rest) = pieces
        .split_first()
        .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
    let Some(mut remaining) = value.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for piece in middle {
        match remaining.find(piece.as_str()) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last.as_str())
}

#[cfg(test)]
mod tests;
