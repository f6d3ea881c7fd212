//! Socket activation as systemd performs it, for the end-to-end tests:
//!
//! ```text
//! e2e-activate SOCKET MODE PROGRAM ARGS...
//! ```
//!
//! binds and listens on the Unix socket SOCKET, sets its file mode to MODE
//! (octal, as a unit's `SocketMode=` would), makes it descriptor 3, sets
//! `LISTEN_FDS=1` and `LISTEN_PID` to its own pid, and execs PROGRAM with
//! ARGS in its place (same pid), like `systemd-socket-activate` without
//! waiting for a first connection.

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

/// The first passed descriptor (`SD_LISTEN_FDS_START`).
const FIRST_FD: i32 = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, mode, program, rest @ ..] = &args[..] else {
        eprintln!("usage: e2e-activate SOCKET MODE PROGRAM ARGS...");
        return ExitCode::from(2);
    };
    match activate(socket, mode, program, rest) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("e2e-activate: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Never {}

fn activate(socket: &str, mode: &str, program: &str, args: &[String]) -> Result<Never, String> {
    let mode = u32::from_str_radix(mode, 8).map_err(|e| format!("mode {mode}: {e}"))?;
    let listener = UnixListener::bind(socket).map_err(|e| format!("binding {socket}: {e}"))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {socket}: {e}"))?;
    let fd = listener.as_raw_fd();
    if fd != FIRST_FD {
        // The copy is inheritable; the original closes on exec.
        nix::unistd::dup2(fd, FIRST_FD).map_err(|e| format!("dup2: {e}"))?;
    } else {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|e| format!("fcntl: {e}"))?;
    }
    let err = Command::new(program)
        .args(args)
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", std::process::id().to_string())
        .exec();
    // Keeps the socket open until exec (which does not return on success).
    drop(listener);
    Err(format!("exec {program}: {err}"))
}
