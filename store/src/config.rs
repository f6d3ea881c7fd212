//! Everything the daemon is told at start-up.

use std::net::SocketAddr;
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
/// Default bound on the drain after SIGTERM (peers reading what they are
/// owed); well inside systemd's default stop timeout of 90 s.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Serve Prometheus metrics at `http://ADDR/metrics`; off when `None`.
    pub metrics_listen: Option<SocketAddr>,
    /// Work with a service manager: take the listening socket from
    /// `LISTEN_FDS` (socket activation) and report readiness and stopping
    /// to `NOTIFY_SOCKET`, each when its variable is set.
    pub systemd: bool,
    /// Longest time a stop waits for peers to read what they are owed.
    pub drain_timeout: Duration,
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
            metrics_listen: None,
            systemd: false,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
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
