//! Command line of the `accepted` binary.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "accepted",
    version,
    about = "The accepted asynchronous job API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and run the worker in this process.
    Serve(ServeArgs),
    /// Submit a job; with --wait, follow it to the end.
    Submit(SubmitArgs),
    /// Show a job.
    Status(JobArgs),
    /// Follow a job until it completes, fails or is cancelled.
    Wait(JobArgs),
    /// Cancel a job (a running one stops at its handler's next check).
    Cancel(JobArgs),
    /// Fetch a completed job's result.
    Result(ResultArgs),
    /// List your jobs, newest first.
    Jobs(JobsArgs),
    /// List the job types the API accepts; with a name, show that one's schemas and example.
    Types(TypesArgs),
    /// Print the stack parameters a declaration file implies, for `sam deploy
    /// --parameter-overrides`: the worker's timeout, and the functions it may invoke.
    DeployParameters(DeployParametersArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DeployParametersArgs {
    /// The declaration file the stack ships (its JobTypesLayer).
    #[arg(long, value_name = "FILE", default_value = "job-types/job-types.yaml")]
    pub job_types: std::path::PathBuf,
    /// The region of functions declared by name.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// The account of functions declared by name.
    #[arg(long)]
    pub account_id: Option<String>,
    /// The partition of the ARNs made from names.
    #[arg(long, default_value = "aws")]
    pub partition: String,
}

/// Where the API is and how to call it: every client command takes these.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// The API's base URL: the local server, or a stack's `ApiUrl` output (with its stage).
    #[arg(long, env = "ACCEPTED_URL", default_value = "http://127.0.0.1:3000")]
    pub url: url::Url,
    /// Sign requests with AWS SigV4 (a stack deployed with AuthMode Iam), using the standard
    /// AWS credentials and AWS_REGION. Otherwise ACCEPTED_TOKEN, if set, is sent as a bearer
    /// token (AuthMode Jwt).
    #[arg(long, env = "ACCEPTED_IAM")]
    pub iam: bool,
    /// Print the API's JSON documents instead of text, for scripts.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for each answer.
    #[arg(long, env = "ACCEPTED_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(5..=300))]
    pub timeout: u64,
    /// A correlation id to send (X-Correlation-Id); the API makes one otherwise.
    #[arg(long)]
    pub correlation_id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct TypesArgs {
    /// One type to show in full.
    pub name: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SubmitArgs {
    /// The job type, e.g. `csv.summary` or `demo.sleep`.
    #[arg(value_name = "TYPE")]
    pub job_type: String,
    /// The job's input: JSON, `@file` for a file's JSON, or `@-` for standard input.
    #[arg(long)]
    pub input: String,
    /// Resubmitting with the same key returns the first job. Without one, a key is made for
    /// this command, so its own retries never create a second job.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// An HTTPS URL to notify when the job ends (signed webhooks).
    #[arg(long)]
    pub callback: Option<String>,
    /// Follow the job to the end, with a progress bar; the exit status tells how it ended.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// The job id (from submit).
    pub id: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ResultArgs {
    pub id: String,
    /// Write the result to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Args)]
pub struct JobsArgs {
    #[arg(long, value_parser = job_status)]
    pub status: Option<accepted_core::JobStatus>,
    #[arg(long = "type")]
    pub job_type: Option<String>,
    /// Jobs per page (at most 100).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
    /// The next page: the cursor the previous page printed.
    #[arg(long)]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

fn job_status(s: &str) -> Result<accepted_core::JobStatus, String> {
    accepted_core::JobStatus::ALL
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| "one of pending, running, completed, failed, cancelled".to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// SQLite under --data-dir: no AWS, no emulator.
    Embedded,
    /// DynamoDB and SQS from the standard AWS configuration (AWS_ENDPOINT_URL for moto or
    /// LocalStack); needs JOBS_TABLE and JOBS_QUEUE_URL.
    Aws,
}

/// A development signing secret; `Debug` never shows it.
#[derive(Clone)]
pub struct JwtSecret(pub String);

impl std::str::FromStr for JwtSecret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(redacted)")
    }
}

/// The authentication modes the local server can verify itself. IAM (SigV4) is not among
/// them: it needs AWS's view of the caller's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocalAuth {
    None,
    Jwt,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1.
    #[arg(long, env = "ACCEPTED_PORT", default_value_t = 3000)]
    pub port: u16,
    /// Address to listen on. Keep the loopback default unless you put a proxy in front.
    #[arg(long, env = "ACCEPTED_HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    #[arg(long, env = "ACCEPTED_BACKEND", value_enum, default_value_t = BackendKind::Embedded)]
    pub backend: BackendKind,
    /// Folder of the embedded backend's database.
    #[arg(long, env = "ACCEPTED_DATA_DIR", default_value = ".accepted")]
    pub data_dir: PathBuf,
    /// A declaration file of job types (docs/declared-types.md), run by their commands or
    /// HTTP endpoints beside the server's own types.
    #[arg(long, env = "ACCEPTED_JOB_TYPES")]
    pub job_types: Option<PathBuf>,
    /// Records per worker invocation (the event source's BatchSize).
    #[arg(long, env = "ACCEPTED_BATCH_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub batch_size: u32,
    /// Most milliseconds a batch gathers more messages while they keep arriving
    /// (MaximumBatchingWindowInSeconds); unlike Lambda, a batch goes at once when the queue
    /// has no more, so a lone job never waits out the window.
    #[arg(long, env = "ACCEPTED_BATCH_WINDOW_MS", default_value_t = 1000)]
    pub batch_window_ms: u64,
    /// Worker invocations at once (ScalingConfig.MaximumConcurrency; template.yaml's
    /// WorkerMaxConcurrency, 10 by default).
    #[arg(long, env = "ACCEPTED_MAX_CONCURRENCY", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_concurrency: u32,
    /// Visibility timeout of the embedded queue, in seconds (the template's JobsQueue: 180).
    /// How long a message received by a worker that crashed stays hidden.
    #[arg(long, env = "ACCEPTED_VISIBILITY_TIMEOUT", default_value_t = 180,
          value_parser = clap::value_parser!(u64).range(1..=43_200))]
    pub visibility_timeout_secs: u64,
    /// Development only: allow `http` callback URLs and private or loopback addresses, so a
    /// receiver on this machine can get webhooks. Never on a server others can reach.
    #[arg(long, env = "ACCEPTED_INSECURE_CALLBACKS")]
    pub insecure_callbacks: bool,
    /// How callers are identified: `none` (everyone is `anonymous`) or `jwt` (a bearer token
    /// verified here as API Gateway's JWT authorizer would; its `sub` is the owner).
    #[arg(long, env = "ACCEPTED_AUTH", value_enum, default_value_t = LocalAuth::None)]
    pub auth: LocalAuth,
    /// With `--auth jwt`: the issuer tokens must name (`iss`).
    #[arg(long, env = "ACCEPTED_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// With `--auth jwt`: the audience tokens must name (`aud`, or `client_id`).
    #[arg(long, env = "ACCEPTED_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// With `--auth jwt`: the issuer's keys, a JWKS document or a PEM public key.
    #[arg(long, env = "ACCEPTED_JWT_KEYS")]
    pub jwt_keys: Option<PathBuf>,
    /// With `--auth jwt`, instead of --jwt-keys: an HS256 secret for development tokens.
    #[arg(long, env = "ACCEPTED_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<JwtSecret>,
    /// The worker function's timeout in seconds, as in template.yaml.
    #[arg(long, env = "ACCEPTED_WORKER_TIMEOUT", default_value_t = 30)]
    pub worker_timeout_secs: u64,
    /// Open connections at most; at the limit new ones wait in the listen backlog. Keep it
    /// under the open-file limit (`ulimit -n`).
    #[arg(long, env = "ACCEPTED_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's headers, from the connection's start or the
    /// previous response; an idle keep-alive connection is closed after it too.
    #[arg(long, env = "ACCEPTED_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body once its headers are in (`408`).
    #[arg(long, env = "ACCEPTED_BODY_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub body_timeout_secs: u64,
}
