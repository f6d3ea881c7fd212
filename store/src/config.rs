//! Everything the daemon is told at start-up.

use std::path::PathBuf;
use std::time::Duration;

use crate::backing::{BackingOptions, DEFAULT_SHM_DIR};

/// Default cap on one connection's (or subscriber's) queued output.
pub const DEFAULT_QUEUE_CAP: u64 = 256 << 20;
/// Default time a started frame has to arrive completely.
pub const DEFAULT_FRAME_DEADLINE: Duration = Duration::from_secs(30);
/// Default time the loop keeps polling without sleeping after activity: off,
/// because on a loaded 2-vCPU machine a spinning store steals the CPU its
/// clients need (measured: 40-54k puts/s with 50 µs against 62-79k without).
pub const DEFAULT_SPIN: Duration = Duration::ZERO;

/// How to run the store (see `plasma-store --help`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Unix socket path clients connect to (`-s`).
    pub socket_path: PathBuf,
    /// Byte budget for objects (`-m`).
    pub capacity: u64,
    /// Directory for the arena file (`-d`); `/dev/shm` selects a memfd.
    pub shm_dir: PathBuf,
    /// Back the arena with huge pages (`-h`).
    pub huge_pages: bool,
    /// External store spec (`-e hashtable://...`), if any.
    pub external_store: Option<String>,
    /// Extra user ids allowed to connect, besides ours and root.
    pub allow_uids: Vec<u32>,
    /// Group ids whose members may connect.
    pub allow_gids: Vec<u32>,
    /// Largest frame payload accepted.
    pub max_frame_len: u64,
    /// Largest output queue of one connection or subscriber.
    pub queue_cap: u64,
    /// Time a started frame has to arrive completely.
    pub frame_deadline: Duration,
    /// How long the loop polls without sleeping after serving anything.
    pub spin: Duration,
    /// Stop on SIGTERM/SIGINT (the daemon does; in-process tests do not).
    pub handle_signals: bool,
    /// Entries of the directory of our `direct` capability; `None` sizes
    /// it from the capacity ([`ServerConfig::directory_entries`]), 0 turns
    /// the capability off.
    pub direct_entries: Option<usize>,
}

impl ServerConfig {
    /// A config with every default: memfd arena, no external store, no
    /// signal handling (stop it with its [`Shutdown`](crate::server::Shutdown)).
    pub fn new(socket_path: impl Into<PathBuf>, capacity: u64) -> Self {
        ServerConfig {
            socket_path: socket_path.into(),
            capacity,
            shm_dir: PathBuf::from(DEFAULT_SHM_DIR),
            huge_pages: false,
            external_store: None,
            allow_uids: Vec::new(),
            allow_gids: Vec::new(),
            max_frame_len: plasma_protocol::DEFAULT_MAX_FRAME_LEN,
            queue_cap: DEFAULT_QUEUE_CAP,
            frame_deadline: DEFAULT_FRAME_DEADLINE,
            spin: DEFAULT_SPIN,
            handle_signals: false,
            direct_entries: None,
        }
    }

    /// Entries of the directory: as configured, else one per 4 KiB of
    /// capacity between 4,096 and 1,048,576 (0: no directory).
    pub fn directory_entries(&self) -> usize {
        self.direct_entries.unwrap_or_else(|| {
            usize::try_from(self.capacity / 4096)
                .unwrap_or(usize::MAX)
                .clamp(4096, 1 << 20)
        })
    }

    /// What the arena's backing file must look like.
    pub fn backing(&self) -> BackingOptions {
        BackingOptions {
            capacity: self.capacity,
            dir: self.shm_dir.clone(),
            huge_pages: self.huge_pages,
        }
    }
}
