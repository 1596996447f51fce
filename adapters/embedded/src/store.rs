//! [`JobStore`] on SQLite. Each write is all-or-nothing (a savepoint in the writer's batch); transitions apply
//! [`Job::apply`], the reference semantics the DynamoDB adapter's expressions spell out.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::{execute_cached, query_row_cached, Database};
use accepted_core::events::{self, CloudEvent};
use accepted_core::ids::{IdempotencyKey, JobId, Owner};
use accepted_core::job::{Job, Transition};
use accepted_core::ports::{
    CreateOutcome, JobPage, JobQuery, JobStore, ListPosition, StoreError, TransitionError,
};
use accepted_core::time::Timestamp;

#[derive(Clone)]
pub struct EmbeddedJobStore {
    db: Database,
}

impl EmbeddedJobStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

pub(crate) fn sql(err: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {err}"))
}

fn load(conn: &Connection, id: &str) -> Result<Option<Job>, StoreError> {
    let doc: Option<String> = query_row_cached(
        conn,
        "SELECT doc FROM jobs WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql)?;
    doc.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(format!("job {id}: {e}"))))
        .transpose()
}

fn save(tx: &Connection, job: &Job, insert: bool) -> Result<(), StoreError> {
    let doc = serde_json::to_string(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if insert {
        execute_cached(
            tx,
            "INSERT INTO jobs (id, owner, status, created_at, updated_at, expires_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                job.id.as_str(),
                job.owner.as_str(),
                job.status.as_str(),
                job.created_at.as_millis(),
                job.updated_at.as_millis(),
                job.expires_at.as_secs(),
                doc
            ],
        )
        .map_err(sql)?;
    } else {
        execute_cached(
            tx,
            "UPDATE jobs SET doc = ?2, status = ?3, updated_at = ?4 WHERE id = ?1",
            params![
                job.id.as_str(),
                doc,
                job.status.as_str(),
                job.updated_at.as_millis()
            ],
        )
        .map_err(sql)?;
    }
    Ok(())
}

/// Writes the change's lifecycle event, if it is one, in the change's own transaction: the
/// event exists exactly when the change does (the transactional outbox).
fn record_event(tx: &Connection, before: Option<&Job>, after: &Job) -> Result<(), StoreError> {
    let Some(event) = CloudEvent::for_change(before, after, events::DEFAULT_SOURCE) else {
        return Ok(());
    };
    let doc = serde_json::to_string(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    execute_cached(tx, "INSERT INTO outbox (event) VALUES (?1)", params![doc]).map_err(sql)?;
    Ok(())
}

/// [`JobStore::create`]'s writes on the writer's connection, kept only when the job is created
/// (a replay writes nothing; a refusal is an `Err`, whose writes the writer discards).
pub(crate) fn create_in(
    tx: &Connection,
    job: &Job,
    now: Timestamp,
) -> Result<CreateOutcome, StoreError> {
    if let Some(key) = &job.idempotency_key {
        let existing: Option<(String, String, i64)> = query_row_cached(
            tx,
            "SELECT job_id, fingerprint, expires_at FROM idempotency_keys
                 WHERE owner = ?1 AND key = ?2",
            params![job.owner.as_str(), key.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql)?;
        match existing {
            // Like the DynamoDB condition: a key whose TTL passed is free again.
            Some((job_id, fingerprint, expires_at)) if expires_at >= now.as_secs() => {
                if fingerprint != job.fingerprint {
                    return Err(StoreError::KeyReused);
                }
                return match load(tx, &job_id)? {
                    Some(original) => Ok(CreateOutcome::Replayed(original)),
                    None => Err(StoreError::Corrupt(format!(
                        "idempotency record points to missing job {job_id}"
                    ))),
                };
            }
            Some(_) => {
                execute_cached(
                    tx,
                    "DELETE FROM idempotency_keys WHERE owner = ?1 AND key = ?2",
                    params![job.owner.as_str(), key.as_str()],
                )
                .map_err(sql)?;
            }
            None => {}
        }
        execute_cached(
            tx,
            "INSERT INTO idempotency_keys (owner, key, job_id, fingerprint, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                job.owner.as_str(),
                key.as_str(),
                job.id.as_str(),
                job.fingerprint,
                job.expires_at.as_secs()
            ],
        )
        .map_err(sql)?;
    }
    save(tx, job, true)?;
    record_event(tx, None, job)?;
    Ok(CreateOutcome::Created(job.clone()))
}

fn parse_docs(docs: &[String]) -> Result<Vec<Job>, StoreError> {
    docs.iter()
        .map(|d| serde_json::from_str(d).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// Newest first; ties on `created_at` broken by id, the same order the cursor continues in.
fn list(conn: &Connection, query: &JobQuery) -> Result<JobPage, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT doc FROM jobs WHERE owner = ?1
             AND (?2 IS NULL OR status = ?2)
             AND (?3 IS NULL OR json_extract(doc, '$.job_type') = ?3)
             AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND id < ?5))
             ORDER BY created_at DESC, id DESC LIMIT ?6",
        )
        .map_err(sql)?;
    let after = query.after.as_ref();
    let docs = stmt
        .query_map(
            params![
                query.owner.as_str(),
                query.status.map(|s| s.as_str()),
                query.job_type.as_deref(),
                after.map(|a| a.created_at.as_millis()),
                after.map(|a| a.id.as_str()),
                query.limit as i64 + 1,
            ],
            |r| r.get::<_, String>(0),
        )
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let mut jobs = parse_docs(&docs)?;
    let more = jobs.len() > query.limit;
    jobs.truncate(query.limit);
    let next = jobs.last().filter(|_| more).map(ListPosition::of);
    Ok(JobPage { jobs, next })
}

