//! The reads that go through an index: listing an owner's jobs, counting their unfinished
//! ones, and the sweep's search for stale jobs.
//!
//! Both indexes are keys only, so a transition never writes them (their keys never change):
//! that is most of what a job saves in write units. The price is paid on these reads, which
//! are rarer and about five times cheaper per unit: the index gives the keys, and one
//! `BatchGetItem` per hundred keys reads the jobs.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Select};

use super::{unavailable, DynamoJobStore};
use crate::item::{self, decode_job, Item, Reader};
use accepted_core::ids::Owner;
use accepted_core::job::Job;
use accepted_core::ports::{JobPage, JobQuery, ListPosition, StoreError};
use accepted_core::time::Timestamp;

/// Most index entries one listing page may examine, so a filter that matches little costs
/// little: the page then ends early with a position to continue from.
const LIST_SCAN_BUDGET: usize = 500;

/// Keys per `BatchGetItem`: DynamoDB's limit.
const BATCH_GET_KEYS: usize = 100;

/// Rounds of `UnprocessedKeys` (throttled reads) a batch read retries before it gives up.
const BATCH_GET_ROUNDS: u32 = 5;

/// How many candidates the sweep reads per stale job it may return: candidates are unfinished
/// jobs created before the cut-off, and one that is alive (a long job that renews its lease)
/// costs a read and is skipped.
const STALE_READS_PER_RESULT: usize = 4;

impl DynamoJobStore {
    /// The items of `keys` (job `pk`s), by `pk`; a key with no item is absent.
    async fn batch_get(
        &self,
        keys: &[AttributeValue],
        consistent: bool,
    ) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(
                        chunk
                            .iter()
                            .map(|pk| Item::from([(item::PK.to_owned(), pk.clone())]))
                            .collect(),
                    ))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
            let mut backoff = Duration::from_millis(20);
            for round in 1..=BATCH_GET_ROUNDS {
                let Some(request) = pending.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| unavailable(&e))?;
                for got in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    let pk = Reader::new(&got).str(item::PK)?.to_owned();
                    found.insert(pk, got);
                }
                pending = out
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .filter(|left| !left.keys().is_empty());
                if pending.is_some() && round < BATCH_GET_ROUNDS {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
            if pending.is_some() {
                return Err(StoreError::Unavailable(
                    "BatchGetItem left keys unprocessed after every retry".into(),
                ));
            }
        }
        Ok(found)
    }

    pub(super) async fn count_open(&self, owner: &Owner, up_to: u32) -> Result<u32, StoreError> {
        // Keys only, so a page of up to `up_to` entries costs a few read units.
        let mut count = 0;
        let mut start = None;
        while count < up_to {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(item::OPEN_JOBS_INDEX)
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

    /// Unfinished jobs not updated since `updated_before`, oldest update first.
    ///
    /// A stale job was created before the cut-off too, so the scan of `open_jobs` (keys only,
    /// a few bytes a job) keeps only those; the oldest-created are read first, as they are the
    /// likeliest to be stale.
    pub(super) async fn stale(
        &self,
        updated_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let mut candidates = Vec::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .index_name(item::OPEN_JOBS_INDEX)
            .filter_expression("created_at < :before")
            .expression_attribute_values(":before", item::ms(updated_before))
            .into_paginator()
            .items()
            .send();
        while let Some(entry) = pages.next().await {
            let entry = entry.map_err(|e| unavailable(&e))?;
            let position = Reader::new(&entry).position()?;
            candidates.push((position.created_at, item::job_pk(&position.id)));
        }
        candidates.sort_by_key(|(created_at, _)| *created_at);
        candidates.truncate(limit.saturating_mul(STALE_READS_PER_RESULT));

        let mut stale = Vec::new();
        for chunk in candidates.chunks(BATCH_GET_KEYS) {
            let keys: Vec<AttributeValue> = chunk.iter().map(|(_, pk)| pk.clone()).collect();
            for found in self.batch_get(&keys, true).await?.values() {
                let job = decode_job(found)?;
                // The index lags the table: keep what is still unfinished and still stale.
                if !job.status.is_terminal() && job.updated_at < updated_before {
                    stale.push(job);
                }
            }
            if stale.len() >= limit {
                break;
            }
        }
        stale.sort_by_key(|job| job.updated_at);
        stale.truncate(limit);
        Ok(stale)
    }

    pub(super) async fn list_page(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        let filtered = query.status.is_some() || query.job_type.is_some();
        let matches = |job: &Job| {
            query.status.is_none_or(|status| job.status == status)
                && query.job_type.as_ref().is_none_or(|t| job.job_type == *t)
        };
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(item::OWNER_JOBS_INDEX)
            .key_condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", item::OWNER)
            .expression_attribute_values(":owner", item::s(query.owner.as_str()))
            .scan_index_forward(false);
        let mut start = query.after.as_ref().map(|after| {
            Item::from([
                (item::PK.to_owned(), item::job_pk(&after.id)),
                (item::OWNER.to_owned(), item::s(query.owner.as_str())),
                (item::CREATED_AT.to_owned(), item::ms(after.created_at)),
            ])
        });
        let mut jobs = Vec::new();
        let mut examined = 0;
        loop {
            let wanted = if filtered {
                LIST_SCAN_BUDGET - examined
            } else {
                query.limit - jobs.len()
            };
            let out = request
                .clone()
                .set_exclusive_start_key(start.take())
                .limit(wanted.clamp(1, BATCH_GET_KEYS) as i32)
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            let entries = out.items();
            let keys: Vec<AttributeValue> = entries
                .iter()
                .filter_map(|entry| entry.get(item::PK).cloned())
                .collect();
            // Eventually consistent, like the index itself.
            let found = self.batch_get(&keys, false).await?;
            for (index, entry) in entries.iter().enumerate() {
                examined += 1;
                let position = Reader::new(entry).position()?;
                // An entry whose job TTL has just deleted is skipped.
                let pk = item::job_pk(&position.id);
                let Some(item) = pk.as_s().ok().and_then(|pk| found.get(pk)) else {
                    continue;
                };
                let job = decode_job(item)?;
                if !matches(&job) {
                    continue;
                }
                jobs.push(job);
                if jobs.len() == query.limit {
                    let more = index + 1 < entries.len() || out.last_evaluated_key.is_some();
                    let next = jobs.last().filter(|_| more).map(ListPosition::of);
                    return Ok(JobPage { jobs, next });
                }
            }
            let Some(last) = out.last_evaluated_key else {
                return Ok(JobPage { jobs, next: None });
            };
            if examined >= LIST_SCAN_BUDGET {
                // Continue after the last entry examined, matched or not.
                let position = Reader::new(&last).position()?;
                return Ok(JobPage {
                    jobs,
                    next: Some(position),
                });
            }
            start = Some(last);
        }
    }
}
