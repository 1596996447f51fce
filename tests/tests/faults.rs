//! The fault-injection suite: the whole pipeline — submit, queue, worker, dead letters,
//! reconciler — under injected faults, on the embedded backend and on moto. Whatever is
//! injected, every accepted job reaches a terminal state, none is lost, no job's side effect
//! runs after it completed, and states only move forward.
//!
//! Time is compressed: the harness stands in for the event source mapping and makes failed
//! records visible again at once, and runs the reconciler as if its staleness window had
//! passed whenever the queue is empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accepted_core::retry::Jitter;
use accepted_core::{
    Config, FieldError, JobId, JobQueue, JobStatus, JobStore, QueueConsumer, Timestamp,
};
use accepted_core::{JobContext, JobFailure, JobHandler};
use accepted_embedded::{Database, EmbeddedJobStore, EmbeddedQueue, QueueSettings};
use accepted_reconciler::{sweep, Reconciler};
use accepted_submit::Submit;
use accepted_tests::faults::{Faults, FaultyQueue, FaultyStore, Strike};
use accepted_tests::{header, split, TestStack};
use accepted_worker::{handle_batch, sqs_event, Worker};
use async_trait::async_trait;
use lambda_http::http::Method;
use serde_json::{json, Value};

/// A job type whose run is an observable side effect: every run is recorded with its time.
#[derive(Default)]
struct Effects {
    runs: Mutex<HashMap<String, Vec<Timestamp>>>,
}

struct EffectJob(Arc<Effects>);

#[async_trait]
impl JobHandler for EffectJob {
    fn job_type(&self) -> &str {
        "test.effect"
    }
    fn validate(&self, _input: &Value) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
    async fn run(&self, ctx: &JobContext, _input: &Value) -> Result<Value, JobFailure> {
        let mut runs = self.0.runs.lock().unwrap();
        runs.entry(ctx.job_id.to_string())
            .or_default()
            .push(Timestamp::now());
        Ok(json!({"ran": true}))
    }
}

struct Rig {
    store: Arc<FaultyStore>,
    consumer: Arc<dyn QueueConsumer>,
    submit: Submit,
    worker: Arc<Worker>,
    reconciler: Reconciler,
    config: Config,
    effects: Arc<Effects>,
    queue_arn: String,
    _stack: Option<TestStack>,
}

/// The real adapters of one backend, before faults are wrapped around them.
struct BackendParts {
    store: Arc<dyn JobStore>,
    queue: Arc<dyn JobQueue>,
    consumer: Arc<dyn QueueConsumer>,
    dead_letters: Arc<dyn JobQueue>,
    config: Config,
    stack: Option<TestStack>,
    arn: String,
}

enum Backend {
    Embedded,
    Moto,
}

struct Plan {
    store_faults: Arc<Faults>,
    queue_faults: Arc<Faults>,
    duplicate_every_send: bool,
    /// Batches during which every store and queue call fails (the backend is down), before
    /// the plan's own rates apply again.
    outage_batches: usize,
    /// Whether `settle` may run the reconciler's sweep when the queue is quiet.
    sweeps: bool,
}

const OVERRIDES: [(&str, &str); 5] = [
    ("DISPATCH_CHECK_DELAY_SECONDS", "0"),
    ("LEASE_SECONDS", "1"),
    ("RETRY_BASE_MS", "1"),
    ("RETRY_CAP_MS", "5"),
    ("MAX_ATTEMPTS", "20"),
];

