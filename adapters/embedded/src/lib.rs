//! The embedded backend: [`JobStore`](accepted_core::JobStore) and the job queue on SQLite, with the
//! semantics of DynamoDB and SQS, for the local server and for tests without an emulator.
//!
//! One SQLite file holds jobs, idempotency keys and queue messages, so a job accepted before
//! a restart is still there, and still queued, after it. Each operation is one SQLite
//! transaction, which gives the conditional writes the same all-or-nothing outcome as
//! DynamoDB's; a new job and its queue message share one ([`EmbeddedIntake`]). The conformance suite (`tests/tests/conformance.rs`) runs the same checks here
//! and on the AWS adapters on moto.
//!
//! Known differences from AWS, none of which the API's guarantees depend on: expired items are
//! removed on the next write of the same key, not by a TTL sweeper; long polling wakes within
//! 100 ms of a message becoming visible; message ids are UUIDs.

mod data_dir;
mod intake;
mod outbox;
mod queue;
mod results;
mod sink;
mod store;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

pub use data_dir::{private_dir, private_file, DataDir, DataDirError, LOCK_FILE};
pub use intake::EmbeddedIntake;
pub use outbox::EventOutbox;
pub use queue::{EmbeddedQueue, QueueSettings};
pub use results::FileResultStore;
pub use sink::JsonLinesSink;
pub use store::EmbeddedJobStore;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (updated_at) WHERE status IN ('pending', 'running');
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner       TEXT NOT NULL,
    key         TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE TABLE IF NOT EXISTS messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    queue          TEXT NOT NULL,
    body           TEXT NOT NULL,
    attributes     TEXT NOT NULL DEFAULT '{}',  -- JSON object of String attributes
    sent_at        INTEGER NOT NULL,
    visible_at     INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    receipt_handle TEXT
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at);
CREATE INDEX IF NOT EXISTS messages_receipt ON messages (receipt_handle);
-- Lifecycle events written in the transaction of the change they report, until relayed.
CREATE TABLE IF NOT EXISTS outbox (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    event  TEXT NOT NULL                        -- a CloudEvent, JSON
);
";

/// A SQLite database shared by the embedded store and queues of one process.
#[derive(Clone)]
pub struct Database {
    conn: Arc<Mutex<Connection>>,
}

#[derive(Debug, thiserror::Error)]
#[error("embedded database: {0}")]
pub struct DatabaseError(String);

impl Database {
    /// Opens (creating if needed, owner-only) the database file `path`, and refuses one it
    /// could not write: a server that cannot store a job must not start and answer `503`
    /// forever. Every error names the file.
    pub fn open(path: &Path) -> Result<Self, DatabaseError> {
        let failed = |e: &dyn std::fmt::Display| DatabaseError(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            data_dir::private_dir(dir).map_err(|e| failed(&e))?;
        }
        // SQLite gives its -wal and -shm files the mode of the database file.
        if !path.exists() {
            data_dir::private_file(path, false).map_err(|e| failed(&e))?;
        }
        let conn = Connection::open(path).map_err(|e| failed(&e))?;
        // SQLite opens a file it may not write read-only, without a word.
        if conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| failed(&e))?
        {
            return Err(failed(&"the file is read-only (check its mode and owner)"));
        }
        // WAL: readers do not block the writer; FULL: a committed job survives power loss.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(|e| failed(&e))?;
        Self::init(conn).map_err(|e| failed(&e.0))
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, DatabaseError> {
        Self::init(Connection::open_in_memory().map_err(|e| DatabaseError(e.to_string()))?)
    }

    fn init(conn: Connection) -> Result<Self, DatabaseError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| DatabaseError(e.to_string()))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| DatabaseError(e.to_string()))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection off the async runtime's threads. The outer error is the
    /// blocking task's failure (a panic), not `f`'s.
    async fn run<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard: MutexGuard<'_, Connection> = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| format!("embedded database task failed: {e}"))
    }
}
