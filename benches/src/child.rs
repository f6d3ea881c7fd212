//! Benchmark clients in child processes (the C++ client on libplasma,
//! pyarrow's Python client): they prepare, print `{"ready":true}`, and run
//! one timed step per line the harness writes to their stdin, answering
//! each with one JSON line `{"ops":N,"secs":S,...}`. The harness reads the
//! store's and the child's CPU time around each step.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use serde_json::Value;

use crate::daemon::Daemon;
use crate::error::{io, BenchError, Result};
use crate::placement::Cpus;
use crate::procfs;
use crate::sample::Sample;

/// A running child client.
pub struct ChildClient {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: PathBuf,
}

/// One step's result: the sample and the child's whole answer.
pub struct Step {
    /// Time and CPU of the step.
    pub sample: Sample,
    /// The child's JSON answer (extra fields such as `evicted_first`).
    pub answer: Value,
}

impl ChildClient {
    /// Starts `cmd` pinned to `cpu` (or not) and waits for it to be ready.
    pub fn start(
        label: &str,
        mut cmd: Command,
        cpus: &Cpus,
        cpu: Option<usize>,
        stderr: PathBuf,
        patience: Duration,
    ) -> Result<ChildClient> {
        let err_file = File::create(&stderr).map_err(io(format!("create {}", stderr.display())))?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err_file);
        let mut child = cpus
            .pinned(cpu, || cmd.spawn())?
            .map_err(io(format!("start {label}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Client(format!("{label}: no stdout pipe")))?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut me = ChildClient {
            label: label.to_owned(),
            child,
            stdin,
            lines,
            stderr,
        };
        let ready = me.answer(patience)?;
        if ready.get("ready") != Some(&Value::Bool(true)) {
            return Err(me.failure(&format!("expected ready, got {ready}")));
        }
        Ok(me)
    }

    /// Runs one timed step and measures the store's and the child's CPU.
    pub fn step(&mut self, store: &Daemon, patience: Duration) -> Result<Step> {
        let pid = self.child.id();
        let store0 = store.cpu_secs()?;
        let client0 = procfs::process_cpu_secs(pid)?;
        let store_sw0 = store.switches()?;
        let client_sw0 = procfs::process_switches(pid)?;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| BenchError::Client(format!("{}: stdin closed", self.label)))?;
        stdin
            .write_all(b"go\n")
            .and_then(|()| stdin.flush())
            .map_err(io(format!("tell {} to go", self.label)))?;
        let answer = self.answer(patience)?;
        let store1 = store.cpu_secs()?;
        let client1 = procfs::process_cpu_secs(pid)?;
        let store_sw1 = store.switches()?;
        let client_sw1 = procfs::process_switches(pid)?;
        let ops = answer.get("ops").and_then(Value::as_u64);
        let secs = answer.get("secs").and_then(Value::as_f64);
        let (Some(ops), Some(secs)) = (ops, secs) else {
            return Err(self.failure(&format!("answer without ops/secs: {answer}")));
        };
        Ok(Step {
            sample: Sample {
                ops,
                secs,
                store_cpu_secs: store1 - store0,
                client_cpu_secs: client1 - client0,
                // The harness's stdin line and the child's answer line cost
                // the child one sleep and the harness's reader one wake-up
                // per step: noise next to thousands of operations.
                store_switches: Some(store_sw1 - store_sw0),
                client_switches: Some(client_sw1 - client_sw0),
            },
            answer,
        })
    }

    /// Closes stdin and waits for a clean exit.
    pub fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self
            .child
            .wait()
            .map_err(io(format!("wait for {}", self.label)))?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failure(&format!("exited with {status}")))
        }
    }

    fn answer(&mut self, patience: Duration) -> Result<Value> {
        let line = match self.lines.recv_timeout(patience) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                return Err(self.failure(&format!("no answer within {patience:?}")))
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Reap it so the error can say how it ended.
                let _ = self.child.wait();
                return Err(self.failure("stopped answering"));
            }
        };
        serde_json::from_str(&line).map_err(|e| self.failure(&format!("bad answer {line:?}: {e}")))
    }

    fn failure(&mut self, what: &str) -> BenchError {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        BenchError::Client(format!(
            "{}: {what}; stderr ({}):\n{}",
            self.label,
            self.stderr.display(),
            stderr.trim_end()
        ))
    }
}

impl Drop for ChildClient {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
