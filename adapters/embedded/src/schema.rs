//! The database's tables, and the upgrade of a database an earlier version made.
//!
//! Indexes are kept to the lookups the adapters make. An index on a random key (a UUID)
//! dirties one page of its own per write, and with group commit that page, not the row, is
//! most of what a commit writes; so queue messages are found by their row, never by id.

use rusqlite::{Connection, OptionalExtension};

const TABLES: &str = "
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
    id             TEXT NOT NULL,               -- a UUID, returned to the consumer; not looked up
    queue          TEXT NOT NULL,
    body           TEXT NOT NULL,
    attributes     TEXT NOT NULL DEFAULT '{}',  -- JSON object of String attributes
    sent_at        INTEGER NOT NULL,
    visible_at     INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    receipt_handle TEXT                         -- names the row (queue.rs)
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at);
-- Lifecycle events written in the transaction of the change they report, until relayed.
CREATE TABLE IF NOT EXISTS outbox (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    event  TEXT NOT NULL                        -- a CloudEvent, JSON
);
";

/// Up to 2026-12, messages had a unique index on `id` and an index on `receipt_handle`: the
/// old table is set aside, [`TABLES`] makes the new one, and the messages move over.
const SET_MESSAGES_ASIDE: &str = "
ALTER TABLE messages RENAME TO messages_old;
DROP INDEX IF EXISTS messages_visible;
DROP INDEX IF EXISTS messages_receipt;
";
const MOVE_MESSAGES: &str = "
INSERT INTO messages SELECT seq, id, queue, body, attributes, sent_at, visible_at,
    receive_count, receipt_handle FROM messages_old;
DROP TABLE messages_old;
";

/// Creates the tables, or brings those of an earlier version up to date, in one transaction.
pub(crate) fn create_or_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let done = upgrade(conn).and_then(|()| conn.execute_batch(TABLES));
    match done {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let unique_ids: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE name = 'sqlite_autoindex_messages_1'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if unique_ids.is_none() {
        return Ok(());
    }
    // Dropping the table drops its AUTOINCREMENT counter too; a reused row number would let
    // a stale receipt handle's row part match a new message.
    let next: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'messages'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    conn.execute_batch(SET_MESSAGES_ASIDE)?;
    conn.execute_batch(TABLES)?;
    conn.execute_batch(MOVE_MESSAGES)?;
    if let Some(next) = next {
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'messages'", [])?;
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?1)",
            [next],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages table as versions before 2026-12 made it.
    const EARLIER: &str = "
    CREATE TABLE messages (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        id             TEXT NOT NULL UNIQUE,
        queue          TEXT NOT NULL,
        body           TEXT NOT NULL,
        attributes     TEXT NOT NULL DEFAULT '{}',
        sent_at        INTEGER NOT NULL,
        visible_at     INTEGER NOT NULL,
        receive_count  INTEGER NOT NULL DEFAULT 0,
        receipt_handle TEXT
    );
    CREATE INDEX messages_visible ON messages (queue, visible_at);
    CREATE INDEX messages_receipt ON messages (receipt_handle);
    INSERT INTO messages (id, queue, body, sent_at, visible_at) VALUES
        ('a', 'jobs', 'kept', 1, 1), ('b', 'jobs', 'deleted', 2, 2), ('c', 'jobs', 'gone', 3, 3);
    DELETE FROM messages WHERE id IN ('b', 'c');
    ";

    fn indexes(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' ORDER BY name")
            .unwrap();
        let names = stmt.query_map([], |r| r.get(0)).unwrap();
        names.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn an_earlier_database_loses_the_message_indexes_and_keeps_its_messages() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(EARLIER).unwrap();
        create_or_upgrade(&conn).unwrap();
        assert_eq!(indexes(&conn), ["messages_visible"]);
        let kept: Vec<(i64, String)> = {
            let mut stmt = conn.prepare("SELECT seq, body FROM messages").unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.collect::<rusqlite::Result<_>>().unwrap()
        };
        assert_eq!(kept, [(1, "kept".to_owned())]);
        conn.execute(
            "INSERT INTO messages (id, queue, body, sent_at, visible_at) VALUES ('d', 'jobs', 'new', 4, 4)",
            [],
        )
        .unwrap();
        let newest: i64 = conn
            .query_row("SELECT max(seq) FROM messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(newest, 4, "row numbers are not reused");
        create_or_upgrade(&conn).unwrap();
        assert_eq!(
            indexes(&conn),
            ["messages_visible"],
            "a second open changes nothing"
        );
    }

    #[test]
    fn a_new_database_has_only_the_indexes_lookups_use() {
        let conn = Connection::open_in_memory().unwrap();
        create_or_upgrade(&conn).unwrap();
        assert_eq!(indexes(&conn), ["messages_visible"]);
    }
}
