//! The disk side of spilling (issue 14): the spill directory and its files,
//! and the worker threads that copy objects between them and the arena.
//! The core decides what to spill and restore ([`crate::core`], effects
//! `Effect::Disk`); the event loop hands that work to [`Workers`] and their
//! reports back to the core. Nothing here runs on the event loop's thread.

mod dir;
mod files;
mod workers;

pub use dir::{default_limit, SpillDir, SpillDirError, LOCK_FILE};
pub use files::{Copier, Failure, CHUNK};
pub use workers::{Done, Workers, WORKERS};
