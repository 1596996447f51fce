//! End to end: the `accepted serve` binary as a process, driven over HTTP on a free port,
//! on the embedded backend — including a restart in the middle of a run.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, Server};

use serde_json::{json, Value};

/// Small batches, one at a time: jobs stay queued long enough to restart mid-run.
const SMALL_BATCHES: [&str; 4] = ["--batch-size", "2", "--max-concurrency", "1"];

fn start(data_dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Server {
    let args: Vec<&str> = SMALL_BATCHES.iter().chain(args).copied().collect();
    Server::start_on(data_dir, port, &args, env)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn post(base: &str, body: &Value, key: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = agent()
        .post(format!("{base}/jobs"))
        .header("content-type", "application/json");
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let mut res = req.send(body.to_string()).expect("POST /jobs");
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    (res.status().as_u16(), replayed, body)
}

fn get(base: &str, id: &str) -> Value {
    let mut res = agent()
        .get(format!("{base}/jobs/{id}"))
        .call()
        .expect("GET");
    assert_eq!(res.status().as_u16(), 200);
    serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap()
}

/// Polls until the job is finished, honouring no `Retry-After` (tests poll fast).
fn wait_finished(base: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let job = get(base, id);
        if ["completed", "failed", "cancelled"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "job {id} never finished: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serves_runs_replays_fails_and_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(data.path(), port, &[], &[]);
    let base = server.base.clone();

    let sleep = json!({"type": "demo.sleep", "input": {"duration_ms": 100}});
    let (status, replayed, first) = post(&base, &sleep, Some("e2e-1"));
    assert_eq!((status, replayed), (202, None));
    let (status, replayed, again) = post(&base, &sleep, Some("e2e-1"));
    assert_eq!((status, replayed.as_deref()), (202, Some("true")));
    assert_eq!(again["id"], first["id"]);
    let (status, _, problem) = post(&base, &json!({"type": "nope", "input": {}}), None);
    assert_eq!(
        (status, problem["type"].as_str()),
        (422, Some("/problems/validation-failed"))
    );

    let failing = json!({"type": "demo.sleep",
                         "input": {"duration_ms": 10, "fail_attempts": 1, "failure": "permanent"}});
    let (_, _, doomed) = post(&base, &failing, None);

    let done = wait_finished(&base, first["id"].as_str().unwrap());
    assert_eq!(
        (done["status"].as_str(), done["attempts"].as_u64()),
        (Some("completed"), Some(1))
    );
    assert_eq!(done["result"]["slept_ms"], 100);
    let failed = wait_finished(&base, doomed["id"].as_str().unwrap());
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "demo_failure");

    // Ten slow jobs; stop while most are still queued.
    let slow = json!({"type": "demo.sleep", "input": {"duration_ms": 400}});
    let ids: Vec<String> = (0..10)
        .map(|i| {
            let (status, _, job) = post(&base, &slow, Some(&format!("restart-{i}")));
            assert_eq!(status, 202);
            job["id"].as_str().unwrap().to_owned()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.stop();

    let unfinished = ids
        .iter()
        .filter(|id| !is_finished_on_disk(data.path(), id))
        .count();
    assert!(unfinished > 0, "the restart should happen mid-run");

    let server = start(data.path(), port, &[], &[]);
    for id in &ids {
        let job = wait_finished(&server.base, id);
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["attempts"], 1, "no job ran twice: {job}");
    }
    // Jobs accepted before the restart are still replayable after it.
    let (_, replayed, again) = post(&server.base, &slow, Some("restart-0"));
    assert_eq!(
        (replayed.as_deref(), again["id"].as_str()),
        (Some("true"), Some(ids[0].as_str()))
    );
    server.stop();
}

#[test]
fn jobs_in_flight_when_the_server_is_killed_are_taken_over_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // A short visibility timeout and lease, so the abandoned attempts come back quickly.
    let args = ["--visibility-timeout-secs", "2"];
    let env = [("LEASE_SECONDS", "1")];
    let server = start(data.path(), port, &args, &env);
    let slow = json!({"type": "demo.sleep", "input": {"duration_ms": 1500}});
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let (status, _, job) = post(&server.base, &slow, Some(&format!("kill-{i}")));
            assert_eq!(status, 202);
            job["id"].as_str().unwrap().to_owned()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    server.kill();

    let server = start(data.path(), port, &args, &env);
    let mut taken_over = 0;
    for id in &ids {
        let job = wait_finished(&server.base, id);
        assert_eq!(job["status"], "completed", "{job}");
        if job["attempts"].as_u64() > Some(1) {
            taken_over += 1;
        }
    }
    assert!(
        taken_over >= 1,
        "the attempts killed mid-run were taken over"
    );
    server.stop();
}

/// Reads the database while the server is down: the file is the only state there is.
fn is_finished_on_disk(data_dir: &Path, id: &str) -> bool {
    use accepted_core::{JobId, JobStore};
    use accepted_embedded::{Database, EmbeddedJobStore};
    let db = Database::open(&data_dir.join("accepted.sqlite3")).unwrap();
    let store = EmbeddedJobStore::new(db);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let job = rt
        .block_on(store.get(&JobId::parse(id).unwrap()))
        .unwrap()
        .unwrap();
    job.status.is_terminal()
}

/// Jobs with `status`, up to 100 (enough for the burst below to be judged).
fn count_with_status(base: &str, status: &str) -> usize {
    let mut res = agent()
        .get(format!("{base}/jobs?status={status}&limit=100"))
        .call()
        .expect("GET /jobs");
    let page: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    page["jobs"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_kill_during_a_submit_burst_leaves_no_stored_job_without_its_message() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // Messages received before the kill come back after 2 s, not the default 180.
    let (args, env) = (["--visibility-timeout-secs", "2"], [("LEASE_SECONDS", "1")]);
    let server = start(data.path(), port, &args, &env);
    let base = server.base.clone();
    let quick = json!({"type": "demo.sleep", "input": {"duration_ms": 1}});
    let submitters: Vec<_> = (0..4)
        .map(|t| {
            let (base, quick) = (base.clone(), quick.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let key = format!("burst-{t}-{i}");
                    let sent = agent()
                        .post(format!("{base}/jobs"))
                        .header("content-type", "application/json")
                        .header("idempotency-key", &key)
                        .send(quick.to_string());
                    if sent.is_err() {
                        return i;
                    }
                }
                unreachable!()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    server.kill();
    let sent: u32 = submitters.into_iter().map(|s| s.join().unwrap()).sum();
    assert!(sent > 0, "the burst reached the server");

    // No reconciler help: a job stored without its message would stay pending for its
    // 15 minutes. Every stored job must run now.
    let server = start(data.path(), port, &args, &env);
    let started = Instant::now();
    while count_with_status(&server.base, "pending") + count_with_status(&server.base, "running")
        > 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "jobs stored before the kill never ran: they have no message"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(count_with_status(&server.base, "completed") > 0);
    server.stop();
}
