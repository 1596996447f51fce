//! A stack upgraded from the table layout before keyed jobs' ids were derived: the idempotency
//! records (`IDEM#<owner>#<key>`) that version wrote still name their jobs while
//! `LEGACY_IDEMPOTENCY_RECORDS` is on (docs/operations.md, "Upgrade a stack's table").

use accepted_aws::{item, DynamoJobStore};
use accepted_core::{CreateOutcome, IdempotencyKey, JobStore, Owner, StoreError, Timestamp};
use accepted_tests::ports::new_job;
use accepted_tests::TestStack;

/// What the earlier version wrote for a keyed request: the job under a random id, and the
/// key's record naming it.
async fn write_as_before(t: &TestStack, job: &accepted_core::Job) {
    let key = job.idempotency_key.as_ref().expect("a keyed job");
    for stored in [
        item::encode_job(job),
        item::Item::from([
            (item::PK.to_owned(), item::idempotency_pk(&job.owner, key)),
            (item::JOB_ID.to_owned(), item::s(job.id.as_str())),
            (item::FINGERPRINT.to_owned(), item::s(&job.fingerprint)),
            (
                item::EXPIRES_AT.to_owned(),
                item::n(job.expires_at.as_secs()),
            ),
        ]),
    ] {
        t.dynamo
            .put_item()
            .table_name(&t.config.table_name)
            .set_item(Some(stored))
            .send()
            .await
            .expect("put");
    }
}

#[tokio::test]
async fn a_key_accepted_before_the_upgrade_replays_its_job_while_old_records_are_honoured() {
    let t = TestStack::new().await;
    let earlier = new_job("alice", Some("order-1"), "fp-a");
    write_as_before(&t, &earlier).await;
    let store = || DynamoJobStore::new(t.dynamo.clone(), &t.config.table_name);
    let honouring = store()
        .with_keyed_ids(t.keyed_ids())
        .with_legacy_idempotency_records(true);

    let retry = new_job("alice", Some("order-1"), "fp-a");
    assert_eq!(
        honouring.create(&retry).await.unwrap(),
        CreateOutcome::Replayed(earlier.clone())
    );
    let other = new_job("alice", Some("order-1"), "fp-b");
    assert_eq!(honouring.create(&other).await, Err(StoreError::KeyReused));
    let (alice, key) = (
        Owner::parse("alice").unwrap(),
        IdempotencyKey::parse("order-1").unwrap(),
    );
    assert_eq!(
        honouring
            .find_by_idempotency_key(&alice, &key)
            .await
            .unwrap(),
        Some(earlier.clone())
    );
    assert_eq!(t.item_count().await, 2, "nothing was written");

    // Without them (the default), the old record is not read: the key's own id is free.
    let plain = store().with_keyed_ids(t.keyed_ids());
    let CreateOutcome::Created(second) = plain.create(&retry).await.unwrap() else {
        panic!("a new job");
    };
    assert_ne!(second.id, earlier.id);
}

#[tokio::test]
async fn an_expired_old_record_is_not_honoured() {
    let t = TestStack::new().await;
    let mut earlier = new_job("alice", Some("order-2"), "fp-a");
    earlier.expires_at = Timestamp::from_millis(Timestamp::now().as_millis() - 10_000);
    write_as_before(&t, &earlier).await;
    let honouring = DynamoJobStore::new(t.dynamo.clone(), &t.config.table_name)
        .with_keyed_ids(t.keyed_ids())
        .with_legacy_idempotency_records(true);
    let other = new_job("alice", Some("order-2"), "fp-b");
    assert!(matches!(
        honouring.create(&other).await.unwrap(),
        CreateOutcome::Created(_)
    ));
}