async fn rig(backend: Backend, plan: &Plan) -> Rig {
    let effects = Arc::new(Effects::default());
    let registry = accepted_builtin_jobs::registry().with(EffectJob(Arc::clone(&effects)));
    let b = match backend {
        Backend::Embedded => {
            let db = Database::in_memory().unwrap();
            let queue = EmbeddedQueue::new(db.clone(), "jobs", QueueSettings::default());
            let dlq = queue.dead_letter_queue().unwrap();
            let env: HashMap<&str, &str> = OVERRIDES
                .into_iter()
                .chain([("JOBS_TABLE", "embedded")])
                .collect();
            BackendParts {
                store: Arc::new(EmbeddedJobStore::new(db)),
                queue: Arc::new(queue.clone()),
                consumer: Arc::new(queue),
                dead_letters: Arc::new(dlq),
                config: Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap(),
                stack: None,
                arn: "embedded".into(),
            }
        }
        Backend::Moto => {
            let t = TestStack::with_registry(registry.clone(), &OVERRIDES).await;
            BackendParts {
                store: t.store.clone(),
                queue: Arc::new(t.consumer.clone()),
                consumer: Arc::new(t.consumer.clone()),
                dead_letters: Arc::new(t.dead_letters.clone()),
                config: t.config.clone(),
                arn: "moto".into(),
                stack: Some(t),
            }
        }
    };
    let (real_store, real_queue, consumer, dlq, config, stack, arn) = (
        b.store,
        b.queue,
        b.consumer,
        b.dead_letters,
        b.config,
        b.stack,
        b.arn,
    );
    let store = FaultyStore::new(real_store, Arc::clone(&plan.store_faults));
    let queue: Arc<dyn JobQueue> = Arc::new(FaultyQueue {
        inner: real_queue,
        faults: Arc::clone(&plan.queue_faults),
        duplicate_every_send: plan.duplicate_every_send,
    });
    let mut worker = Worker::new(store.clone(), registry.clone(), &config)
        .with_queue(Arc::clone(&consumer))
        .with_dead_letter_queue(dlq);
    worker.jitter = Jitter::Full;
    Rig {
        submit: Submit::new(store.clone(), Arc::clone(&queue), registry, &config),
        worker: Arc::new(worker),
        reconciler: Reconciler::new(store.clone(), queue, &config),
        store,
        consumer,
        config,
        effects,
        queue_arn: arn,
        _stack: stack,
    }
}

/// Submits `n` jobs as a careful client would: with an idempotency key, retrying a 503.
async fn submit_all(rig: &Rig, n: usize) -> Vec<JobId> {
    let mut accepted = Vec::new();
    for i in 0..n {
        let key = format!("job-{i}");
        let body = json!({"type": "test.effect", "input": {"n": i}}).to_string();
        for attempt in 0.. {
            let req = accepted_tests::request(
                Method::POST,
                "/jobs",
                body.as_bytes(),
                &[
                    ("content-type", "application/json"),
                    ("idempotency-key", &key),
                ],
                None,
            );
            let (res, job) = split(accepted_submit::handle(&rig.submit, req).await);
            if res.status() == 202 {
                accepted.push(JobId::parse(job["id"].as_str().unwrap()).unwrap());
                break;
            }
            assert_eq!(res.status(), 503, "{job}");
            assert!(header(&res, "retry-after").is_some());
            assert!(attempt < 50, "submit never got through");
        }
    }
    accepted
}

/// Runs the event source and the reconciler until every job is finished.
async fn settle(rig: &Rig, plan: &Plan, jobs: &[JobId]) -> Vec<accepted_core::Job> {
    let (store_rate, queue_rate) = (plan.store_faults.rate(), plan.queue_faults.rate());
    if plan.outage_batches > 0 {
        plan.store_faults.set_rate(1.0);
        plan.queue_faults.set_rate(1.0);
    }
    // Finished jobs never change again: look each up until it is finished, then never again.
    let mut done: HashMap<JobId, accepted_core::Job> = HashMap::new();
    let mut last_sweep = std::time::Instant::now();
    let mut last_check = None::<std::time::Instant>;
    for round in 0..5_000 {
        let messages = rig.consumer.receive(10, Duration::ZERO).await.unwrap();
        if messages.is_empty() {
            // Reading every open job is the costly part on moto: at most every half second.
            if last_check.is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            last_check = Some(std::time::Instant::now());
            let open: Vec<&JobId> = jobs.iter().filter(|id| !done.contains_key(*id)).collect();
            for id in open {
                let job = rig.store.inner.get(id).await.unwrap();
                let job = job.unwrap_or_else(|| panic!("job {id} was lost"));
                if job.status.is_terminal() {
                    done.insert(id.clone(), job);
                }
            }
            if done.len() == jobs.len() {
                return jobs.iter().map(|id| done[id].clone()).collect();
            }
            // Quiet queue, unfinished jobs (their leases running out, or their messages lost):
            // once a second, let the reconciler see them as stale.
            assert!(
                plan.sweeps || round < 1_000,
                "jobs left unfinished, and this plan runs no sweep"
            );
            if plan.sweeps && last_sweep.elapsed() >= Duration::from_secs(1) {
                let later = Timestamp::now().plus(rig.config.stale_after + Duration::from_secs(1));
                let _ = sweep(&rig.reconciler, later).await;
                last_sweep = std::time::Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if round == plan.outage_batches {
            plan.store_faults.set_rate(store_rate);
            plan.queue_faults.set_rate(queue_rate);
        }
        let response = handle_batch(&rig.worker, sqs_event(&messages, &rig.queue_arn), None).await;
        for m in &messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == m.message_id);
            // A message deleted twice, or already visible again, is fine either way.
            let _ = if failed {
                rig.consumer
                    .change_visibility(&m.receipt_handle, Duration::ZERO)
                    .await
            } else {
                rig.consumer.delete(&m.receipt_handle).await
            };
        }
        assert!(round < 4_999, "the system did not settle");
    }
    unreachable!()
}

