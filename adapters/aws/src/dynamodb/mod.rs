//! [`JobStore`] on DynamoDB.
//!
//! Creation is one conditional `PutItem`. A keyed job's id is derived from its owner and key
//! ([`KeyedJobIds`]), so the job item is its own idempotency record: fifty racing requests put
//! one item, and the refused ones get it back with the refusal and replay it. Each state
//! change is one conditional `UpdateItem` that returns the new item, or the current one when
//! the condition fails, so no transition needs a read first.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

mod reads;
mod updates;

use crate::item::{self, decode_job, encode_job, Item, Reader};
use crate::job_ids::KeyedJobIds;
use accepted_core::ids::{IdempotencyKey, JobId, Owner};
use accepted_core::job::{Job, Transition};
use accepted_core::ports::{
    CreateOutcome, JobPage, JobQuery, JobStore, StoreError, TransitionError,
};
use accepted_core::time::Timestamp;
use updates::Update;

/// Writes of one keyed job's item a creation tries, for the rare race with TTL deleting the
/// expired job that held the id.
const CREATE_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
    keyed_ids: Option<Arc<KeyedJobIds>>,
    legacy_records: bool,
}

impl DynamoJobStore {
    /// A store that creates unkeyed jobs only: what the status function and the reconciler
    /// need. [`Self::with_keyed_ids`] adds keyed creation and lookup.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            keyed_ids: None,
            legacy_records: false,
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    /// Keyed jobs get the ids `ids` derives.
    pub fn with_keyed_ids(mut self, ids: Arc<KeyedJobIds>) -> Self {
        self.keyed_ids = Some(ids);
        self
    }

    /// Keyed creation and lookup also honour the idempotency records (`IDEM#<owner>#<key>`)
    /// written before ids were derived, at one read each: for a stack upgraded from that
    /// version, until its last record has expired (`JOB_RETENTION_HOURS`).
    pub fn with_legacy_idempotency_records(mut self, honour: bool) -> Self {
        self.legacy_records = honour;
        self
    }

    /// The job a retained legacy idempotency record names.
    async fn legacy_record(
        &self,
        owner: &Owner,
        key: &IdempotencyKey,
    ) -> Result<Option<(String, Job)>, StoreError> {
        if !self.legacy_records {
            return Ok(None);
        }
        let Some(record) = self.get_item(item::idempotency_pk(owner, key)).await? else {
            return Ok(None);
        };
        let record = Reader::new(&record);
        let retained = record
            .opt_i64(item::EXPIRES_AT)?
            .is_some_and(|at| at >= Timestamp::now().as_secs());
        if !retained {
            return Ok(None);
        }
        let job_id = JobId::parse(record.str(item::JOB_ID)?)
            .ok_or_else(|| StoreError::Corrupt("idempotency record names no job".into()))?;
        match self.get(&job_id).await? {
            Some(job) => Ok(Some((record.str(item::FINGERPRINT)?.to_owned(), job))),
            None => Err(StoreError::Corrupt(format!(
                "idempotency record points to missing job {job_id}"
            ))),
        }
    }

    async fn keyed_id(&self, owner: &Owner, key: &IdempotencyKey) -> Result<JobId, StoreError> {
        match &self.keyed_ids {
            Some(ids) => ids.id(owner, key).await,
            None => Err(StoreError::Unavailable(
                "keyed jobs need the job-id key (JOB_ID_KEY_SECRET_ARN)".into(),
            )),
        }
    }

