//! Our Python package, `plasma_store` (python/): its own pytest suite, Ray's
//! example, and pyarrow 11's `test_plasma.py` with `pyarrow.plasma`
//! replaced by it. The package is built and installed exactly as
//! `pip install ./python` does, by `scripts/python-env.sh`.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use plasma_e2e::pyenv::{
    package_for_pyarrow, package_python, pyarrow_dir, pyarrow_suite_dir, pytest_summary, python,
    repo_root,
};
use plasma_e2e::run_bounded;

#[test]
fn the_python_packages_own_tests_pass() {
    let out = run_bounded(
        Command::new(package_python())
            .args([
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "python/tests",
            ])
            .current_dir(repo_root())
            // Arrow Plasma 11's daemon, for the stories run against both.
            .env("PLASMA11_SERVER", pyarrow_dir().join("plasma-store-server"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        Duration::from_secs(900),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = pytest_summary(&stdout);
    assert!(
        out.status.success() && !line.contains("skipped"),
        "python/tests: {line}\n--- pytest stdout ---\n{stdout}\n--- pytest stderr ---\n{stderr}"
    );
    println!("python/tests: {line}");
}

#[test]
fn rays_async_api_example_runs() {
    let out = run_bounded(
        Command::new(package_python())
            .arg(repo_root().join("python/examples/async_api.py"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && stdout.contains(&["{'key1': ['value']}"; 4].join(", "))
            && stdout.contains("4 values after"),
        "the example failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// The tests of pyarrow 11's suite that cannot pass with plasma_store, and
/// why (see tests/python/conftest_plasma_store.py):
const EXPECTED_FAILURES: [&str; 3] = [
    // Reads a value put() wrote with pa.deserialize: pyarrow's own
    // serialization format, removed from pyarrow; put() writes pickle 5.
    "test_plasma.py::TestPlasmaClient::test_put_and_get_raw_buffer",
    // pyarrow's SerializationContext (removed with it), and expects
    // pa.ArrowSerializationError for a class pickle cannot handle.
    "test_plasma.py::TestPlasmaClient::test_put_and_get_serialization_context",
    // Checks that pyarrow.plasma warns it is deprecated; plasma_store is not.
    "test_plasma.py::test_plasma_deprecated",
];

#[test]
fn pyarrows_test_plasma_passes_with_plasma_store_in_its_place() {
    let dir = pyarrow_suite_dir("tests/python/conftest_plasma_store.py");
    let out = run_bounded(
        Command::new(python())
            .args([
                "-m",
                "pytest",
                "-q",
                "-rf",
                "-p",
                "no:cacheprovider",
                "test_plasma.py",
            ])
            .current_dir(dir.path())
            .env("PYTHONPATH", package_for_pyarrow())
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        Duration::from_secs(900),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = pytest_summary(&stdout);
    let failed: BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAILED "))
        .map(|l| l.split(" - ").next().unwrap_or(l).trim())
        .collect();
    let expected: BTreeSet<&str> = EXPECTED_FAILURES.into_iter().collect();
    assert!(
        failed == expected && line.contains("30 passed") && line.contains("1 skipped"),
        "pyarrow's test_plasma.py with plasma_store: {line}\nfailed: {failed:#?}\n\
         --- pytest stdout ---\n{stdout}\n--- pytest stderr ---\n{stderr}"
    );
    println!("pyarrow test_plasma.py with plasma_store: {line}");
}
