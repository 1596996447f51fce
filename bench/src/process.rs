//! What a running process has cost, from Linux's `/proc`.

use std::time::Duration;

/// CPU time of every live thread of `pid` (user and system), in nanoseconds, from each
/// thread's `schedstat`: far finer than the clock ticks of `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> std::io::Result<Duration> {
    let mut total: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may exit between listing and reading: it simply no longer counts.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        total += text
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(total))
}

/// Bytes `pid` has handed to `write`-family calls so far (`wchar` of `/proc/<pid>/io`):
/// what the database's WAL, its checkpoints and the event log cost in writes.
pub fn written_bytes(pid: u32) -> std::io::Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| std::io::Error::other("no wchar in /proc/<pid>/io"))
}

/// Peak resident set size (`VmHWM`), in bytes.
pub fn peak_rss(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| std::io::Error::other("no VmHWM in /proc/<pid>/status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_spent_cpu_and_memory() {
        let pid = std::process::id();
        let before = cpu_time(pid).unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time(pid).unwrap() > before);
        assert!(peak_rss(pid).unwrap() > 1024 * 1024);
        let written = written_bytes(pid).unwrap();
        let mut null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        std::io::Write::write_all(&mut null, &[0; 4096]).unwrap();
        assert!(written_bytes(pid).unwrap() >= written + 4096);
    }
}
