//! How a job is laid out as a DynamoDB item. This layout is a storage contract: changing an
//! attribute name or type needs a migration, so each one is named once, here.
//!
//! | item | `pk` | other attributes |
//! |---|---|---|
//! | job | `JOB#<id>` | the job's fields; `input`/`result` as JSON strings, times as epoch ms |
//! | idempotency key (before ids were derived; read, never written) | `IDEM#<owner>#<key>` | `job_id`, `fingerprint`, `expires_at` |
//!
//! A keyed job's id is derived from its owner and key ([`crate::KeyedJobIds`]), so the job
//! item is its own idempotency record.
//!
//! `expires_at` (epoch seconds) is the table's TTL attribute. Only jobs carry `owner`
//! and `created_at`, so the indexes hold jobs only. Both indexes are keys only and keyed on
//! attributes a job never changes, so a transition writes no index entry; the one exception is
//! the finish, which removes `open_owner` and so leaves `open_jobs`:
//!
//! | index | keys | holds |
//! |---|---|---|
//! | `owner_jobs` | `owner`, `created_at` | every job: listing, newest first |
//! | `open_jobs` | `open_owner`, `created_at` | unfinished jobs: the per-owner cap, the sweep |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use accepted_core::ids::{CorrelationId, IdempotencyKey, JobId, Owner};
use accepted_core::job::{Job, JobError, JobStatus, Progress, ResultRef};
use accepted_core::ports::StoreError;
use accepted_core::time::Timestamp;

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const ID: &str = "id";
pub const OWNER: &str = "owner";
pub const TYPE: &str = "type";
pub const INPUT: &str = "input";
pub const CALLBACK_URL: &str = "callback_url";
pub const STATUS: &str = "status";
pub const ATTEMPTS: &str = "attempts";
pub const CREATED_AT: &str = "created_at";
pub const UPDATED_AT: &str = "updated_at";
pub const STARTED_AT: &str = "started_at";
pub const FINISHED_AT: &str = "finished_at";
pub const LEASE_UNTIL: &str = "lease_until";
pub const RESULT: &str = "result";
pub const RESULT_REF: &str = "result_ref";
pub const ERROR: &str = "error";
pub const PROGRESS: &str = "progress";
pub const CANCEL_REQUESTED_AT: &str = "cancel_requested_at";
pub const RETRY_AT: &str = "retry_at";
pub const CORRELATION_ID: &str = "correlation_id";
pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
pub const FINGERPRINT: &str = "fingerprint";
pub const EXPIRES_AT: &str = "expires_at";
pub const JOB_ID: &str = "job_id";
/// Present only while a job is unfinished: its owner, the hash key of the sparse `open_jobs`
/// index that per-owner caps count and the sweep scans.
pub const OPEN_OWNER: &str = "open_owner";
pub const OPEN_JOBS_INDEX: &str = "open_jobs";
/// Jobs by `owner`, newest `created_at` first when queried backwards.
pub const OWNER_JOBS_INDEX: &str = "owner_jobs";

pub fn job_pk(id: &JobId) -> AttributeValue {
    AttributeValue::S(format!("JOB#{id}"))
}

/// Owners contain no `#`, so the key cannot be forged across owners.
pub fn idempotency_pk(owner: &Owner, key: &IdempotencyKey) -> AttributeValue {
    AttributeValue::S(format!("IDEM#{}#{}", owner.as_str(), key.as_str()))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn ms(t: Timestamp) -> AttributeValue {
    n(t.as_millis())
}

pub fn json(v: &Value) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

pub fn error_map(e: &JobError) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("code".to_owned(), s(&e.code)),
        ("message".to_owned(), s(&e.message)),
        ("retryable".to_owned(), AttributeValue::Bool(e.retryable)),
    ]))
}

