//! Configuration, read from environment variables in this one place.
//!
//! The reference for operators is `docs/configuration.md`: every variable, its default, its
//! range and its meaning. `tests/configuration_docs.rs` holds that page to this code, so a
//! variable added, renamed or re-ranged here fails the tests until the page says so too.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::auth::AuthMode;
use crate::retry::RetryPolicy;
use crate::webhook::delivery::{RetrySchedule, DEFAULT_SCHEDULE};
use crate::webhook::DestinationPolicy;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub queue_url: Option<String>,
    pub dead_letter_queue_url: Option<String>,
    pub event_bus: Option<String>,
    /// Where the stream consumer schedules each accepted job's dispatch check; `None` turns
    /// the checks off (the reconciler's sweep remains).
    pub dispatch_check_queue_url: Option<String>,
    /// How long after a job is accepted its dispatch check looks whether it started.
    pub dispatch_check_delay: Duration,
    pub results_bucket: Option<String>,
    pub result_inline_max_bytes: usize,
    pub result_url_ttl: Duration,
    pub event_source: String,
    /// The lifecycle events the `events` function publishes (`EVENT_KINDS`); the rest of
    /// the stream is still read, and every new job still gets its dispatch check.
    pub event_kinds: crate::events::EventKinds,
    pub max_body_bytes: usize,
    pub job_retention: Duration,
    /// The default retry policy; job types may set their own.
    pub retry: RetryPolicy,
    pub lease: Duration,
    pub progress_interval: Duration,
    pub worker_concurrency: usize,
    pub status_retry_after: Duration,
    pub long_poll_max: Duration,
    pub long_poll_interval: Duration,
    pub reenqueue_after: Duration,
    pub breaker_failures: u32,
    pub breaker_cool_down: Duration,
    pub stale_after: Duration,
    pub max_job_age: Duration,
    pub webhook_secret: Option<SecretSource>,
    /// The key keyed jobs' ids are derived under, on DynamoDB (submit, worker, dlq).
    pub job_id_key: Option<SecretSource>,
    /// Whether keyed creation also honours idempotency records written before job ids were
    /// derived: one read more per keyed accept, for a stack upgraded from that version.
    pub legacy_idempotency_records: bool,
    /// Where callbacks may point.
    pub destinations: DestinationPolicy,
    pub auth: AuthMode,
    /// Unfinished jobs one owner may have; `None` for no cap.
    pub max_unfinished_per_owner: Option<u32>,
    pub metrics_namespace: String,
    /// The declaration file of the deployment's declared job types (submit and worker).
    pub job_types_file: Option<PathBuf>,
}

/// Where a secret comes from: the webhook master secret, the job-id key.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A Secrets Manager secret id or ARN.
    SecretsManager(String),
    /// The secret itself (local runs).
    Literal(String),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SecretsManager(id) => write!(f, "SecretsManager({id:?})"),
            Self::Literal(_) => f.write_str("Literal(redacted)"),
        }
    }
}

/// The webhook delivery function's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub queue_url: String,
    pub dead_letter_queue_url: Option<String>,
    pub secret: SecretSource,
    pub schedule: RetrySchedule,
    pub timeout: Duration,
    pub breaker_failures: u32,
    pub breaker_cool_down: Duration,
    pub concurrency: usize,
    pub destinations: DestinationPolicy,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} must be {expected}, got {value:?}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