fn transition(tx: &Connection, id: &JobId, t: &Transition) -> Result<Job, TransitionError> {
    let current = load(tx, id.as_str())?.ok_or(TransitionError::NotFound)?;
    let next = current
        .apply(t)
        .map_err(|_| TransitionError::Conflict(Box::new(current.clone())))?;
    save(tx, &next, false)?;
    record_event(tx, Some(&current), &next)?;
    Ok(next)
}

#[async_trait]
impl JobStore for EmbeddedJobStore {
    async fn create(&self, job: &Job) -> Result<CreateOutcome, StoreError> {
        let job = job.clone();
        self.db
            .write(move |conn| create_in(conn, &job, Timestamp::now()))
            .await
            .map_err(StoreError::Unavailable)?
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let id = id.clone();
        self.db
            .read(move |conn| load(conn, id.as_str()))
            .await
            .map_err(StoreError::Unavailable)?
    }

    async fn find_by_idempotency_key(
        &self,
        owner: &Owner,
        key: &IdempotencyKey,
    ) -> Result<Option<Job>, StoreError> {
        let (owner, key) = (owner.as_str().to_owned(), key.as_str().to_owned());
        self.db
            .read(move |conn| {
                let job_id: Option<String> = query_row_cached(
                    conn,
                    "SELECT job_id FROM idempotency_keys
                         WHERE owner = ?1 AND key = ?2 AND expires_at >= ?3",
                    params![owner, key, Timestamp::now().as_secs()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
                match job_id {
                    Some(id) => load(conn, &id),
                    None => Ok(None),
                }
            })
            .await
            .map_err(StoreError::Unavailable)?
    }

    async fn find_stale(
        &self,
        updated_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT doc FROM jobs WHERE status IN ('pending', 'running')
                         AND updated_at < ?1 ORDER BY updated_at LIMIT ?2",
                    )
                    .map_err(sql)?;
                let docs = stmt
                    .query_map(params![updated_before.as_millis(), limit as i64], |r| {
                        r.get::<_, String>(0)
                    })
                    .map_err(sql)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql)?;
                parse_docs(&docs)
            })
            .await
            .map_err(StoreError::Unavailable)?
    }

    async fn count_unfinished(&self, owner: &Owner, up_to: u32) -> Result<u32, StoreError> {
        let owner = owner.as_str().to_owned();
        self.db
            .read(move |conn| {
                query_row_cached(
                    conn,
                    "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE owner = ?1
                     AND status IN ('pending', 'running') LIMIT ?2)",
                    params![owner, up_to],
                    |r| r.get::<_, u32>(0),
                )
                .map_err(sql)
            })
            .await
            .map_err(StoreError::Unavailable)?
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        let query = query.clone();
        self.db
            .read(move |conn| list(conn, &query))
            .await
            .map_err(StoreError::Unavailable)?
    }

    async fn transition(&self, id: &JobId, t: &Transition) -> Result<Job, TransitionError> {
        let (id, t) = (id.clone(), t.clone());
        self.db
            .write(move |conn| transition(conn, &id, &t))
            .await
            .map_err(|e| TransitionError::Store(StoreError::Unavailable(e)))?
    }
}
