//! The one shared fixture of the end-to-end tests.
//!
//! * [`TestStore`]: the real daemon (this package's `e2e-store` binary) on a
//!   unique socket in its own temp dir, stopped and cleaned up on drop.
//! * [`ClientProcess`]: the `e2e-client` binary, "a client in another
//!   process", with its output read line by line.
//! * [`RawConnection`]: a bare Unix socket speaking frames, for the tests
//!   that send what no well-behaved client would.
//! * [`pattern`]/[`crc32`]: deterministic object contents both processes can
//!   produce and check.
//! * [`permissions_of`]: how this process has mapped some bytes.
//!
//! ```no_run
//! use plasma_e2e::TestStore;
//! let store = TestStore::builder().memory(1 << 20).start();
//! let _client = store.client();
//! ```

mod bins;
mod data;
mod maps;
mod process;
pub mod procfs;
pub mod pyenv;
mod raw;
mod store;
mod wait;

pub use bins::bin_path;
pub use data::{crc32, pattern};
pub use maps::permissions_of;
pub use process::{run_bounded, wait_timeout, ClientProcess};
pub use raw::{frame, frame_with_len, RawConnection};
pub use store::{TestStore, TestStoreBuilder};
pub use wait::{eventually, within};

/// The protocol steps after which the kill sweep (`tests/kill_sweep.rs`)
/// kills an `e2e-client kill-me` process.
pub const STEPS: [&str; 9] = [
    "create",
    "write",
    "seal",
    "get",
    "release",
    "subscribe",
    "await",
    "create_and_seal",
    "batch",
];

/// How long the fixture waits for anything that should be prompt (a daemon
/// to listen, a child to print, a process to exit) before failing the test.
/// Generous: the tests run two at a time on two shared cores.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);
