//! Knowing when a peer process exits: a pidfd (`pidfd_open`, Linux 5.3),
//! which becomes readable when the process ends and is registered with
//! the loop's poller; where the kernel has no pidfd, a process id the loop
//! checks with `kill(pid, 0)` on a timer.
//!
//! The one `unsafe` here is the `pidfd_open` system call, which libc wraps
//! only as a raw syscall number.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// How the loop learns that a process has exited.
#[derive(Debug)]
pub enum ExitWatch {
    /// Readable once the process has exited.
    Pidfd(OwnedFd),
    /// No pidfd support: ask with `kill(pid, 0)` now and then.
    Poll(i32),
}

/// A watch on process `pid`, or `None` if it has already exited (or the
/// id is not a process's: 0 when the kernel had no credentials).
pub fn watch(pid: i32) -> Option<ExitWatch> {
    if pid <= 0 {
        return None;
    }
    match pidfd_open(pid) {
        Ok(fd) => (!pidfd_says_exited(&fd)).then_some(ExitWatch::Pidfd(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => None,
        // ENOSYS (kernel before 5.3, or a seccomp filter), EMFILE: fall back.
        Err(_) => is_running(pid).then_some(ExitWatch::Poll(pid)),
    }
}

/// Whether the watched process has exited.
pub fn has_exited(watch: &ExitWatch) -> bool {
    match watch {
        ExitWatch::Pidfd(fd) => pidfd_says_exited(fd),
        ExitWatch::Poll(pid) => !is_running(*pid),
    }
}

/// `kill(pid, 0)`: the process exists (EPERM: it does, someone else's).
fn is_running(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

fn pidfd_says_exited(fd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and a flags word (0) and returns a
    // new descriptor or -1; it reads and writes no memory of ours. This is
    // descriptor ownership, not arena memory (docs/design.md, "Descriptor
    // ownership"): the descriptor it returns is new, owned by nobody else,
    // and wrapped in an OwnedFd at once below.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let raw = i32::try_from(ret).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: `raw` was just returned by pidfd_open, so it is an open
    // descriptor that nothing else owns; OwnedFd takes sole ownership and
    // closes it once (docs/design.md, "Descriptor ownership").
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_watched_and_its_exit_seen() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let w = watch(pid).expect("a running child is watched");
        assert!(matches!(w, ExitWatch::Pidfd(_)));
        assert!(!has_exited(&w));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(has_exited(&w));
        // Reaped: nothing left to watch.
        assert!(watch(pid).is_none());
    }

    #[test]
    fn the_poll_fallback_sees_the_same() {
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(!has_exited(&ExitWatch::Poll(me)));
        assert!(watch(0).is_none());
    }
}
