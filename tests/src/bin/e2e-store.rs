//! The daemon under test: the same one-line entry point as `store/src/main.rs`,
//! declared in this package so its tests get it built as `e2e-store`.

fn main() {
    plasma_store::cli::main()
}