/// DynamoDB's item limit is 400 KB and the input is stored in the item.
const MAX_BODY_LIMIT: u64 = 300 * 1024;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let lookup = |name: &str| env.get(name);
        let number = |name, default, min, max| env.number(name, default, min, max);
        Ok(Self {
            table_name: lookup("JOBS_TABLE").ok_or(ConfigError::Missing("JOBS_TABLE"))?,
            queue_url: lookup("JOBS_QUEUE_URL"),
            dead_letter_queue_url: lookup("JOBS_DLQ_URL"),
            event_bus: lookup("EVENT_BUS_NAME"),
            dispatch_check_queue_url: lookup("DISPATCH_CHECK_QUEUE_URL"),
            // SQS delays a message at most 15 minutes.
            dispatch_check_delay: Duration::from_secs(number(
                "DISPATCH_CHECK_DELAY_SECONDS",
                60,
                0,
                900,
            )?),
            results_bucket: lookup("RESULTS_BUCKET"),
            result_inline_max_bytes: number("RESULT_INLINE_MAX_BYTES", 65_536, 1_024, 100 * 1024)?
                as usize,
            result_url_ttl: Duration::from_secs(number("RESULT_URL_SECONDS", 300, 1, 3_600)?),
            event_source: lookup("EVENT_SOURCE")
                .unwrap_or_else(|| crate::events::DEFAULT_SOURCE.to_owned()),
            event_kinds: match lookup("EVENT_KINDS") {
                None => crate::events::EventKinds::Subscribed,
                Some(raw) => {
                    crate::events::EventKinds::parse(&raw).ok_or(ConfigError::Invalid {
                        name: "EVENT_KINDS",
                        expected: "subscribed, all, terminal, or event kinds separated by commas",
                        value: raw,
                    })?
                }
            },
            max_body_bytes: number("MAX_BODY_BYTES", 64 * 1024, 1024, MAX_BODY_LIMIT)? as usize,
            job_retention: Duration::from_secs(
                number("JOB_RETENTION_HOURS", 168, 24, 24 * 365)? * 3600,
            ),
            retry: RetryPolicy {
                max_attempts: number("MAX_ATTEMPTS", 5, 1, 100)? as u32,
                base: Duration::from_millis(number("RETRY_BASE_MS", 2_000, 0, 3_600_000)?),
                cap: Duration::from_millis(number("RETRY_CAP_MS", 300_000, 0, 43_200_000)?),
            },
            lease: Duration::from_secs(number("LEASE_SECONDS", 60, 1, 43_200)?),
            progress_interval: Duration::from_millis(number(
                "PROGRESS_INTERVAL_MS",
                1_000,
                10,
                600_000,
            )?),
            worker_concurrency: number("WORKER_CONCURRENCY", 10, 1, 100)? as usize,
            status_retry_after: Duration::from_secs(number(
                "STATUS_RETRY_AFTER_SECONDS",
                2,
                1,
                3600,
            )?),
            long_poll_max: Duration::from_secs(number("LONG_POLL_MAX_SECONDS", 20, 0, 25)?),
            long_poll_interval: Duration::from_millis(number(
                "LONG_POLL_INTERVAL_MS",
                500,
                50,
                10_000,
            )?),
            reenqueue_after: Duration::from_secs(number("REENQUEUE_AFTER_SECONDS", 60, 0, 86_400)?),
            breaker_failures: number("BREAKER_FAILURES", 5, 1, 1_000)? as u32,
            breaker_cool_down: Duration::from_millis(number(
                "BREAKER_COOL_DOWN_MS",
                30_000,
                10,
                3_600_000,
            )?),
            stale_after: Duration::from_secs(number("STALE_AFTER_SECONDS", 900, 60, 86_400)?),
            max_job_age: Duration::from_secs(number("MAX_JOB_AGE_HOURS", 24, 1, 24 * 365)? * 3600),
            webhook_secret: env.secret_source(),
            job_id_key: env.secret("JOB_ID_KEY_SECRET_ARN", "JOB_ID_KEY"),
            legacy_idempotency_records: env.flag("LEGACY_IDEMPOTENCY_RECORDS")?,
            destinations: env.destinations()?,
            auth: env.auth_mode()?,
            max_unfinished_per_owner: Some(number(
                "MAX_UNFINISHED_JOBS_PER_OWNER",
                1_000,
                0,
                1_000_000,
            )? as u32)
            .filter(|&cap| cap > 0),
            metrics_namespace: lookup("METRICS_NAMESPACE")
                .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_owned()),
            job_types_file: lookup("JOB_TYPES_FILE").map(PathBuf::from),
        })
    }

    pub fn require_job_id_key(&self) -> Result<&SecretSource, ConfigError> {
        self.job_id_key
            .as_ref()
            .ok_or(ConfigError::Missing("JOB_ID_KEY_SECRET_ARN"))
    }

    pub fn require_webhook_secret(&self) -> Result<&SecretSource, ConfigError> {
        self.webhook_secret
            .as_ref()
            .ok_or(ConfigError::Missing("WEBHOOK_SECRET_ARN"))
    }

    pub fn require_event_bus(&self) -> Result<&str, ConfigError> {
        self.event_bus
            .as_deref()
            .ok_or(ConfigError::Missing("EVENT_BUS_NAME"))
    }

    pub fn require_queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("JOBS_QUEUE_URL"))
    }
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let schedule = match env.get("WEBHOOK_RETRY_SCHEDULE") {
            None => RetrySchedule::default(),
            Some(raw) => RetrySchedule::parse(&raw).ok_or(ConfigError::Invalid {
                name: "WEBHOOK_RETRY_SCHEDULE",
                expected: "comma-separated delays such as 5s,5m,2h (each at most 12h)",
                value: raw,
            })?,
        };
        debug_assert!(RetrySchedule::parse(DEFAULT_SCHEDULE).is_some());
        Ok(Self {
            queue_url: env
                .get("WEBHOOK_QUEUE_URL")
                .ok_or(ConfigError::Missing("WEBHOOK_QUEUE_URL"))?,
            dead_letter_queue_url: env.get("WEBHOOK_DLQ_URL"),
            secret: env
                .secret_source()
                .ok_or(ConfigError::Missing("WEBHOOK_SECRET_ARN"))?,
            schedule,
            timeout: Duration::from_millis(env.number(
                "WEBHOOK_TIMEOUT_MS",
                10_000,
                100,
                30_000,
            )?),
            breaker_failures: env.number("WEBHOOK_BREAKER_FAILURES", 5, 1, 1_000)? as u32,
            breaker_cool_down: Duration::from_millis(env.number(
                "WEBHOOK_BREAKER_COOL_DOWN_MS",
                60_000,
                10,
                3_600_000,
            )?),
            concurrency: env.number("WEBHOOK_CONCURRENCY", 10, 1, 100)? as usize,
            destinations: env.destinations()?,
        })
    }
}

