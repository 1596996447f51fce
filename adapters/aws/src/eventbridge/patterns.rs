//! Which lifecycle events an EventBridge event pattern can match, read from the pattern.
//!
//! The answer over-approximates: a kind is left out only when no event of that kind from
//! `source` can match, whatever the rest of the event holds. Only `source` and `detail-type`
//! are read; every other field, and every matcher this code does not evaluate (numeric,
//! CIDR, nested `anything-but`), counts as "may match". So a pattern never loses an event
//! it would have matched; at worst an event nobody receives is published.

use serde_json::Value;

use accepted_core::events::JobEventKind;

/// The kinds, from `source`, that `pattern` (a rule's or an archive's `EventPattern`, as
/// JSON text) may match. A pattern that is not valid JSON may match anything.
pub fn kinds_matched(pattern: &str, source: &str) -> Vec<JobEventKind> {
    match serde_json::from_str::<Value>(pattern) {
        Ok(pattern) => matched(&pattern, source),
        Err(_) => JobEventKind::ALL.to_vec(),
    }
}

fn matched(pattern: &Value, source: &str) -> Vec<JobEventKind> {
    let Some(fields) = pattern.as_object() else {
        return JobEventKind::ALL.to_vec();
    };
    if let Some(values) = fields.get("source") {
        if !may_match(values, source) {
            return Vec::new();
        }
    }
    let mut kinds: Vec<JobEventKind> = match fields.get("detail-type") {
        Some(values) => JobEventKind::ALL
            .into_iter()
            .filter(|kind| may_match(values, &kind.event_type()))
            .collect(),
        None => JobEventKind::ALL.to_vec(),
    };
    // `$or` ANDs the fields beside it with the union of its branches.
    if let Some(branches) = fields.get("$or") {
        let Some(branches) = branches.as_array() else {
            return kinds;
        };
        let union: Vec<JobEventKind> = JobEventKind::ALL
            .into_iter()
            .filter(|kind| {
                branches
                    .iter()
                    .any(|branch| matched(branch, source).contains(kind))
            })
            .collect();
        kinds.retain(|kind| union.contains(kind));
    }
    kinds
}

/// Whether the field's matchers (an array; anything else is not evaluated) may accept
/// `value`, a string that the event always has.
fn may_match(matchers: &Value, value: &str) -> bool {
    let Some(matchers) = matchers.as_array() else {
        return true;
    };
    matchers.iter().any(|matcher| match matcher {
        Value::String(exact) => exact == value,
        Value::Object(rule) => rule_may_match(rule, value),
        // Numbers, booleans and null never equal a string.
        _ => false,
    })
}

