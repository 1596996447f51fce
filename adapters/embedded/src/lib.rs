//! The embedded backend: [`JobStore`](accepted_core::JobStore) and the job queue on SQLite, with the
//! semantics of DynamoDB and SQS, for the local server and for tests without an emulator.
//!
//! One SQLite file holds jobs, idempotency keys and queue messages, so a job accepted before
//! a restart is still there, and still queued, after it. Each write is all-or-nothing (a
//! savepoint in a group commit, see [`writer`]), which gives the conditional writes the same
//! outcome as DynamoDB's; a new job and its queue message share one ([`EmbeddedIntake`]).
//! The conformance suite (`tests/tests/conformance.rs`) runs the same checks here and on the
//! AWS adapters on moto.
//!
//! Known differences from AWS, none of which the API's guarantees depend on: expired items are
//! removed on the next write of the same key, not by a TTL sweeper; long polling wakes within
//! 100 ms of a message becoming visible; message ids are UUIDs.

mod data_dir;
mod intake;
mod outbox;
mod queue;
mod results;
mod schema;
mod sink;
mod store;
mod writer;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

pub use data_dir::{private_dir, private_file, DataDir, DataDirError, LOCK_FILE};
pub use intake::EmbeddedIntake;
pub use outbox::EventOutbox;
pub use queue::{EmbeddedQueue, QueueSettings};
pub use results::FileResultStore;
pub use sink::JsonLinesSink;
pub use store::EmbeddedJobStore;
use writer::Writer;

/// A SQLite database shared by the embedded store and queues of one process: one writing
/// connection that commits concurrent operations together ([`writer`]), and for a file, a
/// read-only connection that WAL lets read beside it.
#[derive(Clone)]
pub struct Database {
    writer: Writer,
    reader: Option<Arc<Mutex<Connection>>>,
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
        init(&conn).map_err(|e| failed(&e))?;
        let reader = Connection::open(path).map_err(|e| failed(&e))?;
        reader
            .execute_batch("PRAGMA query_only = ON;")
            .map_err(|e| failed(&e))?;
        init_reader(&reader).map_err(|e| failed(&e))?;
        Ok(Self {
            writer: Writer::start(conn).map_err(|e| failed(&e))?,
            reader: Some(Arc::new(Mutex::new(reader))),
        })
    }

    /// A private in-memory database, for tests; its reads queue with the writes.
    pub fn in_memory() -> Result<Self, DatabaseError> {
        let failed = |e: &dyn std::fmt::Display| DatabaseError(e.to_string());
        let conn = Connection::open_in_memory().map_err(|e| failed(&e))?;
        init(&conn).map_err(|e| failed(&e))?;
        Ok(Self {
            writer: Writer::start(conn).map_err(|e| failed(&e))?,
            reader: None,
        })
    }

    /// Transactions committed so far (one WAL fsync each): a count tests can assert.
    pub fn commits(&self) -> u64 {
        self.writer.counts().commits.load(Ordering::Relaxed)
    }

    /// Operations the writer has answered (each write, and each read of an in-memory
    /// database): divided by [`Database::commits`], how many writes share a commit.
    pub fn writes(&self) -> u64 {
        self.writer.counts().operations.load(Ordering::Relaxed)
    }

    /// Runs `f` in the writer's next batch, keeping its writes when it returns `Ok`; answers
    /// once they are durable. The outer error is the batch's failure, not `f`'s.
    async fn write<T, E, F>(&self, f: F) -> Result<Result<T, E>, String>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// Runs the read-only `f` on the last committed state, off the async runtime's threads.
    /// The outer error is the blocking task's failure (a panic), not `f`'s.
    async fn read<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> T + Send + 'static,
    {
        let Some(reader) = &self.reader else {
            return self
                .writer
                .write(move |conn| Ok::<T, std::convert::Infallible>(f(conn)))
                .await
                .map(|read| match read {
                    Ok(value) => value,
                    Err(never) => match never {},
                });
        };
        let reader = Arc::clone(reader);
        tokio::task::spawn_blocking(move || {
            let guard: MutexGuard<'_, Connection> = reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&guard)
        })
        .await
        .map_err(|e| format!("embedded database task failed: {e}"))
    }
}

/// `conn.execute`, with the statement compiled once per connection and then reused.
pub(crate) fn execute_cached(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// `conn.query_row`, with the statement compiled once per connection and then reused.
pub(crate) fn query_row_cached<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, row)
}

fn init(conn: &Connection) -> rusqlite::Result<()> {
    init_reader(conn)?;
    schema::create_or_upgrade(conn)
}

fn init_reader(conn: &Connection) -> rusqlite::Result<()> {
    // Room for every statement the adapters run, so none is compiled twice.
    conn.set_prepared_statement_cache_capacity(64);
    conn.busy_timeout(std::time::Duration::from_secs(5))
}
