//! The project's Python venvs: the pyarrow 11 venv (made by
//! `scripts/pyenv.sh`) for the tests that run the real Plasma clients
//! against our daemon, and the venv of our own Python package (made by
//! `scripts/python-env.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::run_bounded;

/// How long creating a venv may take (a first run downloads pyarrow, or
/// builds our package's wheel from scratch on two shared cores).
const INSTALL_PATIENCE: Duration = Duration::from_secs(1800);

/// The repository root (this package lives in `<repo>/tests`).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package sits inside the repository")
}

/// The pyarrow 11 venv's python, creating the venv on first use. Panics
/// with the script's output if it fails.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| venv_python("scripts/pyenv.sh"))
}

/// The python of the venv with our package (`plasma_store`) installed,
/// pytest, uvloop and numpy, made or refreshed on first use.
pub fn package_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| venv_python("scripts/python-env.sh"))
}

/// The directory holding our package alone, unpacked from the same wheel,
/// to put on PYTHONPATH in the pyarrow 11 venv.
pub fn package_for_pyarrow() -> PathBuf {
    package_python();
    repo_root().join(".venv-python/for-pyarrow")
}

/// Runs a venv script (repository-relative path) and returns the python
/// path it prints last.
fn venv_python(script: &str) -> PathBuf {
    let script = repo_root().join(script);
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

/// A fresh directory holding a copy of pyarrow 11's own `test_plasma.py`
/// and of `conftest` (a repository path) as its `conftest.py`.
pub fn pyarrow_suite_dir(conftest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(
        pyarrow_dir().join("tests/test_plasma.py"),
        dir.path().join("test_plasma.py"),
    )
    .expect("copying pyarrow's test_plasma.py");
    std::fs::copy(repo_root().join(conftest), dir.path().join("conftest.py"))
        .unwrap_or_else(|e| panic!("copying {conftest}: {e}"));
    dir
}

/// pytest's closing summary line (`N passed, M failed ...`) in its stdout.
pub fn pytest_summary(stdout: &str) -> &str {
    stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed") || l.contains(" failed") || l.contains(" error"))
        .unwrap_or("<no summary line>")
}