fn rule_may_match(rule: &serde_json::Map<String, Value>, value: &str) -> bool {
    let Some((operator, operand)) = rule.iter().next() else {
        return true;
    };
    if rule.len() != 1 {
        return true;
    }
    match (operator.as_str(), operand) {
        ("prefix", Value::String(prefix)) => value.starts_with(prefix.as_str()),
        ("suffix", Value::String(suffix)) => value.ends_with(suffix.as_str()),
        ("equals-ignore-case", Value::String(other)) => value.eq_ignore_ascii_case(other),
        ("wildcard", Value::String(glob)) => wildcard(glob, value),
        ("exists", Value::Bool(exists)) => *exists,
        ("anything-but", Value::String(other)) => value != other,
        ("anything-but", Value::Array(others)) => !others.iter().any(|o| o == value),
        // Nested forms (`{"prefix": {"equals-ignore-case": …}}`, `anything-but` a prefix),
        // numeric and CIDR matchers: not evaluated, so they may match.
        _ => true,
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
mod tests {
    use super::*;
    use JobEventKind::*;

    const SOURCE: &str = "accepted.jobs";

    fn kinds(pattern: &str) -> Vec<JobEventKind> {
        kinds_matched(pattern, SOURCE)
    }

    #[test]
    fn the_webhook_rule_matches_the_terminal_events_only() {
        let pattern = r#"{"source": ["accepted.jobs"],
            "detail-type": ["accepted.job.completed", "accepted.job.failed", "accepted.job.cancelled"],
            "detail": {"data": {"callback_url": [{"exists": true}]}}}"#;
        assert_eq!(kinds(pattern), vec![Completed, Failed, Cancelled]);
    }

    #[test]
    fn another_source_matches_nothing_and_no_detail_type_matches_everything() {
        assert_eq!(kinds(r#"{"source": ["aws.s3"]}"#), vec![]);
        assert_eq!(kinds(r#"{"source": ["accepted.jobs"]}"#), JobEventKind::ALL);
        assert_eq!(kinds(r#"{"detail": {"type": ["x"]}}"#), JobEventKind::ALL);
        assert_eq!(
            kinds(r#"{"source": [{"prefix": "accepted."}]}"#),
            JobEventKind::ALL
        );
        assert_eq!(
            kinds_matched(r#"{"source": ["accepted.jobs"]}"#, "other"),
            vec![]
        );
    }

    #[test]
    fn string_matchers_are_evaluated() {
        assert_eq!(
            kinds(r#"{"detail-type": [{"prefix": "accepted.job.c"}]}"#),
            vec![Created, CancelRequested, Completed, Cancelled]
        );
        assert_eq!(
            kinds(r#"{"detail-type": [{"suffix": "ed"}]}"#),
            JobEventKind::ALL
        );
        assert_eq!(
            kinds(r#"{"detail-type": [{"equals-ignore-case": "ACCEPTED.JOB.STARTED"}]}"#),
            vec![Started]
        );
        assert_eq!(
            kinds(r#"{"detail-type": [{"wildcard": "accepted.*.fail*"}]}"#),
            vec![Failed]
        );
        assert_eq!(
            kinds(
                r#"{"detail-type": [{"anything-but": ["accepted.job.created", "accepted.job.started"]}]}"#
            ),
            vec![
                RetryScheduled,
                CancelRequested,
                Completed,
                Failed,
                Cancelled
            ]
        );
        assert_eq!(kinds(r#"{"detail-type": [{"exists": false}]}"#), vec![]);
        assert_eq!(kinds(r#"{"detail-type": [42, null]}"#), vec![]);
    }

    #[test]
    fn what_is_not_evaluated_may_match() {
        for pattern in [
            r#"{"detail-type": [{"prefix": {"equals-ignore-case": "ACCEPTED"}}]}"#,
            r#"{"detail-type": [{"anything-but": {"prefix": "x"}}]}"#,
            r#"{"detail-type": [{"numeric": [">", 0]}]}"#,
            r#"{"detail-type": "accepted.job.created"}"#,
            r#"["not", "an", "object"]"#,
            "not json",
        ] {
            assert_eq!(kinds(pattern), JobEventKind::ALL, "{pattern}");
        }
    }

    #[test]
    fn or_intersects_its_branches_union_with_the_fields_beside_it() {
        let pattern = r#"{"source": ["accepted.jobs"], "$or": [
            {"detail-type": ["accepted.job.started"]},
            {"detail-type": ["accepted.job.failed"], "detail": {"x": ["y"]}}]}"#;
        assert_eq!(kinds(pattern), vec![Started, Failed]);
        let narrowed = r#"{"detail-type": ["accepted.job.failed"], "$or": [
            {"detail-type": ["accepted.job.started"]}, {"detail": {"x": ["y"]}}]}"#;
        assert_eq!(kinds(narrowed), vec![Failed]);
        let elsewhere = r#"{"$or": [{"source": ["aws.s3"]}, {"source": ["aws.ec2"]}]}"#;
        assert_eq!(kinds(elsewhere), vec![]);
    }

    #[test]
    fn wildcards_follow_eventbridge() {
        assert!(wildcard("accepted.job.*", "accepted.job.created"));
        assert!(wildcard("*", "anything"));
        assert!(wildcard("a*b*c", "abc"));
        assert!(!wildcard("a*b*c", "acb"));
        assert!(!wildcard("*ed", "started.x"));
        assert!(wildcard(r"a\*b", "a*b"));
        assert!(!wildcard(r"a\*b", "axb"));
        assert!(wildcard("exact", "exact"));
        assert!(!wildcard("exact", "exactly"));
        assert!(!wildcard("ab*ba", "aba"));
    }
}
