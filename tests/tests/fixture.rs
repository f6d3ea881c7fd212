//! The fixture itself: it runs the binaries Cargo built for these tests.

use plasma_e2e::bin_path;

#[test]
fn fixture_finds_the_binaries_cargo_built() {
    assert_eq!(
        bin_path("e2e-store"),
        std::path::Path::new(env!("CARGO_BIN_EXE_e2e-store"))
    );
    assert_eq!(
        bin_path("e2e-client"),
        std::path::Path::new(env!("CARGO_BIN_EXE_e2e-client"))
    );
}