/// Variables through a lookup function, blank ones treated as unset.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn number(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or(ConfigError::Invalid {
                    name,
                    expected: "an integer within its documented range",
                    value: raw,
                }),
        }
    }

    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref().map(str::trim) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ConfigError::Invalid {
                name,
                expected: "true or false",
                value: other.to_owned(),
            }),
        }
    }

    fn auth_mode(&self) -> Result<AuthMode, ConfigError> {
        match self.get("AUTH_MODE") {
            None => Ok(AuthMode::default()),
            Some(raw) => raw.parse().map_err(|()| ConfigError::Invalid {
                name: "AUTH_MODE",
                expected: "none, jwt or iam",
                value: raw,
            }),
        }
    }

    /// A secret named by `<arn_var>` (Secrets Manager), else given in `<literal_var>`.
    fn secret(&self, arn_var: &str, literal_var: &str) -> Option<SecretSource> {
        self.get(arn_var)
            .map(SecretSource::SecretsManager)
            .or_else(|| self.get(literal_var).map(SecretSource::Literal))
    }

    fn secret_source(&self) -> Option<SecretSource> {
        self.secret("WEBHOOK_SECRET_ARN", "WEBHOOK_SECRET")
    }

    fn destinations(&self) -> Result<DestinationPolicy, ConfigError> {
        Ok(DestinationPolicy {
            insecure: self.flag("ACCEPTED_INSECURE_CALLBACKS")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_table_is_set() {
        let c = config(&[("JOBS_TABLE", "jobs")]).unwrap();
        assert_eq!(c.table_name, "jobs");
        assert_eq!(c.max_body_bytes, 65_536);
        assert_eq!(c.job_retention, Duration::from_secs(168 * 3600));
        assert_eq!(c.auth, AuthMode::None);
        assert_eq!(
            c.require_queue_url(),
            Err(ConfigError::Missing("JOBS_QUEUE_URL"))
        );
    }

    #[test]
    fn rejects_missing_and_out_of_range_values() {
        assert_eq!(config(&[]), Err(ConfigError::Missing("JOBS_TABLE")));
        assert!(config(&[("JOBS_TABLE", "t"), ("JOB_RETENTION_HOURS", "1")]).is_err());
        assert!(config(&[("JOBS_TABLE", "t"), ("MAX_BODY_BYTES", "1000000")]).is_err());
        assert!(config(&[("JOBS_TABLE", "t"), ("MAX_ATTEMPTS", "many")]).is_err());
        let c = config(&[
            ("JOBS_TABLE", "t"),
            ("JOBS_QUEUE_URL", "http://q"),
            ("MAX_ATTEMPTS", "3"),
        ])
        .unwrap();
        assert_eq!(
            (c.retry.max_attempts, c.require_queue_url()),
            (3, Ok("http://q"))
        );
        assert_eq!(c.retry.base, Duration::from_secs(2));
        assert!(config(&[("JOBS_TABLE", "t"), ("ACCEPTED_INSECURE_CALLBACKS", "yes")]).is_err());
        assert!(config(&[("JOBS_TABLE", "t"), ("AUTH_MODE", "cognito")]).is_err());
        let c = config(&[("JOBS_TABLE", "t"), ("AUTH_MODE", "jwt")]).unwrap();
        assert_eq!(c.auth, AuthMode::Jwt);
    }

    #[test]
    fn webhook_settings_and_the_secret_source() {
        let webhook = |pairs: &[(&str, &str)]| {
            let env: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            WebhookConfig::from_lookup(|k| env.get(k).cloned())
        };
        assert_eq!(
            webhook(&[("WEBHOOK_QUEUE_URL", "q")]),
            Err(ConfigError::Missing("WEBHOOK_SECRET_ARN"))
        );
        let c = webhook(&[
            ("WEBHOOK_QUEUE_URL", "q"),
            ("WEBHOOK_SECRET", "whsec_x"),
            (
                "WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:w",
            ),
            ("WEBHOOK_RETRY_SCHEDULE", "1s,2s"),
        ])
        .unwrap();
        assert_eq!(
            c.secret,
            SecretSource::SecretsManager("arn:aws:secretsmanager:eu-west-1:1:secret:w".into())
        );
        assert_eq!(c.schedule.attempts(), 3);
        assert_eq!(c.destinations, DestinationPolicy::STRICT);
        assert!(webhook(&[
            ("WEBHOOK_QUEUE_URL", "q"),
            ("WEBHOOK_SECRET", "s"),
            ("WEBHOOK_RETRY_SCHEDULE", "soon")
        ])
        .is_err());
        assert_eq!(
            format!("{:?}", SecretSource::Literal("whsec_hidden".into())),
            "Literal(redacted)"
        );
    }
}
