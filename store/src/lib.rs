//! The plasma-store daemon as a library: the sans-io [`core`], the arena it
//! manages, and the single-threaded event loop ([`server::run`]) that the
//! `plasma-store` binary ([`cli::main`]) and the tests start.
pub mod core;

pub mod arena;
pub mod backing;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod server;

pub use config::ServerConfig;
pub use server::{run, ServerError, Shutdown};
