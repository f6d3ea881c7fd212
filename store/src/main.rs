//! The `plasma-store` daemon.
fn main() {
    plasma_store::cli::main()
}
