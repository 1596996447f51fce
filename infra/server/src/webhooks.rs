//! Webhooks on the local server, as on AWS: the outbox relay routes terminal events with a
//! callback to an embedded webhook queue (the template's `WebhookRule`), and the real
//! `webhooks` function delivers them from it, retrying by the same schedule. The master
//! secret is `WEBHOOK_SECRET`, or one generated once into the data folder.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use accepted_core::config::{ConfigError, WebhookConfig};
use accepted_core::webhook::https::HttpsTransport;
use accepted_core::webhook::secrets::LiteralSecret;
use accepted_core::webhook::{DestinationPolicy, WebhookSecret};
use accepted_embedded::{Database, EmbeddedQueue, QueueSettings};
use accepted_webhooks::Deliverer;

/// The embedded webhook queue's name, also used in its stand-in ARN.
pub const WEBHOOK_QUEUE: &str = "webhooks";
const SECRET_FILE: &str = "webhook-secret";

#[derive(Clone)]
pub struct LocalWebhooks {
    pub queue: Arc<EmbeddedQueue>,
    pub dead_letters: Arc<EmbeddedQueue>,
    pub master: WebhookSecret,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    #[error("webhook secret file {path}: {source}")]
    SecretFile {
        path: String,
        source: std::io::Error,
    },
    #[error("WEBHOOK_SECRET or the secret file is not a whsec_ secret")]
    BadSecret,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("webhook transport: {0}")]
    Transport(std::io::Error),
}

impl LocalWebhooks {
    pub fn open(db: Database, data_dir: &Path) -> Result<Self, WebhookSetupError> {
        // The template's WebhookQueue: 8 scheduled attempts, redrive after 12 receives.
        let settings = QueueSettings {
            max_receive_count: Some(12),
            ..QueueSettings::default()
        };
        let queue = EmbeddedQueue::new(db, WEBHOOK_QUEUE, settings);
        let dead_letters = queue
            .dead_letter_queue()
            .unwrap_or_else(|| unreachable!("embedded queues have a dead-letter queue"));
        Ok(Self {
            queue: Arc::new(queue),
            dead_letters: Arc::new(dead_letters),
            master: master_secret(data_dir)?,
        })
    }

    /// The `webhooks` function over the embedded queue, configured from the environment
    /// like the deployed one (`WEBHOOK_RETRY_SCHEDULE`, `WEBHOOK_TIMEOUT_MS`, ...).
    pub fn deliverer(
        &self,
        destinations: DestinationPolicy,
    ) -> Result<Deliverer, WebhookSetupError> {
        let master = self.master.reveal();
        let config = WebhookConfig::from_lookup(|k| match k {
            "WEBHOOK_QUEUE_URL" => Some(format!("embedded:{WEBHOOK_QUEUE}")),
            "WEBHOOK_SECRET" => Some(master.clone()),
            "WEBHOOK_SECRET_ARN" => None,
            _ => std::env::var(k).ok(),
        })?;
        let transport = HttpsTransport::new(destinations, config.timeout)
            .map_err(WebhookSetupError::Transport)?;
        Ok(Deliverer::new(
            Arc::new(transport),
            Arc::new(LiteralSecret(self.master.clone())),
            &config,
        )
        .with_queue(self.queue.clone())
        .with_dead_letter_queue(self.dead_letters.clone()))
    }
}

/// `WEBHOOK_SECRET`, else the data folder's secret file, created (owner-only) on first use.
fn master_secret(data_dir: &Path) -> Result<WebhookSecret, WebhookSetupError> {
    if let Ok(text) = std::env::var("WEBHOOK_SECRET") {
        return WebhookSecret::parse(&text).map_err(|_| WebhookSetupError::BadSecret);
    }
    let path = data_dir.join(SECRET_FILE);
    let io_error = |source| WebhookSetupError::SecretFile {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => WebhookSecret::parse(&text).map_err(|_| WebhookSetupError::BadSecret),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = WebhookSecret::generate();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(io_error)?;
            file.write_all(secret.reveal().as_bytes())
                .map_err(io_error)?;
            Ok(secret)
        }
        Err(e) => Err(io_error(e)),
    }
}
