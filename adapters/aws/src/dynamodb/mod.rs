//! [`JobStore`] on DynamoDB.
//!
//! Creation is one `TransactWriteItems` (idempotency item + job item, both conditional), so a
//! key can never point to a missing job and fifty racing requests create one job. Each state
//! change is one conditional `UpdateItem` that returns the new item, or the current one when
//! the condition fails, so no transition needs a read first.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

mod reads;
mod updates;

use crate::item::{self, decode_job, encode_job, Item, Reader};
use accepted_core::ids::{IdempotencyKey, JobId, Owner};
use accepted_core::job::{Job, Transition};
use accepted_core::ports::{
    CreateOutcome, JobPage, JobQuery, JobStore, StoreError, TransitionError,
};
use accepted_core::time::Timestamp;
use updates::Update;

/// Attempts at a creation that DynamoDB cancels for a conflicting concurrent transaction.
const CREATE_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    async fn create_with_key(&self, job: &Job) -> Result<CreateOutcome, StoreError> {
        let Some(key) = &job.idempotency_key else {
            return Err(StoreError::Corrupt("job has no idempotency key".into()));
        };
        let idem_item = Item::from([
            (item::PK.to_owned(), item::idempotency_pk(&job.owner, key)),
            (item::JOB_ID.to_owned(), item::s(job.id.as_str())),
            (item::FINGERPRINT.to_owned(), item::s(&job.fingerprint)),
            (
                item::EXPIRES_AT.to_owned(),
                item::n(job.expires_at.as_secs()),
            ),
        ]);
        // An expired key that TTL has not deleted yet is free to reuse.
        let idem_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(idem_item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", item::n(Timestamp::now().as_secs()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let job_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(encode_job(job)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;

        let mut backoff = Duration::from_millis(20);
        for attempt in 1..=CREATE_ATTEMPTS {
            let sent = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(idem_put.clone()).build())
                .transact_items(TransactWriteItem::builder().put(job_put.clone()).build())
                .send()
                .await;
            let err = match sent {
                Ok(_) => return Ok(CreateOutcome::Created(job.clone())),
                Err(err) => err,
            };
            let reasons = match &err {
                SdkError::ServiceError(se) => match se.err() {
                    TransactWriteItemsError::TransactionCanceledException(e) => {
                        e.cancellation_reasons().to_vec()
                    }
                    _ => return Err(unavailable(&err)),
                },
                _ => return Err(unavailable(&err)),
            };
            let idem_reason = reasons.first();
            if idem_reason.and_then(|r| r.code()) == Some("ConditionalCheckFailed") {
                let existing = idem_reason.and_then(|r| r.item()).cloned();
                return self.replay(job, existing).await;
            }
            let conflicted = reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"));
            if !conflicted {
                return Err(unavailable(&err));
            }
            if attempt < CREATE_ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        // Only a request with the same key touches the key's item: it is still writing.
        Err(StoreError::KeyInProgress)
    }

    /// The key is taken: the same request replays its job, another request is refused.
    async fn replay(&self, job: &Job, existing: Option<Item>) -> Result<CreateOutcome, StoreError> {
        let existing = match existing {
            Some(item) => item,
            // Emulators that do not return the old item: read it.
            None => self
                .get_item(match &job.idempotency_key {
                    Some(key) => item::idempotency_pk(&job.owner, key),
                    None => return Err(StoreError::Corrupt("job has no idempotency key".into())),
                })
                .await?
                .ok_or_else(|| StoreError::Unavailable("idempotency record vanished".into()))?,
        };
        let record = Reader::new(&existing);
        if record.str(item::FINGERPRINT)? != job.fingerprint {
            return Err(StoreError::KeyReused);
        }
        let job_id = JobId::parse(record.str(item::JOB_ID)?)
            .ok_or_else(|| StoreError::Corrupt("idempotency record names no job".into()))?;
        match self.get(&job_id).await? {
            Some(original) => Ok(CreateOutcome::Replayed(original)),
            None => Err(StoreError::Corrupt(format!(
                "idempotency record points to missing job {job_id}"
            ))),
        }
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

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<CreateOutcome, StoreError> {
        if job.idempotency_key.is_some() {
            return self.create_with_key(job).await;
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
        let Some(record) = self.get_item(item::idempotency_pk(owner, key)).await? else {
            return Ok(None);
        };
        let record = Reader::new(&record);
        let expired = record
            .opt_i64(item::EXPIRES_AT)?
            .is_some_and(|at| at < Timestamp::now().as_secs());
        if expired {
            return Ok(None);
        }
        let job_id = JobId::parse(record.str(item::JOB_ID)?)
            .ok_or_else(|| StoreError::Corrupt("idempotency record names no job".into()))?;
        self.get(&job_id).await
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
