//! A real implementation of the Lambda Invoke API for the tests: `cargo lambda watch
//! --only-lambda-apis` (installed by `infra/setup.sh` into `.local/venv`) serves the Invoke
//! and Runtime APIs on loopback, and instances of a workspace function poll it as Lambda
//! runs them. Everything started is killed, by PID, when the emulator is dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LambdaEmulator {
    address: SocketAddr,
    children: Vec<Child>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// `cargo-lambda` from the locked tooling, or from `CARGO_LAMBDA`.
fn cargo_lambda() -> PathBuf {
    let path = std::env::var_os("CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".local/venv/bin/cargo-lambda"));
    assert!(
        path.is_file(),
        "the Lambda target tests need cargo lambda: run infra/setup.sh (or set CARGO_LAMBDA); \
         not found at {}",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

impl LambdaEmulator {
    /// Starts the emulator and `instances` processes of the function `name`, the binary at
    /// `bootstrap` (a test's `env!("CARGO_BIN_EXE_<name>")`).
    pub fn start(name: &str, bootstrap: &Path, instances: usize) -> Self {
        let port = free_port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let watch = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address"])
            .arg("127.0.0.1")
            .arg("--invoke-port")
            .arg(port.to_string())
            .current_dir(workspace_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda watch starts");
        let mut emulator = Self {
            address,
            children: vec![watch],
        };
        emulator.wait_until_listening();
        for _ in 0..instances {
            let instance = Command::new(bootstrap)
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://{address}/.rt/{name}"),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
                .env("RUST_LOG", "error")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the function starts");
            emulator.children.push(instance);
        }
        emulator
    }

    /// The endpoint an SDK Lambda client is pointed at.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        while TcpStream::connect(self.address).is_err() {
            let exited = self.children[0].try_wait().ok().flatten();
            assert!(exited.is_none(), "cargo lambda watch exited: {exited:?}");
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "cargo lambda watch did not listen on {} within 60 s",
                self.address
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
