//! The real pyarrow 11 Plasma client against our daemon: a smoke test of
//! the Python API, then pyarrow's own `test_plasma.py`, unmodified, with
//! `tests/python/conftest.py` pointing its `start_plasma_store` at our
//! binary. The venv comes from `scripts/pyenv.sh`.

use std::process::Command;
use std::time::Duration;

use plasma_e2e::pyenv::{pyarrow_suite_dir, pytest_summary, python, repo_root};
use plasma_e2e::{run_bounded, TestStore};

#[test]
fn pyarrow_client_stores_and_reads_an_object_in_our_store() {
    let store = TestStore::builder().memory(50_000_000).start();
    let smoke = repo_root().join("tests/python/smoke.py");
    let out = run_bounded(
        Command::new(python())
            .arg(&smoke)
            .arg(store.socket())
            .arg(store.memory().to_string()),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "smoke ok"),
        "smoke.py failed ({}):\n{stdout}\n{stderr}\n{}",
        out.status,
        store.stderr_report()
    );
}

#[test]
fn pyarrow_test_plasma_suite_passes_against_our_store() {
    let dir = pyarrow_suite_dir("tests/python/conftest.py");

    let starts = dir.path().join("stores-started.log");
    let out = run_bounded(
        Command::new(python())
            .args([
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "test_plasma.py",
            ])
            .current_dir(dir.path())
            .env("PLASMA_STORE_BIN", env!("CARGO_BIN_EXE_e2e-store"))
            .env("PLASMA_E2E_STARTS", &starts)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        Duration::from_secs(900),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = pytest_summary(&stdout);
    assert!(
        summary.trim_matches(|c| c == '=' || c == ' ').starts_with("33 passed, 1 skipped"),
        "pyarrow's test_plasma.py: {summary}\n--- pytest stdout ---\n{stdout}\n--- pytest stderr ---\n{stderr}"
    );
    // The conftest really replaced pyarrow's own store with ours.
    let started = std::fs::read_to_string(&starts).unwrap_or_default();
    let ours = started
        .lines()
        .filter(|l| l.starts_with(env!("CARGO_BIN_EXE_e2e-store")))
        .count();
    assert!(
        ours >= 30 && ours == started.lines().count(),
        "expected every store of the suite to be ours:\n{started}"
    );
    println!("pyarrow test_plasma.py: {summary} ({ours} stores started)");
}
