//! Where Cargo put this package's binaries.

use std::path::PathBuf;

/// The path of this package's binary `name` (`e2e-store` or `e2e-client`).
///
/// Cargo builds a package's binaries before running its integration tests
/// and puts them in the profile directory, one level above the `deps/`
/// directory that holds the test executables; `CARGO_BIN_EXE_<name>`, which
/// only integration tests see at compile time, names the same file (the
/// `fixture` test checks that). Looking it up at run time lets the fixture
/// live in this library instead of being copied into every test file.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's own path");
    let mut dir = exe
        .parent()
        .expect("the test executable's directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "binary {name} not found at {} (run the tests with `cargo test`, which builds it)",
        path.display()
    );
    path
}