pub fn encode_job(job: &Job) -> Item {
    let mut item = Item::from([
        (PK.to_owned(), job_pk(&job.id)),
        (ID.to_owned(), s(job.id.as_str())),
        (OWNER.to_owned(), s(job.owner.as_str())),
        (TYPE.to_owned(), s(&job.job_type)),
        (INPUT.to_owned(), json(&job.input)),
        (STATUS.to_owned(), s(job.status.as_str())),
        (ATTEMPTS.to_owned(), n(job.attempts)),
        (CREATED_AT.to_owned(), ms(job.created_at)),
        (UPDATED_AT.to_owned(), ms(job.updated_at)),
        (CORRELATION_ID.to_owned(), s(job.correlation_id.as_str())),
        (FINGERPRINT.to_owned(), s(&job.fingerprint)),
        (EXPIRES_AT.to_owned(), n(job.expires_at.as_secs())),
    ]);
    let optional = [
        (CALLBACK_URL, job.callback_url.as_ref().map(s)),
        (STARTED_AT, job.started_at.map(ms)),
        (FINISHED_AT, job.finished_at.map(ms)),
        (LEASE_UNTIL, job.lease_until.map(ms)),
        (RESULT, job.result.as_ref().map(json)),
        (RESULT_REF, job.result_ref.as_ref().map(result_ref_map)),
        (ERROR, job.error.as_ref().map(error_map)),
        (PROGRESS, job.progress.as_ref().map(progress_map)),
        (CANCEL_REQUESTED_AT, job.cancel_requested_at.map(ms)),
        (RETRY_AT, job.retry_at.map(ms)),
        (
            IDEMPOTENCY_KEY,
            job.idempotency_key.as_ref().map(|k| s(k.as_str())),
        ),
        (
            OPEN_OWNER,
            (!job.status.is_terminal()).then(|| s(job.owner.as_str())),
        ),
    ];
    item.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    item
}

pub fn result_ref_map(r: &ResultRef) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("key".to_owned(), s(&r.key)),
        ("bytes".to_owned(), n(r.bytes)),
        ("sha256".to_owned(), s(&r.sha256)),
    ]))
}

pub fn progress_map(p: &Progress) -> AttributeValue {
    let mut m = HashMap::from([("percent".to_owned(), n(p.percent))]);
    if let Some(msg) = &p.message {
        m.insert("message".to_owned(), s(msg));
    }
    AttributeValue::M(m)
}

/// Reads attributes of one item, naming the job in every error.
pub struct Reader<'a> {
    item: &'a Item,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item) -> Self {
        Self { item }
    }

    fn corrupt(&self, what: &str) -> StoreError {
        let pk = self.item.get(PK).and_then(|v| v.as_s().ok());
        StoreError::Corrupt(format!("{what} (item {pk:?})"))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, StoreError> {
        match self.item.get(key) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v)),
            Some(_) => Err(self.corrupt(&format!("{key} is not a string"))),
        }
    }

    pub fn str(&self, key: &str) -> Result<&'a str, StoreError> {
        self.opt_str(key)?
            .ok_or_else(|| self.corrupt(&format!("{key} is missing")))
    }

    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, StoreError> {
        match self.item.get(key) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(&format!("{key} is not an integer"))),
            Some(_) => Err(self.corrupt(&format!("{key} is not a number"))),
        }
    }

    /// The listing position of an index entry (`pk`, `created_at`).
    pub fn position(&self) -> Result<accepted_core::ports::ListPosition, StoreError> {
        let id = self
            .str(PK)?
            .strip_prefix("JOB#")
            .and_then(JobId::parse)
            .ok_or_else(|| self.corrupt("pk is not a job key"))?;
        Ok(accepted_core::ports::ListPosition {
            created_at: Timestamp::from_millis(self.i64(CREATED_AT)?),
            id,
        })
    }

    fn require<T>(&self, value: Option<T>, what: &str) -> Result<T, StoreError> {
        value.ok_or_else(|| self.corrupt(what))
    }

    fn i64(&self, key: &str) -> Result<i64, StoreError> {
        self.opt_i64(key)?
            .ok_or_else(|| self.corrupt(&format!("{key} is missing")))
    }

    fn time(&self, key: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.opt_i64(key)?.map(Timestamp::from_millis))
    }

    fn json(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.opt_str(key)?
            .map(|raw| {
                serde_json::from_str(raw).map_err(|_| self.corrupt(&format!("{key} is not JSON")))
            })
            .transpose()
    }

    fn map(&self, key: &str) -> Result<Option<&'a HashMap<String, AttributeValue>>, StoreError> {
        match self.item.get(key) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::M(m)) => Ok(Some(m)),
            Some(_) => Err(self.corrupt(&format!("{key} is not a map"))),
        }
    }
}

