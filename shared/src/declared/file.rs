//! The declaration file (`job-types.yaml`): job types by configuration, read by `accepted
//! serve` and by the submit and worker functions alike.
//!
//! It is read once at start and read strictly: an unknown key, a schema that does not
//! compile, a target that cannot run here, a duplicate name — each stops the start with an
//! error that names the file and the type, never a job at run time. The format is documented
//! in `docs/declared-types.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

/// The only format version so far.
pub const FORMAT_VERSION: u32 = 1;
/// Largest declaration file or schema file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Longest time limit a type may declare: Lambda's own maximum run time.
pub const MAX_TIME_LIMIT_SECS: u64 = 900;
/// Most attempts a type may declare.
pub const MAX_ATTEMPTS: u32 = 100;

/// A declaration file that cannot be used; the message names the file and the type.
#[derive(Debug, Error)]
pub enum DeclarationError {
    #[error("{path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: job type {job_type:?}: {reason}")]
    Type {
        path: PathBuf,
        job_type: String,
        reason: String,
    },
}

/// One declared type, resolved: schema files read, paths made absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredType {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Value,
    pub result_schema: Option<Value>,
    pub example_input: Option<Value>,
    pub retry: RetryOverride,
    pub time_limit: Duration,
    pub run: Targets,
}

/// What a type changes of the deployment's retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryOverride {
    pub max_attempts: Option<u32>,
    pub base_ms: Option<u64>,
    pub cap_ms: Option<u64>,
}

/// Where a type runs: on AWS a Lambda function, under `accepted serve` a command or an HTTP
/// endpoint. A type may name one of each, so it runs in both places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// A function name, name with alias, or ARN the worker invokes.
    pub lambda: Option<String>,
    pub local: Option<LocalTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalTarget {
    /// A program and its arguments, run without a shell, in `dir` (the file's directory).
    Command {
        argv: Vec<String>,
        env: BTreeMap<String, String>,
        dir: PathBuf,
    },
    /// An endpoint on loopback that takes the invocation as a `POST`.
    Http { url: url::Url },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    version: u32,
    types: Vec<TypeDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeDoc {
    name: String,
    description: Option<String>,
    input_schema: Option<Value>,
    input_schema_file: Option<PathBuf>,
    result_schema: Option<Value>,
    result_schema_file: Option<PathBuf>,
    example_input: Option<Value>,
    #[serde(default)]
    retry: RetryOverride,
    time_limit_seconds: u64,
    run: RunDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunDoc {
    lambda: Option<String>,
    command: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    http: Option<String>,
}

/// Reads and resolves a declaration file.
pub fn load(path: &Path) -> Result<Vec<DeclaredType>, DeclarationError> {
    let text = read_limited(path)?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    parse(&text, &dir).map_err(|err| match err {
        Parsed::File(reason) => DeclarationError::Invalid {
            path: path.to_owned(),
            reason,
        },
        Parsed::Type(job_type, reason) => DeclarationError::Type {
            path: path.to_owned(),
            job_type,
            reason,
        },
    })
}

enum Parsed {
    File(String),
    Type(String, String),
}

/// Parses a declaration; relative paths in it resolve against `dir`.
fn parse(text: &str, dir: &Path) -> Result<Vec<DeclaredType>, Parsed> {
    let doc: FileDoc = serde_yaml::from_str(text).map_err(|e| Parsed::File(e.to_string()))?;
    if doc.version != FORMAT_VERSION {
        return Err(Parsed::File(format!(
            "version {} is not supported; this build reads version {FORMAT_VERSION}",
            doc.version
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut types = Vec::with_capacity(doc.types.len());
    for t in doc.types {
        let name = t.name.clone();
        if !seen.insert(name.clone()) {
            return Err(Parsed::Type(name, "is declared twice".into()));
        }
        types.push(resolve(t, dir).map_err(|reason| Parsed::Type(name, reason))?);
    }
    Ok(types)
}

fn resolve(t: TypeDoc, dir: &Path) -> Result<DeclaredType, String> {
    let input_schema = schema("input", t.input_schema, t.input_schema_file, dir)?
        .ok_or("needs input_schema or input_schema_file")?;
    let result_schema = schema("result", t.result_schema, t.result_schema_file, dir)?;
    if !(1..=MAX_TIME_LIMIT_SECS).contains(&t.time_limit_seconds) {
        return Err(format!(
            "time_limit_seconds must be from 1 to {MAX_TIME_LIMIT_SECS}"
        ));
    }
    if let Some(n) = t.retry.max_attempts {
        if !(1..=MAX_ATTEMPTS).contains(&n) {
            return Err(format!(
                "retry.max_attempts must be from 1 to {MAX_ATTEMPTS}"
            ));
        }
    }
    if let (Some(base), Some(cap)) = (t.retry.base_ms, t.retry.cap_ms) {
        if base > cap {
            return Err("retry.base_ms must not exceed retry.cap_ms".into());
        }
    }
    Ok(DeclaredType {
        name: t.name,
        description: t.description,
        input_schema,
        result_schema,
        example_input: t.example_input,
        retry: t.retry,
        time_limit: Duration::from_secs(t.time_limit_seconds),
        run: targets(t.run, dir)?,
    })
}

fn schema(
    which: &str,
    inline: Option<Value>,
    file: Option<PathBuf>,
    dir: &Path,
) -> Result<Option<Value>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!(
            "give {which}_schema or {which}_schema_file, not both"
        )),
        (Some(schema), None) => Ok(Some(schema)),
        (None, Some(file)) => {
            let path = dir.join(file);
            let text = read_limited(&path).map_err(|e| e.to_string())?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: not JSON: {e}", path.display()))
        }
        (None, None) => Ok(None),
    }
}

fn targets(run: RunDoc, dir: &Path) -> Result<Targets, String> {
    if !run.env.is_empty() && run.command.is_none() {
        return Err("run.env applies only to run.command".into());
    }
    let local = match (run.command, run.http) {
        (Some(_), Some(_)) => return Err("run has a command or an http endpoint, not both".into()),
        (Some(argv), None) => {
            if argv.first().is_none_or(|program| program.is_empty()) {
                return Err("run.command needs a program: [program, arg, ...]".into());
            }
            if let Some(bad) = run.env.keys().find(|k| !valid_env_name(k)) {
                return Err(format!("run.env: {bad:?} is not a variable name"));
            }
            Some(LocalTarget::Command {
                argv,
                env: run.env,
                dir: dir.to_owned(),
            })
        }
        (None, Some(url)) => {
            let url = url::Url::parse(&url).map_err(|e| format!("run.http: {e}"))?;
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(name)) => name == "localhost",
                None => false,
            };
            if url.scheme() != "http" || !loopback {
                return Err(
                    "run.http must be an http:// URL on loopback (127.0.0.1, [::1] or localhost)"
                        .into(),
                );
            }
            Some(LocalTarget::Http { url })
        }
        (None, None) => None,
    };
    if let Some(function) = &run.lambda {
        if function.is_empty() || function.len() > 170 || function.chars().any(char::is_whitespace)
        {
            return Err("run.lambda must be a function name, name:alias or ARN".into());
        }
    }
    if run.lambda.is_none() && local.is_none() {
        return Err("run needs a target: lambda, command or http".into());
    }
    Ok(Targets {
        lambda: run.lambda,
        local,
    })
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn read_limited(path: &Path) -> Result<String, DeclarationError> {
    let unreadable = |reason: String| DeclarationError::Unreadable {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(unreadable(format!(
            "{} bytes; declaration and schema files are at most {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
