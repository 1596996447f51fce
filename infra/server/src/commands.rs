//! The client commands of the `accepted` binary: `submit`, `status`, `wait`, `cancel`,
//! `result`, `jobs` and `types`, against any deployment over HTTP.
//!
//! Exit status: 0 done (for `submit --wait` and `wait`: the job completed), 1 the API refused
//! or could not be reached, 2 a usage error, 3 the job failed, 4 the job was cancelled.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use accepted_core::JobStatus;
use indicatif::{ProgressBar, ProgressDrawTarget};
use serde_json::{json, Value};

use crate::cli::{ApiArgs, Command, JobArgs, JobsArgs, ResultArgs, SubmitArgs};
use crate::client::{
    follow, ApiClient, Auth, ClientError, Followed, Job, JobResult, ListQuery, Polled,
};

pub const EXIT_FAILED: u8 = 3;
pub const EXIT_CANCELLED: u8 = 4;
/// The API holds a long poll at most this long.
const LONG_POLL: u64 = 20;

/// Runs a client command; `None` when `command` is not one.
pub async fn run(command: &Command) -> Option<ExitCode> {
    let (api, outcome) = match command {
        Command::Serve(_) => return None,
        Command::DeployParameters(args) => return Some(crate::deploy_parameters::run(args)),
        Command::Submit(args) => (&args.api, submit(args).await),
        Command::Status(args) => (&args.api, status(args).await),
        Command::Wait(args) => (&args.api, wait(args).await),
        Command::Cancel(args) => (&args.api, cancel(args).await),
        Command::Result(args) => (&args.api, result(args).await),
        Command::Jobs(args) => (&args.api, jobs(args).await),
        Command::Types(args) => (&args.api, crate::types_command::types(args).await),
    };
    Some(match outcome {
        Ok(code) => code,
        Err(err) => {
            if let (true, Some(problem)) = (api.json, err.problem()) {
                print_json(&problem.raw);
            }
            eprintln!("accepted: {err}");
            ExitCode::FAILURE
        }
    })
}

pub(crate) async fn client(api: &ApiArgs) -> Result<ApiClient, ClientError> {
    let auth = if api.iam {
        Auth::sigv4_from_environment().await?
    } else {
        match std::env::var("ACCEPTED_TOKEN") {
            Ok(token) if !token.trim().is_empty() => Auth::Bearer(token.trim().to_owned()),
            _ => Auth::None,
        }
    };
    Ok(
        ApiClient::new(api.url.clone(), auth, Duration::from_secs(api.timeout))?
            .with_correlation_id(api.correlation_id.clone()),
    )
}

