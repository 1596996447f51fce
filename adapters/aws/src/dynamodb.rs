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
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, Select,
    TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

use super::item::{self, decode_job, encode_job, Item, Reader};
use accepted_core::ids::{IdempotencyKey, JobId, Owner};
use accepted_core::job::{Job, JobStatus, Transition};
use accepted_core::ports::{
    CreateOutcome, JobPage, JobQuery, JobStore, ListPosition, StoreError, TransitionError,
};
use accepted_core::time::Timestamp;

/// Most index items one listing page may read, so a filter that matches little costs little:
/// the page then ends early with a position to continue from.
const LIST_SCAN_BUDGET: usize = 500;

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
        // Each shard yields its oldest `limit`; the oldest `limit` of all of them are among those.
        let mut stale = Vec::new();
        for shard in item::OPEN_SHARDS {
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(item::UNFINISHED_INDEX)
                .key_condition_expression("open_shard = :shard AND updated_at < :before")
                .expression_attribute_values(":shard", item::s(shard))
                .expression_attribute_values(":before", item::ms(updated_before))
                .into_paginator()
                .items()
                .send();
            let mut taken = 0;
            while let Some(found) = pages.next().await {
                let job = decode_job(&found.map_err(|e| unavailable(&e))?)?;
                // The index is eventually consistent: keep what is still unfinished.
                if !job.status.is_terminal() {
                    stale.push(job);
                    taken += 1;
                }
                if taken >= limit {
                    break;
                }
            }
        }
        stale.sort_by_key(|job| job.updated_at);
        stale.truncate(limit);
        Ok(stale)
    }

    async fn count_unfinished(&self, owner: &Owner, up_to: u32) -> Result<u32, StoreError> {
        // Keys only, so a page of up to `up_to` entries costs a few read units.
        let mut count = 0;
        let mut start = None;
        while count < up_to {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(item::UNFINISHED_BY_OWNER_INDEX)
                .key_condition_expression("open_owner = :owner")
                .expression_attribute_values(":owner", item::s(owner.as_str()))
                .select(Select::Count)
                .limit(i32::try_from(up_to - count).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            count += u32::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(count.min(up_to))
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        let mut filters = Vec::new();
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(item::BY_OWNER_INDEX)
            .key_condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", item::OWNER)
            .expression_attribute_values(":owner", item::s(query.owner.as_str()))
            .scan_index_forward(false);
        if let Some(status) = query.status {
            filters.push("#status = :status");
            request = request
                .expression_attribute_names("#status", item::STATUS)
                .expression_attribute_values(":status", item::s(status.as_str()));
        }
        if let Some(job_type) = &query.job_type {
            filters.push("#type = :type");
            request = request
                .expression_attribute_names("#type", item::TYPE)
                .expression_attribute_values(":type", item::s(job_type));
        }
        if !filters.is_empty() {
            request = request.filter_expression(filters.join(" AND "));
        }
        let mut start = query.after.as_ref().map(|after| {
            Item::from([
                (item::PK.to_owned(), item::job_pk(&after.id)),
                (item::OWNER.to_owned(), item::s(query.owner.as_str())),
                (item::CREATED_AT.to_owned(), item::ms(after.created_at)),
            ])
        });
        let mut jobs = Vec::new();
        let mut scanned = 0;
        loop {
            let page_limit = if filters.is_empty() {
                query.limit - jobs.len()
            } else {
                LIST_SCAN_BUDGET - scanned
            };
            let out = request
                .clone()
                .set_exclusive_start_key(start.take())
                .limit(page_limit.max(1) as i32)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            scanned += out.scanned_count().max(0) as usize;
            for found in out.items() {
                jobs.push(decode_job(found)?);
            }
            if jobs.len() >= query.limit {
                let more = jobs.len() > query.limit || out.last_evaluated_key.is_some();
                jobs.truncate(query.limit);
                let next = jobs.last().filter(|_| more).map(ListPosition::of);
                return Ok(JobPage { jobs, next });
            }
            let Some(last) = out.last_evaluated_key else {
                return Ok(JobPage { jobs, next: None });
            };
            if scanned >= LIST_SCAN_BUDGET {
                // Continue from the last item read, matched or not.
                let position = Reader::new(&last).position()?;
                return Ok(JobPage {
                    jobs,
                    next: Some(position),
                });
            }
            start = Some(last);
        }
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

/// The `UpdateItem` expressions of one transition: the DynamoDB spelling of [`Job::apply`].
struct Update {
    expression: String,
    condition: &'static str,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, AttributeValue)>,
}

impl Update {
    fn for_transition(t: &Transition) -> Self {
        let status = |s: JobStatus| item::s(s.as_str());
        // Every finishing transition leaves the sparse `unfinished` indexes.
        const FINISH: &str = "finished_at = :now, updated_at = :now \
                              REMOVE lease_until, open_shard, open_owner, retry_at";
        match t {
            Transition::Start { now, lease_until } => Self {
                expression: "SET #status = :running, attempts = attempts + :one, \
                             lease_until = :lease, started_at = if_not_exists(started_at, :now), \
                             updated_at = :now REMOVE retry_at"
                    .into(),
                condition:
                    "attribute_exists(pk) AND attribute_not_exists(cancel_requested_at) \
                            AND (#status = :pending OR (#status = :running AND lease_until < :now))",
                names: vec![],
                values: vec![
                    (":running", status(JobStatus::Running)),
                    (":pending", status(JobStatus::Pending)),
                    (":one", item::n(1)),
                    (":lease", item::ms(*lease_until)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Heartbeat {
                attempt,
                now,
                lease_until,
            } => Self {
                expression: "SET lease_until = :lease, updated_at = :now".into(),
                condition: "#status = :running AND attempts = :attempt",
                names: vec![],
                values: vec![
                    (":running", status(JobStatus::Running)),
                    (":lease", item::ms(*lease_until)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Progress {
                attempt,
                now,
                progress,
            } => Self {
                expression: "SET #progress = :progress, updated_at = :now".into(),
                condition: "#status = :running AND attempts = :attempt",
                names: vec![("#progress", item::PROGRESS)],
                values: vec![
                    (":running", status(JobStatus::Running)),
                    (":progress", item::progress_map(progress)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Complete {
                attempt,
                now,
                result,
            } => Self {
                expression: format!(
                    "SET #status = :completed, #result = :result, {FINISH}, #error"
                ),
                condition: "#status = :running AND attempts = :attempt \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#result", item::RESULT), ("#error", item::ERROR)],
                values: vec![
                    (":completed", status(JobStatus::Completed)),
                    (":running", status(JobStatus::Running)),
                    (":result", item::json(result)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::CompleteStored {
                attempt,
                now,
                result_ref,
            } => Self {
                expression: format!(
                    "SET #status = :completed, result_ref = :result_ref, {FINISH}, #error, #result"
                ),
                condition: "#status = :running AND attempts = :attempt \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#result", item::RESULT), ("#error", item::ERROR)],
                values: vec![
                    (":completed", status(JobStatus::Completed)),
                    (":running", status(JobStatus::Running)),
                    (":result_ref", item::result_ref_map(result_ref)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Fail {
                attempt,
                now,
                error,
            } => Self {
                expression: format!("SET #status = :failed, #error = :error, {FINISH}"),
                condition: "#status = :running AND attempts = :attempt \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#error", item::ERROR)],
                values: vec![
                    (":failed", status(JobStatus::Failed)),
                    (":running", status(JobStatus::Running)),
                    (":error", item::error_map(error)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Abandon { now, error } => Self {
                expression: format!("SET #status = :failed, #error = :error, {FINISH}"),
                condition: "#status IN (:pending, :running) \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#error", item::ERROR)],
                values: vec![
                    (":failed", status(JobStatus::Failed)),
                    (":pending", status(JobStatus::Pending)),
                    (":running", status(JobStatus::Running)),
                    (":error", item::error_map(error)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::Release {
                attempt,
                now,
                error,
                retry_at,
            } => Self {
                expression: "SET #status = :pending, #error = :error, retry_at = :retry_at, \
                             updated_at = :now REMOVE lease_until"
                    .into(),
                condition: "#status = :running AND attempts = :attempt \
                            AND attribute_not_exists(cancel_requested_at)",
                names: vec![("#error", item::ERROR)],
                values: vec![
                    (":pending", status(JobStatus::Pending)),
                    (":running", status(JobStatus::Running)),
                    (":error", item::error_map(error)),
                    (":retry_at", item::ms(*retry_at)),
                    (":attempt", item::n(attempt)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::CancelPending { now } => Self {
                expression: format!("SET #status = :cancelled, {FINISH}"),
                condition: "#status = :pending",
                names: vec![],
                values: vec![
                    (":cancelled", status(JobStatus::Cancelled)),
                    (":pending", status(JobStatus::Pending)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::RequestCancel { now } => Self {
                expression: "SET cancel_requested_at = :now, updated_at = :now".into(),
                condition: "#status = :running AND attribute_not_exists(cancel_requested_at)",
                names: vec![],
                values: vec![
                    (":running", status(JobStatus::Running)),
                    (":now", item::ms(*now)),
                ],
            },
            Transition::ConcludeCancel { now } => Self {
                expression: format!("SET #status = :cancelled, {FINISH}"),
                condition: "#status = :running AND attribute_exists(cancel_requested_at)",
                names: vec![],
                values: vec![
                    (":cancelled", status(JobStatus::Cancelled)),
                    (":running", status(JobStatus::Running)),
                    (":now", item::ms(*now)),
                ],
            },
        }
    }
}
