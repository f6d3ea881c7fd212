//! Everything the daemon is told at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::backing::{BackingOptions, DEFAULT_SHM_DIR};

/// Default cap on one connection's unread replies: a client reading its
/// replies never comes near it (one large fresh reply does not count, see
/// `server/effects.rs`).
pub const DEFAULT_QUEUE_CAP: u64 = 4 << 20;
/// Default cap on one subscriber's unread notifications: pyarrow's own
/// suite queues 1.4 MB before it reads (10,000 seals).
pub const DEFAULT_SUBSCRIBER_QUEUE_CAP: u64 = 8 << 20;
/// What the largest legitimate frame carries beyond its object bytes: a
/// CreateAndSealBatch costs about 80 bytes per object, a Get (Delete,
/// Await, ...) 28 bytes per id, so this covers a batch of 200,000 objects
/// or a request naming 600,000 ids.
pub const FRAME_OVERHEAD: u64 = 16 << 20;

/// The default `--max-frame` for a store of `capacity` bytes: the largest
/// CreateAndSeal that can succeed carries `capacity` bytes inline (a larger
/// one is refused anyway), plus [`FRAME_OVERHEAD`].
pub fn default_max_frame(capacity: u64) -> u64 {
    capacity.saturating_add(FRAME_OVERHEAD)
}
/// Default time a started frame has to arrive completely: a slowloris
/// peer holds its connection (and its share of the input budget) this
/// long. A real client sends a frame in one go; the largest (a CreateAndSeal
/// of a whole store) takes well under a second over a Unix socket.
pub const DEFAULT_FRAME_DEADLINE: Duration = Duration::from_secs(10);
/// Default time the loop keeps polling without sleeping after activity: off,
/// because on a loaded 2-vCPU machine a spinning store steals the CPU its
/// clients need (measured: 40-54k puts/s with 50 µs against 62-79k without).
pub const DEFAULT_SPIN: Duration = Duration::ZERO;
/// Default bound on the drain after SIGTERM (peers reading what they are
/// owed); well inside systemd's default stop timeout of 90 s.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Descriptors kept back from `--max-clients`' default for the store's own
/// (stdio, listener, poller, waker, signal pipe, arena, the spare one used
/// to refuse a client when none is left), plus one in 16 of the limit for
/// subscribers' notification sockets and descriptors in transit.
pub const RESERVED_FDS: u64 = 16;

/// Clients served at once when `--max-clients` is not given: the soft
/// `RLIMIT_NOFILE` less [`RESERVED_FDS`] and a sixteenth of the limit
/// (at least 1).
pub fn default_max_clients() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    max_clients_for(soft)
}

/// [`default_max_clients`] for a descriptor limit of `nofile`.
pub fn max_clients_for(nofile: u64) -> usize {
    // RLIM_INFINITY and other huge limits: far more than a store serves.
    let nofile = nofile.min(1 << 20);
    let spare = RESERVED_FDS + nofile / 16;
    usize::try_from(nofile.saturating_sub(spare).max(1)).unwrap_or(usize::MAX)
}

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
    /// Bytes of partly read frames all connections together may hold; a
    /// connection that would go past it is not read until others finish.
    pub input_budget: u64,
    /// Largest unread output of one connection, then it is dropped.
    pub queue_cap: u64,
    /// Largest unread output of one subscriber, then its socket is closed.
    pub subscriber_queue_cap: u64,
    /// Time a started frame has to arrive completely.
    pub frame_deadline: Duration,
    /// How long the loop polls without sleeping after serving anything.
    pub spin: Duration,
    /// Clients served at once; more are accepted and closed at once.
    pub max_clients: usize,
    /// Where objects pushed out of memory are spilled (`--spill-dir`);
    /// `None`: they are dropped, as Plasma does.
    pub spill_dir: Option<PathBuf>,
    /// Bytes of spill files allowed (`--spill-max`); `None`: the free space
    /// of the directory at start, less a margin.
    pub spill_max: Option<u64>,
    /// Stop on SIGTERM/SIGINT (the daemon does; in-process tests do not).
    pub handle_signals: bool,
    /// Entries of the directory of our `direct` capability; `None` sizes
    /// it from the capacity ([`ServerConfig::directory_entries`]), 0 turns
    /// the capability off.
    pub direct_entries: Option<usize>,
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
            max_frame_len: default_max_frame(capacity),
            input_budget: default_max_frame(capacity),
            queue_cap: DEFAULT_QUEUE_CAP,
            subscriber_queue_cap: DEFAULT_SUBSCRIBER_QUEUE_CAP,
            frame_deadline: DEFAULT_FRAME_DEADLINE,
            spin: DEFAULT_SPIN,
            max_clients: default_max_clients(),
            spill_dir: None,
            spill_max: None,
            handle_signals: false,
            direct_entries: None,
            metrics_listen: None,
            systemd: false,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_clients_leaves_room_for_the_stores_own_descriptors() {
        assert_eq!(max_clients_for(256), 256 - 16 - 16);
        assert_eq!(max_clients_for(1024), 1024 - 16 - 64);
        assert_eq!(max_clients_for(20), 3);
        assert_eq!(max_clients_for(16), 1);
        assert_eq!(max_clients_for(0), 1);
        assert_eq!(max_clients_for(u64::MAX), (1 << 20) - 16 - (1 << 16));
    }
}