async fn submit(args: &SubmitArgs) -> Result<ExitCode, ClientError> {
    let input = read_input(&args.input)?;
    let mut request = json!({ "type": args.job_type, "input": input });
    if let Some(url) = &args.callback {
        request["callback_url"] = Value::String(url.clone());
    }
    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(|| format!("cli-{}", uuid::Uuid::new_v4()));
    let client = client(&args.api).await?;
    let submitted = client.submit(&request, &key).await?;
    let job = &submitted.job;
    if !args.wait {
        if args.api.json {
            print_json(&submitted.raw);
        } else {
            let how = if submitted.replayed {
                "already accepted (same idempotency key)"
            } else {
                "accepted"
            };
            println!("job {} {how}", job.id);
            println!("  type:           {}", job.job_type);
            println!("  status:         {}", job.status.as_str());
            println!("  correlation id: {}", job.correlation_id);
            println!("  follow it:      accepted wait {}", job.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.api.json {
        eprintln!(
            "job {} accepted (correlation id {})",
            job.id, job.correlation_id
        );
    }
    let followed = follow_job(&client, &job.id, &args.api).await?;
    Ok(ended(&followed, args.api.json))
}

async fn status(args: &JobArgs) -> Result<ExitCode, ClientError> {
    let client = client(&args.api).await?;
    match client.job(&args.id, None, None).await? {
        Polled::Changed { job, raw, .. } => {
            if args.api.json {
                print_json(&raw);
            } else {
                describe(&job);
            }
            Ok(ExitCode::SUCCESS)
        }
        Polled::NotModified => Err(ClientError::Unexpected("304 without If-None-Match".into())),
    }
}

async fn wait(args: &JobArgs) -> Result<ExitCode, ClientError> {
    let client = client(&args.api).await?;
    let followed = follow_job(&client, &args.id, &args.api).await?;
    Ok(ended(&followed, args.api.json))
}

async fn cancel(args: &JobArgs) -> Result<ExitCode, ClientError> {
    let client = client(&args.api).await?;
    let (job, raw) = client.cancel(&args.id).await?;
    if args.api.json {
        print_json(&raw);
    } else if job.status == JobStatus::Cancelled {
        println!("job {} cancelled", job.id);
    } else {
        println!(
            "job {} is {}: cancellation requested; its handler stops at its next check",
            job.id,
            job.status.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn result(args: &ResultArgs) -> Result<ExitCode, ClientError> {
    let client = client(&args.api).await?;
    let bytes = match client.result(&args.id).await? {
        JobResult::Inline(bytes) | JobResult::Stored(bytes) => bytes,
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes)
                .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
            eprintln!("{} bytes written to {}", bytes.len(), path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes);
            if !bytes.ends_with(b"\n") {
                let _ = out.write_all(b"\n");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn jobs(args: &JobsArgs) -> Result<ExitCode, ClientError> {
    let client = client(&args.api).await?;
    let query = ListQuery {
        status: args.status,
        job_type: args.job_type.clone(),
        limit: Some(args.limit),
        cursor: args.cursor.clone(),
    };
    let (page, raw) = client.list(&query).await?;
    if args.api.json {
        print_json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    if page.jobs.is_empty() {
        println!("no jobs");
    } else {
        let type_width = page
            .jobs
            .iter()
            .map(|j| j.job_type.len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!(
            "{:<36}  {:<type_width$}  {:<9}  {:>4}  CREATED",
            "ID", "TYPE", "STATUS", "PROG"
        );
        for job in &page.jobs {
            let progress = match (&job.progress, job.status) {
                (_, JobStatus::Completed) => "100%".to_owned(),
                (Some(p), _) => format!("{}%", p.percent),
                (None, _) => "-".to_owned(),
            };
            println!(
                "{:<36}  {:<type_width$}  {:<9}  {:>4}  {}",
                job.id,
                job.job_type,
                job.status.as_str(),
                progress,
                job.created_at
            );
        }
    }
    if let Some(cursor) = &page.next_cursor {
        eprintln!("more: accepted jobs --cursor {cursor}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn follow_job(client: &ApiClient, id: &str, api: &ApiArgs) -> Result<Followed, ClientError> {
    // A long poll must end well inside the request timeout.
    let window = LONG_POLL.min(api.timeout.saturating_sub(5)).max(1) as u32;
    let bar = (!api.json && std::io::stderr().is_terminal())
        .then(|| ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr()));
    follow(client, id, window, bar.as_ref()).await
}

/// How a followed job ended: printed, and as the exit status.
fn ended(followed: &Followed, as_json: bool) -> ExitCode {
    let job = &followed.job;
    if as_json {
        print_json(&followed.raw);
    }
    let seconds = followed.elapsed.as_secs_f64();
    match job.status {
        JobStatus::Completed => {
            if !as_json {
                println!("job {} completed in {seconds:.1} s", job.id);
                println!("  result: accepted result {}", job.id);
            }
            ExitCode::SUCCESS
        }
        JobStatus::Cancelled => {
            eprintln!("accepted: job {} was cancelled", job.id);
            ExitCode::from(EXIT_CANCELLED)
        }
        _ => {
            let why = job
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.code, e.message))
                .unwrap_or_else(|| "no error recorded".to_owned());
            eprintln!(
                "accepted: job {} failed after {} attempt(s): {why}",
                job.id, job.attempts
            );
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn describe(job: &Job) {
    println!("job {}", job.id);
    println!("  type:           {}", job.job_type);
    let progress = job
        .progress
        .as_ref()
        .filter(|_| job.status == JobStatus::Running)
        .map(|p| {
            format!(
                " {}% {}",
                p.percent,
                p.message.as_deref().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    println!(
        "  status:         {}{}",
        job.status.as_str(),
        progress.trim_end()
    );
    println!("  attempts:       {}", job.attempts);
    println!("  created:        {}", job.created_at);
    if let Some(at) = &job.finished_at {
        println!("  finished:       {at}");
    }
    if let Some(e) = &job.error {
        println!("  error:          {}: {}", e.code, e.message);
    }
    println!("  correlation id: {}", job.correlation_id);
}

/// `--input`: JSON text, `@file`, or `@-` (standard input).
fn read_input(arg: &str) -> Result<Value, ClientError> {
    let (text, origin) = match arg.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| ClientError::Usage(format!("--input @-: {e}")))?;
            (text, "standard input".to_owned())
        }
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| ClientError::Usage(format!("--input @{path}: {e}")))?,
            path.to_owned(),
        ),
        None => (arg.to_owned(), "--input".to_owned()),
    };
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("{origin} is not JSON: {e}")))
}

pub(crate) fn print_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    println!("{text}");
}