/// The figures of one run, and the guarantees checked on them.
async fn run_scenario(name: &str, backend: Backend, n: usize, plan: Plan) {
    let backend_name = match backend {
        Backend::Embedded => "embedded",
        Backend::Moto => "moto",
    };
    let rig = rig(backend, &plan).await;
    let jobs = submit_all(&rig, n).await;
    let states = settle(&rig, &plan, &jobs).await;

    let completed = states
        .iter()
        .filter(|j| j.status == JobStatus::Completed)
        .count();
    let failed = states
        .iter()
        .filter(|j| j.status == JobStatus::Failed)
        .count();
    let runs = rig.effects.runs.lock().unwrap().clone();
    let mut effects_after_completion = 0;
    for job in states.iter().filter(|j| j.status == JobStatus::Completed) {
        let finished_at = job.finished_at.unwrap();
        effects_after_completion += runs
            .get(job.id.as_str())
            .map(|r| r.iter().filter(|t| **t > finished_at).count())
            .unwrap_or(0);
        assert!(runs.contains_key(job.id.as_str()), "a completed job ran");
    }
    let backward = rig.store.backward_moves();
    eprintln!(
        "fault scenario {name} on {backend_name}: accepted {}, completed {completed}, failed {failed}, \
         lost 0, side effects after completion {effects_after_completion}, \
         runs {}, store faults {:?}, queue faults {:?}",
        jobs.len(),
        runs.values().map(Vec::len).sum::<usize>(),
        plan.store_faults.injected(),
        plan.queue_faults.injected(),
    );
    assert_eq!(jobs.len(), n);
    assert_eq!(completed + failed, n, "every accepted job is finished");
    assert_eq!(
        effects_after_completion, 0,
        "no side effect after completion"
    );
    assert!(
        backward.is_empty(),
        "states only move forward: {backward:?}"
    );
}

fn plan(store_faults: Arc<Faults>, queue_faults: Arc<Faults>, duplicate_every_send: bool) -> Plan {
    Plan {
        store_faults,
        queue_faults,
        duplicate_every_send,
        outage_batches: 0,
        sweeps: true,
    }
}

fn outage(batches: usize) -> Plan {
    Plan {
        outage_batches: batches,
        ..plan(
            Faults::new(0.0, Strike::Before, 7, |_| true),
            Faults::new(0.0, Strike::Before, 8, |_| true),
            false,
        )
    }
}

macro_rules! on_both_backends {
    ($($name:ident($n:expr, $n_moto:expr, $plan:expr);)*) => {
        mod embedded {
            use super::*;
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { run_scenario(stringify!($name), Backend::Embedded, $n, $plan).await } )*
        }
        mod moto {
            use super::*;
            // moto's single Python process bounds these: the many-jobs run is smaller here,
            // its scale is the embedded run's.
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { run_scenario(stringify!($name), Backend::Moto, $n_moto, $plan).await } )*
        }
    };
}

