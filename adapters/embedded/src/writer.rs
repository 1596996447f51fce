//! Group commit: one thread owns the writing connection and commits the operations that
//! queued up while it was busy in one transaction, so concurrent requests and workers share
//! one WAL fsync instead of taking turns at one each.
//!
//! Each operation runs in a savepoint of the batch's transaction: an operation that fails
//! rolls back only its own writes, and every operation sees the writes of those before it, as
//! it would one transaction later. Nobody is answered before the batch's `COMMIT` returns, so
//! an answer (an `Ok` as much as a refusal that read an earlier operation's write) is never
//! about a state that could still be lost. If SQLite rolls the whole transaction back (a full
//! disk or an I/O error can), every operation in it gets the error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use rusqlite::Connection;

/// The most operations one transaction takes; the rest wait for the next.
const MAX_BATCH: usize = 512;

/// Tells one caller its result once the batch's fate is known: `Ok` when it committed.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One caller's operation, waiting for the writer.
trait Operation: Send {
    /// Runs on the writer's connection; says whether to keep its writes, and how to answer.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Reply);
    /// Answers without running: the batch failed before this operation's turn.
    fn refuse(self: Box<Self>, error: String);
}

type Answer<T, E> = tokio::sync::oneshot::Sender<Result<Result<T, E>, String>>;

struct Pending<F, T, E> {
    f: F,
    answer: Answer<T, E>,
}

impl<T, E, F> Operation for Pending<F, T, E>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Reply) {
        let Pending { f, answer } = *self;
        let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)));
        let keep = matches!(outcome, Ok(Ok(_)));
        let reply: Reply = Box::new(move |batch| {
            let result = batch.and_then(|()| {
                outcome.map_err(|_| "embedded database operation panicked".to_owned())
            });
            // The caller may have gone (a dropped request); its result is then unneeded.
            let _ = answer.send(result);
        });
        (keep, reply)
    }

    fn refuse(self: Box<Self>, error: String) {
        let _ = self.answer.send(Err(error));
    }
}

/// Deterministic counts of what the writer did, for tests and metrics.
#[derive(Debug, Default)]
pub(crate) struct WriterCounts {
    /// Transactions committed: one WAL fsync each with `synchronous = FULL`.
    pub commits: AtomicU64,
    /// Operations handed to the writer.
    pub queued: AtomicU64,
    /// Operations answered.
    pub operations: AtomicU64,
}

/// The sending side of the writer thread; the thread ends when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    operations: mpsc::Sender<Box<dyn Operation>>,
    counts: Arc<WriterCounts>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection) -> std::io::Result<Self> {
        let (operations, queued) = mpsc::channel();
        let counts = Arc::new(WriterCounts::default());
        let thread_counts = Arc::clone(&counts);
        std::thread::Builder::new()
            .name("accepted-sqlite-writer".into())
            .spawn(move || run(&conn, &queued, &thread_counts))?;
        Ok(Self { operations, counts })
    }

    pub fn counts(&self) -> &WriterCounts {
        &self.counts
    }

    /// Runs `f` in the next batch: its writes are kept when it returns `Ok` and discarded when
    /// it returns `Err`. The outer error is the batch's failure (its commit, a rollback by
    /// SQLite, a panic, a stopped writer), not `f`'s.
    pub async fn write<T, E, F>(&self, f: F) -> Result<Result<T, E>, String>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let operation: Box<dyn Operation> = Box::new(Pending { f, answer });
        let stopped = || "embedded database writer stopped".to_owned();
        self.operations.send(operation).map_err(|_| stopped())?;
        self.counts.queued.fetch_add(1, Ordering::Relaxed);
        answered.await.map_err(|_| stopped())?
    }
}

fn run(conn: &Connection, queued: &mpsc::Receiver<Box<dyn Operation>>, counts: &WriterCounts) {
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let answered = batch.len() as u64;
        commit_batch(conn, batch, counts);
        counts.operations.fetch_add(answered, Ordering::Relaxed);
    }
}

/// Runs `batch` in as few transactions as SQLite lets it, then answers every operation.
fn commit_batch(conn: &Connection, batch: Vec<Box<dyn Operation>>, counts: &WriterCounts) {
    let mut operations = batch.into_iter();
    while operations.len() > 0 {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            return refuse_all(operations, &e);
        }
        let mut waiting: Vec<Reply> = Vec::with_capacity(operations.len());
        let mut rolled_back = None;
        for operation in operations.by_ref() {
            if let Err(e) = statement(conn, "SAVEPOINT operation") {
                operation.refuse(format!("sqlite: {e}"));
                rolled_back = Some(e.to_string());
                break;
            }
            let (keep, reply) = operation.run(conn);
            waiting.push(reply);
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back: nothing before this survived.
                rolled_back = Some("the transaction was rolled back (is the disk full?)".into());
                break;
            }
            let ended = if keep {
                statement(conn, "RELEASE operation")
            } else {
                statement(conn, "ROLLBACK TO operation")
                    .and_then(|()| statement(conn, "RELEASE operation"))
            };
            if let Err(e) = ended {
                rolled_back = Some(e.to_string());
                break;
            }
        }
        let committed = match rolled_back {
            Some(e) => Err(e),
            None => conn.execute_batch("COMMIT").map_err(|e| e.to_string()),
        };
        if committed.is_ok() {
            counts.commits.fetch_add(1, Ordering::Relaxed);
        } else if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let committed = committed.map_err(|e| format!("sqlite: {e}"));
        for reply in waiting {
            reply(committed.clone());
        }
    }
}

