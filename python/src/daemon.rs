//! The daemon inside the extension: the `plasma-store` console script (and
//! `python -m plasma_store`) run the very store the Rust binary runs.

use std::process::ExitCode;

use pyo3::prelude::*;

/// Runs the store with the command line `argv` (program name first) until
/// SIGTERM or SIGINT; returns the exit status (0 after a signal). The GIL
/// is released for the whole run.
#[pyfunction]
pub(crate) fn run_store(py: Python<'_>, argv: Vec<String>) -> i32 {
    let code = py.detach(move || plasma_store::cli::run_from(argv));
    if code == ExitCode::SUCCESS {
        0
    } else {
        1
    }
}
