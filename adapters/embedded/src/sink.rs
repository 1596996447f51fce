//! The local server's event sink: each lifecycle event as one JSON line appended to a file,
//! flushed to disk before [`EventPublisher::publish`] returns, so tests and developers can
//! read (or `tail -f`) what subscribers on AWS would receive.

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;

use accepted_core::events::CloudEvent;
use accepted_core::ports::{EventPublisher, PublishError};

#[derive(Debug, Clone)]
pub struct JsonLinesSink {
    path: PathBuf,
}

impl JsonLinesSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[async_trait]
impl EventPublisher for JsonLinesSink {
    async fn publish(&self, events: &[CloudEvent]) -> Result<(), PublishError> {
        let mut lines = Vec::new();
        for event in events {
            serde_json::to_writer(&mut lines, event).map_err(|e| PublishError(e.to_string()))?;
            lines.push(b'\n');
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(&lines)?;
            file.sync_data()
        })
        .await
        .map_err(|e| PublishError(e.to_string()))?
        .map_err(|e| PublishError(format!("{}: {e}", self.path.display())))
    }
}