fn statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn refuse_all(unrun: impl Iterator<Item = Box<dyn Operation>>, error: &dyn std::fmt::Display) {
    for operation in unrun {
        operation.refuse(format!("sqlite: {error}"));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Receiver, Sender};

    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE rows (n INTEGER PRIMARY KEY)")
            .unwrap();
        Writer::start(conn).unwrap()
    }

    fn insert(conn: &Connection, n: i64) -> rusqlite::Result<usize> {
        conn.execute("INSERT INTO rows (n) VALUES (?1)", [n])
    }

    async fn rows(writer: &Writer) -> Vec<i64> {
        let read = writer.write(|conn| {
            let mut stmt = conn.prepare("SELECT n FROM rows ORDER BY n")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<i64>>>()
        });
        read.await.unwrap().unwrap()
    }

    /// Occupies the writer until the returned sender is used or dropped, so that what the
    /// test queues meanwhile lands in one batch.
    async fn hold(writer: &Writer) -> (Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, released): (_, Receiver<()>) = channel();
        let (started, running) = tokio::sync::oneshot::channel();
        let held = queue(writer, move |_| {
            let _ = started.send(());
            let _ = released.recv();
            Ok::<_, ()>(())
        });
        let held = tokio::spawn(async move { held.await.unwrap().unwrap().unwrap() });
        running.await.unwrap();
        (release, held)
    }

    /// Queues `f`; its answer comes through the handle.
    fn queue<T, E>(
        writer: &Writer,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<Result<T, E>, String>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let writer = writer.clone();
        tokio::spawn(async move { writer.write(f).await })
    }

    async fn wait_until_queued(writer: &Writer, count: u64) {
        while writer.counts().queued.load(Ordering::Relaxed) < count {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn operations_queued_while_the_writer_is_busy_share_one_commit() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let handles: Vec<_> = (0..50)
            .map(|n| queue(&writer, move |conn| insert(conn, n)))
            .collect();
        wait_until_queued(&writer, 51).await;
        release.send(()).unwrap();
        held.await.unwrap();
        for handle in handles {
            assert_eq!(handle.await.unwrap(), Ok(Ok(1)));
        }
        assert_eq!(writer.counts().commits.load(Ordering::Relaxed), 2);
        assert_eq!(rows(&writer).await, (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failed_operation_discards_only_its_own_writes() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let kept = queue(&writer, |conn| insert(conn, 1));
        let refused = queue(&writer, |conn| {
            insert(conn, 2)?;
            Err::<(), _>(rusqlite::Error::InvalidQuery)
        });
        // Sees the first operation's write, as one transaction later would.
        let after = queue(&writer, |conn| {
            let seen: i64 = conn.query_row("SELECT count(*) FROM rows", [], |r| r.get(0))?;
            insert(conn, 10 + seen)
        });
        let panicked = queue(&writer, |conn| -> rusqlite::Result<()> {
            insert(conn, 3)?;
            panic!("a bug in an operation")
        });
        wait_until_queued(&writer, 5).await;
        release.send(()).unwrap();
        held.await.unwrap();
        assert_eq!(kept.await.unwrap(), Ok(Ok(1)));
        assert_eq!(
            refused.await.unwrap(),
            Ok(Err(rusqlite::Error::InvalidQuery))
        );
        assert_eq!(after.await.unwrap(), Ok(Ok(1)));
        let panicked = panicked.await.unwrap();
        assert!(
            matches!(&panicked, Err(e) if e.contains("panicked")),
            "{panicked:?}"
        );
        assert_eq!(rows(&writer).await, vec![1, 11]);
        assert_eq!(writer.counts().commits.load(Ordering::Relaxed), 2 + 1);
    }

    #[tokio::test]
    async fn when_sqlite_rolls_the_transaction_back_every_operation_in_it_fails() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let lost = queue(&writer, |conn| insert(conn, 1));
        // What SQLite does on a full disk or an I/O error: the whole transaction is gone.
        let rolling_back = queue(&writer, |conn| {
            insert(conn, 2)?;
            conn.execute_batch("ROLLBACK")?;
            Err::<(), _>(rusqlite::Error::InvalidQuery)
        });
        let next = queue(&writer, |conn| insert(conn, 3));
        wait_until_queued(&writer, 4).await;
        release.send(()).unwrap();
        held.await.unwrap();
        let lost = lost.await.unwrap();
        assert!(
            matches!(&lost, Err(e) if e.contains("rolled back")),
            "{lost:?}"
        );
        let rolling_back = rolling_back.await.unwrap();
        assert!(
            matches!(&rolling_back, Err(e) if e.contains("rolled back")),
            "{rolling_back:?}"
        );
        assert_eq!(next.await.unwrap(), Ok(Ok(1)), "runs in a new transaction");
        assert_eq!(rows(&writer).await, vec![3]);
    }
}
