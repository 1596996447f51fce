//! The adapters behind the server: embedded (SQLite) or AWS (DynamoDB + SQS).

use std::path::Path;
use std::sync::Arc;

use accepted_aws::{keyed_job_store, load_config, S3ResultStore, SqsJobQueue};
use accepted_core::config::ConfigError;
use accepted_core::{Config, CreateAndEnqueue, JobQueue, JobStore, QueueConsumer, ResultStore};
use accepted_embedded::{
    DataDir, DataDirError, Database, DatabaseError, EmbeddedIntake, EmbeddedJobStore,
    EmbeddedQueue, EventOutbox, FileResultStore, JsonLinesSink, QueueSettings,
};

use crate::cli::BackendKind;
use crate::webhooks::{LocalWebhooks, WebhookSetupError};

pub struct Backend {
    pub config: Config,
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    /// A new job and its message in one transaction, where the backend has one (embedded).
    pub create_and_enqueue: Option<Arc<dyn CreateAndEnqueue>>,
    pub consumer: Arc<dyn QueueConsumer>,
    pub dead_letters: Option<Arc<dyn JobQueue>>,
    /// The dead-letter queue, as its consumer function sees it.
    pub dead_letter_consumer: Option<Arc<dyn QueueConsumer>>,
    pub dead_letter_arn: Option<String>,
    /// Names the queue in worker events and logs.
    pub queue_arn: String,
    pub description: String,
    /// The embedded store's outbox and the file its events are relayed to.
    pub events: Option<(EventOutbox, JsonLinesSink)>,
    /// Where results too large for the job item go: files, or the S3 bucket.
    pub results: Option<Arc<dyn ResultStore>>,
    /// The embedded webhook queue and master secret.
    pub webhooks: Option<LocalWebhooks>,
    /// The embedded backend's data folder, locked for this process while the backend lives.
    pub data_dir: Option<DataDir>,
    /// The embedded database, whose writer's counts `/metrics` shows.
    pub database: Option<Database>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("events file {path}: {source}")]
    EventsFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Webhooks(#[from] WebhookSetupError),
}

/// The embedded queue's name, also used in its stand-in ARN.
const EMBEDDED_QUEUE: &str = "jobs";

pub async fn build(
    kind: BackendKind,
    data_dir: &Path,
    visibility_timeout: std::time::Duration,
    insecure_callbacks: bool,
) -> Result<Backend, BackendError> {
    // `--insecure-callbacks` sets what ACCEPTED_INSECURE_CALLBACKS would.
    let lookup = |k: &str| match k {
        "ACCEPTED_INSECURE_CALLBACKS" if insecure_callbacks => Some("true".to_owned()),
        _ => std::env::var(k).ok(),
    };
    match kind {
        BackendKind::Embedded => {
            // The embedded backend has one table; JOBS_TABLE only names it in logs.
            let config = Config::from_lookup(|k| {
                lookup(k).or_else(|| (k == "JOBS_TABLE").then(|| "embedded".to_owned()))
            })?;
            // Locked first: a second server on this folder stops here, before it opens a file.
            let data_dir = DataDir::open(data_dir)?;
            let path = data_dir.join("accepted.sqlite3");
            let db = Database::open(&path)?;
            let events_path = data_dir.join("events.jsonl");
            let sink =
                JsonLinesSink::open(&events_path).map_err(|source| BackendError::EventsFile {
                    path: events_path.display().to_string(),
                    source,
                })?;
            let queue = Arc::new(EmbeddedQueue::new(
                db.clone(),
                EMBEDDED_QUEUE,
                QueueSettings {
                    visibility_timeout,
                    ..QueueSettings::default()
                },
            ));
            let dlq = queue.dead_letter_queue().map(Arc::new);
            let dead_letters = dlq.clone().map(|q| q as Arc<dyn JobQueue>);
            let dead_letter_consumer = dlq.map(|q| q as Arc<dyn QueueConsumer>);
            let events = (EventOutbox::new(db.clone()), sink);
            let webhooks = LocalWebhooks::open(db.clone(), data_dir.path())?;
            Ok(Backend {
                config,
                events: Some(events),
                webhooks: Some(webhooks),
                results: Some(Arc::new(FileResultStore::new(data_dir.path()))),
                store: Arc::new(EmbeddedJobStore::new(db.clone())),
                create_and_enqueue: Some(Arc::new(EmbeddedIntake::new((*queue).clone()))),
                queue: queue.clone(),
                consumer: queue,
                dead_letters,
                dead_letter_consumer,
                dead_letter_arn: Some(format!("arn:accepted:embedded:local:{EMBEDDED_QUEUE}-dlq")),
                queue_arn: format!("arn:accepted:embedded:local:{EMBEDDED_QUEUE}"),
                description: format!("embedded (SQLite at {})", path.display()),
                data_dir: Some(data_dir),
                database: Some(db),
            })
        }
        BackendKind::Aws => {
            let config = Config::from_lookup(lookup)?;
            let sdk = load_config().await;
            let queue_url = config.require_queue_url()?.to_owned();
            let queue = Arc::new(SqsJobQueue::from_sdk_config(&sdk, &queue_url));
            let dlq = config
                .dead_letter_queue_url
                .as_ref()
                .map(|url| Arc::new(SqsJobQueue::from_sdk_config(&sdk, url)));
            let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS".to_owned());
            Ok(Backend {
                store: Arc::new(keyed_job_store(&sdk, &config)?),
                queue: queue.clone(),
                create_and_enqueue: None,
                consumer: queue,
                dead_letters: dlq.clone().map(|q| q as Arc<dyn JobQueue>),
                dead_letter_consumer: dlq.map(|q| q as Arc<dyn QueueConsumer>),
                dead_letter_arn: config.dead_letter_queue_url.clone(),
                queue_arn: queue_url.clone(),
                description: format!(
                    "aws (table {}, queue {queue_url}, endpoint {endpoint})",
                    config.table_name
                ),
                events: None,
                webhooks: None,
                data_dir: None,
                database: None,
                results: config.results_bucket.as_ref().map(|bucket| {
                    Arc::new(S3ResultStore::from_sdk_config(&sdk, bucket)) as Arc<dyn ResultStore>
                }),
                config,
            })
        }
    }
}
