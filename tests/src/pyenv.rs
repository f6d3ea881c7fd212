//! The pyarrow 11 venv (made by `scripts/pyenv.sh`) for the tests that run
//! the real Plasma clients against our daemon.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::run_bounded;

/// How long creating the venv may take (a first run downloads pyarrow).
const INSTALL_PATIENCE: Duration = Duration::from_secs(900);

/// The repository root (this package lives in `<repo>/tests`).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package sits inside the repository")
}

/// The venv's python, creating the venv on first use. Panics with the
/// script's output if it fails.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = repo_root().join("scripts/pyenv.sh");
        let out = run_bounded(Command::new("bash").arg(&script), INSTALL_PATIENCE);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{} failed ({}):\n{stdout}\n{stderr}",
            script.display(),
            out.status
        );
        let last = stdout.lines().last().unwrap_or_default().trim();
        let python = PathBuf::from(last);
        assert!(
            python.is_file(),
            "{} printed {last:?}, not a python path\n{stderr}",
            script.display()
        );
        python
    })
}

/// The installed `pyarrow` package directory (bundled libs, headers, tests).
pub fn pyarrow_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = run_bounded(
            Command::new(python())
                .arg("-c")
                .arg("import os, pyarrow; print(os.path.dirname(pyarrow.__file__))"),
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "locating pyarrow failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}
