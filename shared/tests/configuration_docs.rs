//! `docs/configuration.md` against the code that reads the environment (`config.rs`), so
//! the two cannot drift: the variables read are exactly the variables documented, every
//! documented default is the code's (setting it changes nothing, setting another value
//! changes something), and every documented range's ends are accepted and the values just
//! past them refused.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use accepted_core::config::{Config, WebhookConfig};

const DOC: &str = include_str!("../../docs/configuration.md");

#[derive(Debug)]
struct Row {
    name: String,
    default: String,
    range: String,
}

/// The rows of the table under `## {section}`.
fn table(section: &str) -> Vec<Row> {
    let start = DOC
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("no section {section}"));
    let rest = &DOC[start + section.len() + 5..];
    let body = rest.split("\n## ").next().unwrap_or(rest);
    body.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "variable, default, range, meaning: {line}");
            Row {
                name: cells[0].trim_matches('`').to_owned(),
                default: cells[1].to_owned(),
                range: cells[2].to_owned(),
            }
        })
        .collect()
}

type Env = HashMap<String, String>;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The names a reader asks for, with `base` set.
fn names_read<T, E>(
    base: &Env,
    read: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> BTreeSet<String> {
    let seen = RefCell::new(BTreeSet::new());
    let lookup = |name: &str| {
        seen.borrow_mut().insert(name.to_owned());
        base.get(name).cloned()
    };
    let _ = read(&lookup);
    seen.into_inner()
}

/// A documented default as the value to set: a number, or the text in backticks.
fn default_value(row: &Row) -> Option<String> {
    let d = row.default.as_str();
    if d.parse::<u64>().is_ok() {
        Some(d.to_owned())
    } else if d.starts_with('`') && d.ends_with('`') && d.len() > 2 {
        Some(d.trim_matches('`').to_owned())
    } else {
        None
    }
}

/// Checks one table against its reader.
fn check<T: PartialEq + std::fmt::Debug, E: std::fmt::Debug>(
    section: &str,
    base: Env,
    read: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) {
    let rows = table(section);
    let documented: BTreeSet<String> = rows.iter().map(|r| r.name.clone()).collect();
    assert_eq!(
        documented.len(),
        rows.len(),
        "{section}: a variable documented twice"
    );
    assert_eq!(
        names_read(&base, &read),
        documented,
        "{section}: read ≠ documented"
    );

    let with = |extra: &[(&str, String)]| {
        let mut e = base.clone();
        for (k, v) in extra {
            e.insert((*k).to_owned(), v.clone());
        }
        read(&|name: &str| e.get(name).cloned())
    };
    let reference = with(&[]).expect("the base environment is valid");
    let mut checked_defaults = 0;
    for row in &rows {
        let name = row.name.as_str();
        if let Some(value) = default_value(row) {
            let set = with(&[(name, value.clone())]);
            assert_eq!(
                set.as_ref().ok(),
                Some(&reference),
                "{name}: documented default {value}"
            );
            checked_defaults += 1;
        }
        if let Some((low, high)) = row.range.split_once('–') {
            let (low, high): (u64, u64) = (
                low.parse().expect("low end"),
                high.parse().expect("high end"),
            );
            assert!(
                with(&[(name, low.to_string())]).is_ok(),
                "{name}={low} is in range"
            );
            assert!(
                with(&[(name, high.to_string())]).is_ok(),
                "{name}={high} is in range"
            );
            assert!(
                with(&[(name, (high + 1).to_string())]).is_err(),
                "{name}={} is refused",
                high + 1
            );
            if low > 0 {
                assert!(
                    with(&[(name, (low - 1).to_string())]).is_err(),
                    "{name}={} is refused",
                    low - 1
                );
            }
            // The variable is really used: a value other than the default changes the result.
            let other = if row.default == low.to_string() {
                high
            } else {
                low
            };
            assert_ne!(
                with(&[(name, other.to_string())]).ok().as_ref(),
                Some(&reference),
                "{name} is read"
            );
        } else if row.range.contains(", ") {
            for choice in row.range.split(", ") {
                let choice = choice.trim_matches('`');
                assert!(
                    with(&[(name, choice.to_owned())]).is_ok(),
                    "{name}={choice} is accepted"
                );
            }
            assert!(
                with(&[(name, "surely-not".to_owned())]).is_err(),
                "{name}: anything else is refused"
            );
        }
    }
    assert!(checked_defaults > 5, "{section}: the defaults were checked");
}

#[test]
fn the_functions_table_is_what_config_reads() {
    check("The functions", env(&[("JOBS_TABLE", "jobs")]), |lookup| {
        Config::from_lookup(lookup)
    });
    assert!(
        Config::from_lookup(|_| None).is_err(),
        "JOBS_TABLE is required"
    );
}

#[test]
fn the_webhook_table_is_what_webhook_config_reads() {
    let base = env(&[
        ("WEBHOOK_QUEUE_URL", "https://q"),
        ("WEBHOOK_SECRET", "whsec_dGVzdA=="),
    ]);
    check("Webhook delivery", base, |lookup| {
        WebhookConfig::from_lookup(lookup)
    });
    assert!(
        WebhookConfig::from_lookup(|_| None).is_err(),
        "WEBHOOK_QUEUE_URL is required"
    );
}