    /// One conditional put of the job under the id its key determines. The put succeeds where
    /// no job holds the id, or where the job that holds it has expired (its key is no longer
    /// retained); otherwise the refusal returns the job that holds it, which this request
    /// replays (same fingerprint) or is refused (another request).
    async fn create_with_key(
        &self,
        job: &Job,
        key: &IdempotencyKey,
    ) -> Result<CreateOutcome, StoreError> {
        if let Some((fingerprint, earlier)) = self.legacy_record(&job.owner, key).await? {
            if fingerprint != job.fingerprint {
                return Err(StoreError::KeyReused);
            }
            return Ok(CreateOutcome::Replayed(earlier));
        }
        let mut keyed = job.clone();
        keyed.id = self.keyed_id(&job.owner, key).await?;
        let now = Timestamp::now();
        for _ in 0..CREATE_ATTEMPTS {
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(encode_job(&keyed)))
                .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
                .expression_attribute_values(":now", item::n(now.as_secs()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let holder = match sent {
                Ok(_) => return Ok(CreateOutcome::Created(keyed)),
                Err(SdkError::ServiceError(se)) => match se.err() {
                    PutItemError::ConditionalCheckFailedException(refused) => {
                        match refused.item() {
                            Some(holder) => Some(holder.clone()),
                            // Emulators that do not return the old item: read it.
                            None => self.get_item(item::job_pk(&keyed.id)).await?,
                        }
                    }
                    other => {
                        return Err(StoreError::Unavailable(
                            DisplayErrorContext(other).to_string(),
                        ))
                    }
                },
                Err(err) => return Err(unavailable(&err)),
            };
            // None: TTL deleted the expired holder between the put and the read; put again.
            if let Some(holder) = holder {
                return replay(&keyed, decode_job(&holder)?);
            }
        }
        Err(StoreError::KeyInProgress)
    }

    async fn get_item(&self, pk: AttributeValue) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(item::PK, pk)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(out.item)
    }
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// The job that holds a keyed id: the same request replays it, another is refused.
fn replay(job: &Job, holder: Job) -> Result<CreateOutcome, StoreError> {
    // Ids are an HMAC of owner and key: a holder of another owner or key is a collision of
    // 122 bits, or a corrupt item. Never hand it out.
    if holder.owner != job.owner || holder.idempotency_key != job.idempotency_key {
        return Err(StoreError::Corrupt(format!(
            "job {} is not the job of its owner and key",
            holder.id
        )));
    }
    if holder.fingerprint != job.fingerprint {
        return Err(StoreError::KeyReused);
    }
    Ok(CreateOutcome::Replayed(holder))
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<CreateOutcome, StoreError> {
        if let Some(key) = &job.idempotency_key {
            return self.create_with_key(job, key).await;
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode_job(job)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(CreateOutcome::Created(job.clone()))
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.get_item(item::job_pk(id))
            .await?
            .map(|item| decode_job(&item))
            .transpose()
    }

    async fn find_by_idempotency_key(
        &self,
        owner: &Owner,
        key: &IdempotencyKey,
    ) -> Result<Option<Job>, StoreError> {
        if let Some((_, earlier)) = self.legacy_record(owner, key).await? {
            return Ok(Some(earlier));
        }
        let id = self.keyed_id(owner, key).await?;
        let Some(job) = self.get(&id).await? else {
            return Ok(None);
        };
        // An expired job no longer retains its key; a foreign holder is not this key's job.
        let retained = job.expires_at.as_secs() >= Timestamp::now().as_secs();
        let ours = job.owner == *owner && job.idempotency_key.as_ref() == Some(key);
        Ok((retained && ours).then_some(job))
    }

    async fn find_stale(
        &self,
        updated_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        self.stale(updated_before, limit).await
    }

    async fn count_unfinished(&self, owner: &Owner, up_to: u32) -> Result<u32, StoreError> {
        self.count_open(owner, up_to).await
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        self.list_page(query).await
    }

    async fn transition(&self, id: &JobId, t: &Transition) -> Result<Job, TransitionError> {
        let update = Update::for_transition(t);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(item::PK, item::job_pk(id))
            .update_expression(update.expression)
            .condition_expression(update.condition)
            .expression_attribute_names("#status", item::STATUS)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, attr) in update.names {
            req = req.expression_attribute_names(name, attr);
        }
        for (name, value) in update.values {
            req = req.expression_attribute_values(name, value);
        }
        match req.send().await {
            Ok(out) => Ok(decode_job(&out.attributes.unwrap_or_default())?),
            Err(SdkError::ServiceError(se)) => match se.err() {
                UpdateItemError::ConditionalCheckFailedException(e) => {
                    let current = match e.item() {
                        Some(current) => Some(current.clone()),
                        // Emulators that drop ReturnValuesOnConditionCheckFailure (dynalite)
                        // say nothing of the job: read it, or a live job would look missing.
                        None => self.get_item(item::job_pk(id)).await?,
                    };
                    match current {
                        Some(current) => {
                            Err(TransitionError::Conflict(Box::new(decode_job(&current)?)))
                        }
                        None => Err(TransitionError::NotFound),
                    }
                }
                other => {
                    Err(StoreError::Unavailable(DisplayErrorContext(other).to_string()).into())
                }
            },
            Err(e) => Err(unavailable(&e).into()),
        }
    }
}