on_both_backends! {
    crash_between_the_job_write_and_the_send(100, 100, plan(
        Faults::none(),
        Faults::new(0.3, Strike::Before, 1, |op| op == "send"),
        false,
    ));
    crash_after_the_side_effect_before_the_completion_write(100, 100, plan(
        Faults::new(0.3, Strike::Before, 2, |op| op == "transition:complete"),
        Faults::none(),
        false,
    ));
    completion_written_but_its_answer_lost(100, 100, plan(
        Faults::new(0.3, Strike::After, 3, |op| op.starts_with("transition:")),
        Faults::none(),
        false,
    ));
    duplicate_delivery_of_every_message(100, 100, plan(Faults::none(), Faults::none(), true));
    the_backend_down_then_back(100, 100, outage(10));
    throttling_storm_on_the_store(100, 100, plan(
        Faults::new(0.5, Strike::Before, 4, |_| true),
        Faults::none(),
        false,
    ));
    many_jobs_under_random_faults(1000, 250, plan(
        Faults::new(0.05, Strike::Either, 5, |_| true),
        Faults::new(0.05, Strike::Either, 6, |_| true),
        true,
    ));
}

/// `submit` dies between storing a job and sending its message, and its client never tries
/// again, so no replay enqueues the job: only its dispatch check can. With the sweep never
/// run, every stored job still finishes. (The embedded backend has no such gap: the job and
/// its message are one transaction.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_crash_between_the_write_and_the_send_waits_only_for_the_dispatch_check() {
    let plan = Plan {
        sweeps: false,
        ..plan(
            Faults::none(),
            Faults::new(0.3, Strike::Before, 9, |op| op == "send"),
            false,
        )
    };
    let rig = rig(Backend::Moto, &plan).await;
    let stack = rig._stack.as_ref().expect("moto");
    let mut answered = 0;
    for i in 0..40 {
        let body = json!({"type": "test.effect", "input": {"n": i}}).to_string();
        let req = accepted_tests::request(
            Method::POST,
            "/jobs",
            body.as_bytes(),
            &[("content-type", "application/json")],
            None,
        );
        let res = accepted_submit::handle(&rig.submit, req).await;
        match res.status().as_u16() {
            202 => answered += 1,
            status => assert_eq!(status, 503),
        }
    }
    assert!(
        answered < 40,
        "some sends failed: {answered} of 40 answered"
    );

    // What AWS runs around the stack: the stream's consumer schedules a check per stored job,
    // and the reconciler's event source hands the checks over. They are due at once here,
    // before the worker ran: the jobs that did get their message get a second one, as in a
    // backlog longer than the delay, which must change nothing.
    accepted_tests::streams::run_events_function(stack).await;
    let checks_url = stack.config.dispatch_check_queue_url.as_deref().unwrap();
    let checks_queue = accepted_aws::SqsJobQueue::from_sdk_config(&stack.sdk, checks_url);
    let checker = Reconciler::new(
        rig.store.clone(),
        Arc::new(stack.consumer.clone()),
        &rig.config,
    );
    let mut stored = Vec::new();
    loop {
        let checks = checks_queue.receive(10, Duration::ZERO).await.unwrap();
        if checks.is_empty() {
            break;
        }
        let response =
            accepted_reconciler::check_dispatch(&checker, sqs_event(&checks, "checks")).await;
        assert!(response.batch_item_failures.is_empty());
        for check in &checks {
            let reference = accepted_core::JobMessage::decode(&check.body).unwrap();
            stored.push(reference.job_id);
            checks_queue.delete(&check.receipt_handle).await.unwrap();
        }
    }
    assert_eq!(
        stored.len(),
        40,
        "every submit stored its job before its send failed"
    );

    let states = settle(&rig, &plan, &stored).await;
    assert!(states.iter().all(|j| j.status == JobStatus::Completed));
    assert!(states.iter().all(|j| j.attempts == 1), "each started once");
    let runs = rig.effects.runs.lock().unwrap();
    assert!(
        stored
            .iter()
            .all(|id| runs.get(id.as_str()).map(Vec::len) == Some(1)),
        "each side effect ran once"
    );
}
