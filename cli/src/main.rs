//! `plasma`, the operator's command (see the `plasma_cli` crate).
fn main() -> std::process::ExitCode {
    plasma_cli::main()
}
