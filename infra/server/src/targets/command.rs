//! A command target: one process per attempt, the invocation on stdin, the answer on stdout.
//!
//! No shell is involved: the program and its arguments are the declaration's, job data only
//! ever reaches the process as the stdin document, so nothing a client sends can become a
//! command. The process gets a clean environment (the server's own variables, credentials
//! included, are not passed on) and its own process group, so a timeout or a cancel stops
//! everything it started.
//!
//! stderr is the process's log, forwarded to the server's log line by line, except lines of
//! the progress protocol: `accepted:progress <percent> [message]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use accepted_core::declared::contract::{malformed, read_answer};
use accepted_core::declared::Target;
use accepted_core::{JobContext, JobFailure};
use async_trait::async_trait;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tracing::{info, warn};

/// Largest answer read from stdout (Lambda's own synchronous response limit).
pub const MAX_ANSWER_BYTES: usize = 6 * 1024 * 1024;
/// Longest stderr line forwarded; the rest of the line is dropped.
const MAX_LOG_LINE_BYTES: usize = 4096;
/// How long a cancelled process has between SIGTERM and SIGKILL.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// The prefix of a progress line on stderr.
pub const PROGRESS_PREFIX: &str = "accepted:progress ";
/// Variables a process inherits from the server; every other one must be declared.
const INHERITED: [&str; 5] = ["PATH", "HOME", "LANG", "TZ", "TMPDIR"];

pub struct CommandTarget {
    pub job_type: String,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub dir: PathBuf,
}

#[async_trait]
impl Target for CommandTarget {
    async fn invoke(&self, ctx: &JobContext, invocation: &[u8]) -> Result<Value, JobFailure> {
        let mut child = self.spawn()?;
        // Dropped on every path out (a timeout drops this whole future): whatever the process
        // started dies with it.
        let group = ProcessGroup(child.id());
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let feed = async {
            if let Some(mut stdin) = stdin {
                // A program that does not read its input closes the pipe early: not an error.
                let _ = stdin.write_all(invocation).await;
            }
        };
        let collect = async {
            let (answer, ()) = tokio::join!(read_capped(stdout), self.forward(ctx, stderr));
            answer
        };
        let finished = async {
            let ((), answer) = tokio::join!(feed, collect);
            (child.wait().await, answer)
        };
        tokio::pin!(finished);
        tokio::select! {
            (status, answer) = &mut finished => outcome(status, answer),
            () = ctx.cancelled() => {
                info!(job_type = %self.job_type, "cancel requested; stopping the command");
                group.signal(libc::SIGTERM);
                let _ = tokio::time::timeout(CANCEL_GRACE, &mut finished).await;
                Err(JobFailure::cancelled())
            }
        }
    }
}

impl CommandTarget {
    fn spawn(&self) -> Result<Child, JobFailure> {
        let (program, args) = self.argv.split_first().ok_or_else(|| {
            JobFailure::permanent("target_unavailable", "the declaration has no program")
        })?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(
                INHERITED
                    .iter()
                    .filter_map(|k| Some((*k, std::env::var_os(k)?))),
            )
            .envs(&self.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        command.spawn().map_err(|err| {
            JobFailure::retryable(
                "target_unavailable",
                format!("cannot start {program:?}: {err}"),
            )
        })
    }

    /// Forwards stderr to the log, turning progress lines into progress reports.
    async fn forward(&self, ctx: &JobContext, stderr: Option<impl AsyncRead + Unpin>) {
        let Some(stderr) = stderr else { return };
        let mut lines = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut lines)
                .take(MAX_LOG_LINE_BYTES as u64)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line.last() != Some(&b'\n') && line.len() >= MAX_LOG_LINE_BYTES {
                // Drop the rest of an overlong line.
                let mut rest = Vec::new();
                if lines.read_until(b'\n', &mut rest).await.is_err() {
                    return;
                }
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            match text.strip_prefix(PROGRESS_PREFIX).and_then(progress) {
                Some((percent, message)) => ctx.report_progress(percent, message),
                None => {
                    info!(job_type = %self.job_type, job_id = %ctx.job_id, target = "command", "{text}")
                }
            }
        }
    }
}

/// `40 reading rows` → (40, Some("reading rows")).
fn progress(rest: &str) -> Option<(u8, Option<&str>)> {
    let (number, message) = match rest.split_once(' ') {
        Some((n, m)) => (n, Some(m.trim()).filter(|m| !m.is_empty())),
        None => (rest, None),
    };
    let percent: u8 = number.parse().ok()?;
    Some((percent.min(100), message))
}

async fn read_capped(stdout: Option<impl AsyncRead + Unpin>) -> Result<Vec<u8>, JobFailure> {
    let Some(stdout) = stdout else {
        return Ok(Vec::new());
    };
    let mut answer = Vec::new();
    let limit = MAX_ANSWER_BYTES as u64 + 1;
    stdout
        .take(limit)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| JobFailure::retryable("target_crashed", format!("reading stdout: {e}")))?;
    if answer.len() > MAX_ANSWER_BYTES {
        return Err(malformed(format!(
            "the answer on stdout is over {MAX_ANSWER_BYTES} bytes"
        )));
    }
    Ok(answer)
}

/// What an exit means: status 0 answers on stdout; any other exit is a crash, unless the
/// program still wrote a contract error (a script that reports, then exits 1).
fn outcome(
    status: std::io::Result<ExitStatus>,
    answer: Result<Vec<u8>, JobFailure>,
) -> Result<Value, JobFailure> {
    let status = status.map_err(|e| {
        JobFailure::retryable("target_crashed", format!("waiting for the command: {e}"))
    })?;
    let answer = answer?;
    if status.success() {
        return read_answer(&answer);
    }
    if let Err(failure) = read_answer(&answer) {
        if failure.code() != "malformed_answer" {
            return Err(failure);
        }
    }
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended abnormally".to_owned(),
    };
    warn!(%status, "job command failed");
    Err(JobFailure::retryable(
        "target_crashed",
        format!("the command {how} without an answer (its stderr is in the server log)"),
    ))
}

/// The process group of one attempt, killed when dropped: nothing it started outlives it.
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    fn signal(&self, signal: libc::c_int) {
        if let Some(pid) = self.0.and_then(|pid| libc::pid_t::try_from(pid).ok()) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is
            // touched. The group is the child's own (process_group(0)), so nothing else.
            unsafe {
                libc::kill(-pid, signal);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_parsed_and_capped() {
        assert_eq!(
            progress("40 reading rows"),
            Some((40, Some("reading rows")))
        );
        assert_eq!(progress("250"), Some((100, None)));
        assert_eq!(progress("40 "), Some((40, None)));
        assert_eq!(progress("forty"), None);
        assert_eq!(progress("-1 x"), None);
    }
}
