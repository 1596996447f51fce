//! The data folder of `accepted serve`: one server at a time, owner-only files, and a start
//! that fails at once, naming the file, when the folder cannot be used.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{finished, free_port, submit, Server};
use serde_json::json;

/// Runs `accepted serve` on `data_dir`, which must refuse to start: its exit code and
/// standard error. A server that starts anyway is killed after 20 s and the test fails.
fn refused_start(data_dir: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_accepted"))
        .args(["serve", "--port", &free_port().to_string(), "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("accepted starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("accepted serve started on {}", data_dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success(), "{stderr}");
    stderr
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_second_server_on_the_same_data_dir_refuses_to_start() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let first = Server::start(&data, &[], &[]);
    let stderr = refused_start(&data);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(stderr.contains(&data.display().to_string()), "{stderr}");
    // The first one never noticed.
    let id = submit(
        &first.base,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1}}),
    );
    assert_eq!(finished(&first.base, &id)["status"], "completed");
    // Its lock goes with it, even on SIGKILL: the next start needs no clean-up.
    first.kill();
    Server::start(&data, &[], &[]).stop();
}

#[test]
fn every_data_file_is_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let server = Server::start(&data, &[], &[]);
    // A result large enough to be stored as a file, an event and a webhook secret.
    let id = submit(
        &server.base,
        json!({"type": "demo.sleep", "input": {"duration_ms": 1, "result_bytes": 200_000}}),
    );
    assert_eq!(finished(&server.base, &id)["status"], "completed");
    common::call("GET", &format!("{}/webhook-secret", server.base), None);
    server.stop();
    assert_eq!(mode(&data), 0o700);
    let mut files = Vec::new();
    let mut pending = vec![data.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                pending.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                files.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let result = format!("{id}.json");
    for expected in [
        "accepted.sqlite3",
        "events.jsonl",
        "lock",
        "webhook-secret",
        &result,
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} in {files:?}"
        );
    }
}

#[test]
fn a_database_it_cannot_use_stops_the_start_and_is_named() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(data.join("accepted.sqlite3")).unwrap();
    let stderr = refused_start(&data);
    let file = data.join("accepted.sqlite3").display().to_string();
    assert!(stderr.contains(&file), "{stderr}");

    // Root may write any file, so a read-only mode proves nothing when the tests run as root.
    if unsafe { libc::geteuid() } != 0 {
        std::fs::remove_dir(data.join("accepted.sqlite3")).unwrap();
        Server::start(&data, &[], &[]).stop();
        std::fs::set_permissions(
            data.join("accepted.sqlite3"),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        let stderr = refused_start(&data);
        assert!(stderr.contains("read-only"), "{stderr}");
        assert!(stderr.contains(&file), "{stderr}");
    }
}
