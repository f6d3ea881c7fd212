//! The harness's one error type: what failed, in words a reader can act on.

use std::io;

/// Why a benchmark run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// An operating-system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What the harness was doing.
        op: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A tool, file or environment the harness needs is missing or broken.
    #[error("setup: {0}")]
    Setup(String),
    /// A store refused to start or stopped answering.
    #[error("{0}")]
    Daemon(String),
    /// A benchmark client failed (ours in-process, or a child process).
    #[error("{0}")]
    Client(String),
}

/// Results of the harness.
pub type Result<T> = std::result::Result<T, BenchError>;

/// Wraps an I/O error with what was being done: `.map_err(io("read x"))`.
pub fn io(op: impl Into<String>) -> impl FnOnce(io::Error) -> BenchError {
    let op = op.into();
    move |source| BenchError::Io { op, source }
}

/// A client failure: `.map_err(client("create"))`.
pub fn client<E: std::fmt::Display>(op: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Client(format!("{op}: {e}"))
}
