//! CPU time and memory of processes, read from `/proc`.
//!
//! CPU time comes from `schedstat` (nanoseconds on the CPU, summed over all
//! threads), which is exact where `stat`'s utime/stime count 10 ms ticks.

use std::fs;

use crate::error::{io, BenchError, Result};
use crate::sample::Switches;

/// Seconds process `pid` has spent on a CPU so far, all threads together.
pub fn process_cpu_secs(pid: u32) -> Result<f64> {
    let dir = format!("/proc/{pid}/task");
    let mut total_ns: u64 = 0;
    for entry in fs::read_dir(&dir).map_err(io(format!("list {dir}")))? {
        let entry = entry.map_err(io(format!("list {dir}")))?;
        // A thread may end between the listing and the read: skip it.
        if let Ok(text) = fs::read_to_string(entry.path().join("schedstat")) {
            total_ns += parse_schedstat(&text)?;
        }
    }
    Ok(total_ns as f64 * 1e-9)
}

/// Seconds the calling thread has spent on a CPU so far.
pub fn thread_cpu_secs() -> Result<f64> {
    let path = "/proc/thread-self/schedstat";
    let text = fs::read_to_string(path).map_err(io(format!("read {path}")))?;
    Ok(parse_schedstat(&text)? as f64 * 1e-9)
}

/// How often process `pid`'s threads, all together, have slept
/// (voluntary context switches: waiting for a socket, a futex, a poll) and
/// been preempted (involuntary) so far.
pub fn process_switches(pid: u32) -> Result<Switches> {
    let dir = format!("/proc/{pid}/task");
    let mut total = Switches::default();
    for entry in fs::read_dir(&dir).map_err(io(format!("list {dir}")))? {
        let entry = entry.map_err(io(format!("list {dir}")))?;
        // A thread may end between the listing and the read: skip it.
        if let Ok(text) = fs::read_to_string(entry.path().join("status")) {
            total = total + parse_switches(&text)?;
        }
    }
    Ok(total)
}

/// The calling thread's context switches so far.
pub fn thread_switches() -> Result<Switches> {
    let path = "/proc/thread-self/status";
    let text = fs::read_to_string(path).map_err(io(format!("read {path}")))?;
    parse_switches(&text)
}

fn parse_switches(text: &str) -> Result<Switches> {
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| BenchError::Setup(format!("no {key} line in a status file")))
    };
    Ok(Switches {
        voluntary: field("voluntary_ctxt_switches:")?,
        involuntary: field("nonvoluntary_ctxt_switches:")?,
    })
}

/// Anonymous resident memory of `pid` in bytes (`RssAnon`): the process's
/// own heap and stacks, not shared memory such as a store's arena.
pub fn rss_anon_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(io(format!("read {path}")))?;
    status_kib(&text, "RssAnon:")
        .map(|kib| kib * 1024)
        .ok_or_else(|| BenchError::Setup(format!("{path} has no RssAnon line")))
}

/// The first field of a `schedstat` line: nanoseconds spent running.
fn parse_schedstat(text: &str) -> Result<u64> {
    text.split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| BenchError::Setup(format!("unexpected schedstat content {text:?}")))
}

/// The value in kB of a `/proc/<pid>/status` line such as `RssAnon:  112 kB`.
fn status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_gives_the_running_time() {
        assert_eq!(
            parse_schedstat("175475743 14734092 400\n").unwrap(),
            175475743
        );
        assert!(parse_schedstat("").is_err());
    }

    #[test]
    fn status_lines_are_found_by_key() {
        let text = "VmRSS:\t    1768 kB\nRssAnon:\t     112 kB\nRssFile:\t    1656 kB\n";
        assert_eq!(status_kib(text, "RssAnon:"), Some(112));
        assert_eq!(status_kib(text, "RssShmem:"), None);
    }

    #[test]
    fn context_switches_are_read_from_status() {
        let text = "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(
            parse_switches(text).unwrap(),
            Switches {
                voluntary: 12,
                involuntary: 3
            }
        );
        assert!(parse_switches("Name: x\n").is_err());
        let me = thread_switches().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(thread_switches().unwrap().voluntary > me.voluntary);
        assert!(process_switches(std::process::id()).unwrap().voluntary >= me.voluntary);
    }

    #[test]
    fn own_cpu_time_grows_while_working() {
        // Busy until this thread has run 5 ms by its own clock (however
        // loaded the machine is), or give up after 10 s of wall time.
        let before = thread_cpu_secs().unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = before;
        while after - before < 0.005 && start.elapsed() < std::time::Duration::from_secs(10) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
            after = thread_cpu_secs().unwrap();
        }
        std::hint::black_box(x);
        assert!(after - before >= 0.005, "{before} -> {after}");
        assert!(process_cpu_secs(std::process::id()).unwrap() >= after);
        assert!(rss_anon_bytes(std::process::id()).unwrap() > 0);
    }
}
