//! [`ClientProcess`]: the `e2e-client` binary as a child process.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::{bin_path, PATIENCE};

/// A running `e2e-client`, its stdout delivered line by line and its stderr
/// collected for failure messages. Killed (SIGKILL) on drop if still running.
pub struct ClientProcess {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    args: Vec<OsString>,
    exited: Option<ExitStatus>,
}

impl ClientProcess {
    /// Starts `e2e-client ARGS...`.
    pub fn spawn(args: &[OsString]) -> ClientProcess {
        let mut child = Command::new(bin_path("e2e-client"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the e2e-client binary");

        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock().expect("stderr sink").push_str(&text);
            }
        });

        ClientProcess {
            child,
            lines,
            stderr,
            args: args.to_vec(),
            exited: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line of stdout; panics if none comes within [`PATIENCE`].
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "no output from {} within {PATIENCE:?}\n{}",
                self.describe(),
                self.stderr_report()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait();
                panic!(
                    "{} ended ({status}) without the expected line\n{}",
                    self.describe(),
                    self.stderr_report()
                )
            }
        }
    }

    /// Waits for the next stdout line and asserts it equals `want`.
    pub fn expect_line(&mut self, want: &str) {
        let got = self.next_line();
        assert_eq!(
            got,
            want,
            "unexpected output from {}\n{}",
            self.describe(),
            self.stderr_report()
        );
    }

    /// Waits for the process to exit (panics after [`PATIENCE`]).
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(status) = self.exited {
            return status;
        }
        match crate::wait_timeout(&mut self.child, PATIENCE) {
            Some(status) => {
                self.exited = Some(status);
                status
            }
            None => panic!(
                "{} still runs after {PATIENCE:?}\n{}",
                self.describe(),
                self.stderr_report()
            ),
        }
    }

    /// Waits for a successful exit and returns the stdout lines not yet read.
    pub fn finish(&mut self) -> Vec<String> {
        let status = self.wait();
        assert!(
            status.success(),
            "{} failed ({status})\n{}",
            self.describe(),
            self.stderr_report()
        );
        // The reader thread sees EOF once the process is gone.
        let mut rest = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            rest.push(line);
        }
        rest
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = Some(self.child.wait().expect("reaping the killed client"));
        }
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("polling the client process");
        }
        self.exited.is_some()
    }

    /// What the process wrote to stderr so far, framed for a panic message.
    pub fn stderr_report(&self) -> String {
        let text = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!("--- e2e-client stderr ---\n{text}--- end of e2e-client stderr ---")
    }

    fn describe(&self) -> String {
        let args: Vec<_> = self.args.iter().map(|a| a.to_string_lossy()).collect();
        format!("`e2e-client {}`", args.join(" "))
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if self.exited.is_none() && !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("polling a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `command` to completion with stdout and stderr captured (through
/// files, so a chatty child never blocks on a full pipe). Panics, after
/// killing it, if it still runs after `limit`.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let dir = tempfile::tempdir().expect("temp dir for captured output");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    // Its own process group, so that a timeout also ends what it started
    // (pytest's stores, multiprocessing children).
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout capture file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr capture file"))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let status = wait_timeout(&mut child, limit);
    let read = |p: &std::path::Path| std::fs::read(p).unwrap_or_default();
    match status {
        Some(status) => Output {
            status,
            stdout: read(&out_path),
            stderr: read(&err_path),
        },
        None => {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait();
            panic!(
                "{command:?} still ran after {limit:?}; killed.\n--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&read(&out_path)),
                String::from_utf8_lossy(&read(&err_path))
            )
        }
    }
}
