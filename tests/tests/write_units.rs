//! The DynamoDB write units a job costs, from the items and indexes moto actually holds.
//!
//! Writes are most of a job's bill (BENCHMARKS.md, "What a million jobs cost"), and the part a
//! table or index change moves without anyone noticing. This test replays the table's stream
//! of one common job (a keyed submit, one attempt, a small result) through DynamoDB's billing
//! rules (`accepted_tests::write_units`) and holds each step's figure exactly.

use std::time::Duration;

use accepted_aws::item;
use accepted_core::{JobId, JobStatus};
use accepted_tests::streams::StreamReader;
use accepted_tests::write_units::{Cost, Table};
use accepted_tests::TestStack;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
use serde_json::json;

fn status_after(record: &Record) -> Option<&str> {
    let image = record.dynamodb()?.new_image()?;
    match image.get(item::STATUS)? {
        AttributeValue::S(status) => Some(status),
        _ => None,
    }
}

async fn stored_status(t: &TestStack, id: &JobId) -> JobStatus {
    let found = t
        .dynamo
        .get_item()
        .table_name(&t.config.table_name)
        .key(item::PK, item::job_pk(id))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
        .expect("the job item");
    item::decode_job(&found).expect("a job").status
}

#[tokio::test]
async fn a_keyed_job_that_completes_costs_six_write_units() {
    let t = TestStack::new().await;
    let table = Table::from_description(
        &t.dynamo
            .describe_table()
            .table_name(&t.config.table_name)
            .send()
            .await
            .expect("describe table")
            .table
            .expect("the table"),
    );
    let stream = StreamReader::new(&t).await;
    t.calls.take();

    let body = json!({"type": "demo.sleep", "input": {"duration_ms": 1}});
    let (res, job) = t
        .post_job(&body, &[("idempotency-key", "write-units-1")])
        .await;
    assert_eq!(res.status(), 202, "{job}");
    let id = JobId::parse(job["id"].as_str().expect("an id")).expect("a job id");
    let accept_calls = t.calls.take();
    let accepted = stream.records().await;

    for _ in 0..200 {
        t.poll_worker_once().await;
        if stored_status(&t, &id).await == JobStatus::Completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored_status(&t, &id).await, JobStatus::Completed);
    let run_calls = t.calls.take();
    let records = stream.records().await;
    let run = &records[accepted.len()..];

    // Nothing writes in a transaction, which DynamoDB bills double.
    for calls in [&accept_calls, &run_calls] {
        assert_eq!(calls.get("DynamoDB.TransactWriteItems"), 0, "{calls:?}");
    }
    let accept = table.stream_cost(&accepted, |_| false);
    let (starts, finishes): (Vec<Record>, Vec<Record>) = run
        .iter()
        .cloned()
        .partition(|r| status_after(r) == Some("running"));
    let start = table.stream_cost(&starts, |_| false);
    let finish = table.stream_cost(&finishes, |_| false);
    let mut total = Cost::default();
    for step in [&accept, &start, &finish] {
        total += step.clone();
    }
    println!("accept {accept}\nstart {start}\nfinish {finish}\njob {total}");

    let expect = |pairs: &[(&str, u32)]| -> Vec<(String, u32)> {
        pairs.iter().map(|(n, u)| ((*n).to_owned(), *u)).collect()
    };
    // One plain put of the job, 1 KB or less (its id is derived from its key, so it is its
    // own idempotency record); its entries in owner_jobs and open_jobs.
    assert_eq!(accept.item, 1, "accept {accept}");
    assert_eq!(
        accept.indexes,
        expect(&[("open_jobs", 1), ("owner_jobs", 1)]),
        "accept {accept}"
    );
    // The item alone: both indexes are keys only, on attributes a start leaves alone.
    assert_eq!(start.item, 1, "start {start}");
    assert_eq!(start.indexes, expect(&[]), "start {start}");
    // The item, and leaving the sparse open_jobs.
    assert_eq!(finish.item, 1, "finish {finish}");
    assert_eq!(
        finish.indexes,
        expect(&[("open_jobs", 1)]),
        "finish {finish}"
    );
    assert_eq!(total.total(), 6, "job {total}");
}
