//! `accepted types`: what `GET /job-types` lists, as a table, or one type in full.

use std::process::ExitCode;

use crate::cli::TypesArgs;
use crate::client::{ClientError, JobType};
use crate::commands::{client, print_json};

pub async fn types(args: &TypesArgs) -> Result<ExitCode, ClientError> {
    let client = client(&args.api).await?;
    let (list, raw) = client.job_types().await?;
    let Some(name) = &args.name else {
        if args.api.json {
            print_json(&raw);
        } else {
            table(&list.job_types);
        }
        return Ok(ExitCode::SUCCESS);
    };
    let position = list.job_types.iter().position(|t| &t.name == name);
    let Some(position) = position else {
        let known: Vec<&str> = list.job_types.iter().map(|t| t.name.as_str()).collect();
        eprintln!(
            "accepted: no job type {name:?}; this API accepts: {}",
            known.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    };
    if args.api.json {
        print_json(&raw["job_types"][position]);
    } else {
        detail(&list.job_types[position]);
    }
    Ok(ExitCode::SUCCESS)
}

fn table(types: &[JobType]) {
    if types.is_empty() {
        println!("no job types");
        return;
    }
    let width = types.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<width$}  {:>8}  {:>9}  DESCRIPTION",
        "TYPE", "ATTEMPTS", "LIMIT"
    );
    for t in types {
        println!(
            "{:<width$}  {:>8}  {:>9}  {}",
            t.name,
            t.max_attempts,
            limit(t.time_limit_seconds),
            t.description.as_deref().unwrap_or("")
        );
    }
}

fn detail(t: &JobType) {
    println!("{}", t.name);
    if let Some(description) = &t.description {
        println!("  {description}");
    }
    println!("  attempts:   at most {}", t.max_attempts);
    println!("  time limit: {}", limit(t.time_limit_seconds));
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    for (label, value) in [
        ("input schema", &t.input_schema),
        ("result schema", &t.result_schema),
        ("example input", &t.example_input),
    ] {
        if let Some(value) = value {
            println!("  {label}:");
            for line in pretty(value).lines() {
                println!("    {line}");
            }
        }
    }
}

fn limit(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), |s| format!("{s} s"))
}
