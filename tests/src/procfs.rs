//! What `/proc` says about a process: the outcomes (CPU time used, open
//! descriptors, resident memory) that tests of the daemon's limits check.

use std::path::PathBuf;

fn proc_path(pid: u32, what: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{what}"))
}

/// User plus system CPU time used by `pid` so far, in clock ticks
/// (`utime + stime` of `/proc/PID/stat`; 100 ticks a second on Linux).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(proc_path(pid, "stat"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/stat: {e}"));
    // The command name (field 2) may hold spaces: count from its ')'.
    let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of stat are 12 and 13 after the name and state.
    let field = |i: usize| -> u64 { fields[i].parse().expect("numeric stat field") };
    field(11) + field(12)
}

/// Whether `pid`'s main thread is running or runnable right now (state
/// `R` in `/proc/PID/stat`), as opposed to sleeping in a system call.
pub fn is_busy(pid: u32) -> bool {
    let stat = std::fs::read_to_string(proc_path(pid, "stat")).unwrap_or_default();
    stat.rfind(')')
        .and_then(|i| stat.get(i + 2..i + 3))
        .is_some_and(|state| state == "R")
}

/// Number of descriptors `pid` has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(proc_path(pid, "fd"))
        .unwrap_or_else(|e| panic!("listing /proc/{pid}/fd: {e}"))
        .count()
}

/// Resident memory of `pid` in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:") * 1024
}

/// The most resident memory `pid` ever had, in bytes (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") * 1024
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(proc_path(pid, "status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_described() {
        let me = std::process::id();
        assert!(open_fds(me) >= 3);
        assert!(rss_bytes(me) > 0);
        assert!(peak_rss_bytes(me) >= rss_bytes(me));
        let _ = cpu_ticks(me);
    }
}
