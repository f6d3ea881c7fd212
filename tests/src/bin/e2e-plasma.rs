//! The `plasma` command under test: the same one-line entry point as
//! `cli/src/main.rs`, declared in this package so its tests get it built as
//! `e2e-plasma`.

fn main() -> std::process::ExitCode {
    plasma_cli::main()
}