pub fn decode_job(item: &Item) -> Result<Job, StoreError> {
    let r = Reader::new(item);
    let error = match r.map(ERROR)? {
        None => None,
        Some(m) => {
            let e = Reader::new(m);
            Some(JobError {
                code: e.str("code")?.to_owned(),
                message: e.str("message")?.to_owned(),
                retryable: matches!(m.get("retryable"), Some(AttributeValue::Bool(true))),
            })
        }
    };
    let result_ref = match r.map(RESULT_REF)? {
        None => None,
        Some(m) => {
            let f = Reader::new(m);
            Some(ResultRef {
                key: f.str("key")?.to_owned(),
                bytes: u64::try_from(f.i64("bytes")?)
                    .map_err(|_| r.corrupt("bytes out of range"))?,
                sha256: f.str("sha256")?.to_owned(),
            })
        }
    };
    let progress = match r.map(PROGRESS)? {
        None => None,
        Some(m) => {
            let p = Reader::new(m);
            Some(Progress {
                percent: p.i64("percent")?.clamp(0, 100) as u8,
                message: p.opt_str("message")?.map(str::to_owned),
            })
        }
    };
    Ok(Job {
        id: r.require(JobId::parse(r.str(ID)?), "id is not a job id")?,
        owner: r.require(Owner::parse(r.str(OWNER)?), "owner is invalid")?,
        job_type: r.str(TYPE)?.to_owned(),
        input: r.json(INPUT)?.unwrap_or(Value::Null),
        callback_url: r.opt_str(CALLBACK_URL)?.map(str::to_owned),
        status: r.require(JobStatus::parse(r.str(STATUS)?), "status is unknown")?,
        attempts: u32::try_from(r.i64(ATTEMPTS)?)
            .map_err(|_| r.corrupt("attempts out of range"))?,
        created_at: Timestamp::from_millis(r.i64(CREATED_AT)?),
        updated_at: Timestamp::from_millis(r.i64(UPDATED_AT)?),
        started_at: r.time(STARTED_AT)?,
        finished_at: r.time(FINISHED_AT)?,
        lease_until: r.time(LEASE_UNTIL)?,
        result: r.json(RESULT)?,
        result_ref,
        error,
        progress,
        cancel_requested_at: r.time(CANCEL_REQUESTED_AT)?,
        retry_at: r.time(RETRY_AT)?,
        correlation_id: r.require(
            CorrelationId::parse(r.str(CORRELATION_ID)?),
            "correlation_id is invalid",
        )?,
        idempotency_key: r.opt_str(IDEMPOTENCY_KEY)?.and_then(IdempotencyKey::parse),
        fingerprint: r.str(FINGERPRINT)?.to_owned(),
        expires_at: Timestamp::from_millis(r.i64(EXPIRES_AT)? * 1000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use accepted_core::job::{NewJob, Transition};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn a_job_survives_encoding_in_every_state() {
        let created = Job::create(
            NewJob {
                owner: Owner::parse("user-1").unwrap(),
                job_type: "demo.sleep".into(),
                input: json!({"duration_ms": 3, "nested": {"a": [1, 2]}}),
                callback_url: Some("https://example.com/h".into()),
                correlation_id: CorrelationId::generate(),
                idempotency_key: IdempotencyKey::parse("k-1"),
                fingerprint: "abc".into(),
            },
            Timestamp::from_millis(1_700_000_000_000),
            Duration::from_secs(3600),
        );
        let mut running = created
            .apply(&Transition::Start {
                now: Timestamp::from_millis(1_700_000_001_000),
                lease_until: Timestamp::from_millis(1_700_000_061_000),
            })
            .unwrap();
        running.progress = Some(Progress {
            percent: 40,
            message: Some("halfway-ish".into()),
        });
        let mut cancelling = running.clone();
        cancelling.cancel_requested_at = Some(Timestamp::from_millis(1_700_000_001_500));
        let mut released = running.clone();
        released.retry_at = Some(Timestamp::from_millis(1_700_000_009_000));
        let failed = running
            .apply(&Transition::Fail {
                attempt: 1,
                now: Timestamp::from_millis(1_700_000_002_000),
                error: JobError::new("boom", "it broke", false),
            })
            .unwrap();
        let stored = running
            .apply(&Transition::CompleteStored {
                attempt: 1,
                now: Timestamp::from_millis(1_700_000_002_000),
                result_ref: ResultRef {
                    key: format!("results/{}.json", running.id),
                    bytes: 500_000,
                    sha256: "ab".repeat(32),
                },
            })
            .unwrap();
        for job in [created, running, cancelling, released, failed, stored] {
            assert_eq!(decode_job(&encode_job(&job)).unwrap(), job);
        }
    }

    #[test]
    fn corrupt_items_are_reported_not_panicked_on() {
        let mut item = Item::new();
        item.insert(PK.into(), s("JOB#x"));
        item.insert(ID.into(), n(5));
        let err = decode_job(&item).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("id")),
            "{err:?}"
        );
    }
}
