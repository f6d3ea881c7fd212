//! pyarrow 11's C++ client (`libplasma.so.1100`) against our daemon, for
//! the requests Python cannot send: Abort, CreateAndSealBatch (including
//! the ObjectExists answer to a repeated batch) and RefreshLRU, whose effect
//! Evict then shows. `tests/cpp/extra_ops.cc` is built with g++ against the
//! headers and libraries in the venv's pyarrow package.

use std::process::Command;
use std::time::Duration;

use plasma_e2e::pyenv::{pyarrow_dir, repo_root};
use plasma_e2e::{run_bounded, TestStore};

#[test]
fn cpp_client_abort_batch_and_refresh_behave_as_with_the_real_store() {
    let pa = pyarrow_dir();
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("extra_ops");
    let build = run_bounded(
        Command::new("g++")
            .args(["-std=c++17", "-D_GLIBCXX_USE_CXX11_ABI=0"])
            .arg(format!("-I{}", pa.join("include").display()))
            .arg(repo_root().join("tests/cpp/extra_ops.cc"))
            .arg("-o")
            .arg(&exe)
            .arg(pa.join("libplasma.so.1100"))
            .arg(pa.join("libarrow.so.1100"))
            .arg(format!("-Wl,-rpath,{}", pa.display())),
        Duration::from_secs(300),
    );
    assert!(
        build.status.success(),
        "building tests/cpp/extra_ops.cc failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let store = TestStore::start();
    let run = run_bounded(
        Command::new(&exe).arg(store.socket()),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report = format!(
        "extra_ops ({}):\n{stdout}\n{}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr),
        store.stderr_report()
    );
    // What the real plasma-store-server 11.0.0 answers to the same program.
    let expected = [
        "connect: OK",
        "create: OK",
        "release: OK",
        "abort: OK",
        "contains: OK",
        "contains after abort: 0",
        "batch: OK",
        "batch again exists: 1",
        "get batch: OK",
        "object 0: data=batch-one meta=m1",
        "object 1: data=second meta=",
        "refresh: OK",
        "evict: OK",
        "evicted 1: 6",
        "evict: OK",
        "evicted 2: 11",
        "evict: OK",
        "evicted 3: 0",
        "disconnect: OK",
        "done",
    ];
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got, expected, "{report}");
    assert!(run.status.success(), "{report}");
}
