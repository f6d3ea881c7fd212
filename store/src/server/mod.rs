//! The runtime around the sans-io core: one thread, one mio poll, the
//! listening socket, every client and notification socket, signals and the
//! core's Get timers. The loop only translates bytes to requests and
//! outcomes to bytes; every decision lives in [`crate::core`].

mod admission;
mod budget;
mod burst;
mod connection;
mod disk;
mod drain;
mod effects;
mod event_loop;
mod frames;
mod holds;
mod input;
pub mod listener;
mod observe;
mod output;
mod peer_exit;
mod peer_log;
mod quarantine;
mod shutdown;
mod slices;
mod subscriber;
mod systemd;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};

pub use shutdown::Shutdown;

use crate::arena::{Arena, ArenaError, SEGMENT_ID};
use crate::config::ServerConfig;
use crate::core::{Store, StoreConfig};
use crate::disk::{default_limit, SpillDir, SpillDirError};
use crate::metrics::{MetricsError, MetricsServer};
use listener::{ListenError, Listener, PeerPolicy};
use systemd::NotifyState;

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The arena could not be created.
    #[error("cannot create the arena: {0}")]
    Arena(#[from] ArenaError),
    /// The socket could not be set up.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The spill directory cannot be used.
    #[error("cannot spill: {0}")]
    Spill(#[from] SpillDirError),
    /// The metrics endpoint could not be set up.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The poller, the signal handlers or the registrations failed.
    #[error("{op} failed: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Runs the store until `shutdown` is triggered (or, with
/// `config.handle_signals`, until SIGTERM/SIGINT). The socket file exists
/// from the moment connections are accepted and is removed on return.
///
/// ```no_run
/// use plasma_store::{server, ServerConfig};
/// let shutdown = server::Shutdown::new();
/// let stopper = shutdown.clone();
/// let t = std::thread::spawn(move || server::run(ServerConfig::new("/tmp/p.sock", 1 << 20), shutdown));
/// stopper.trigger();
/// t.join().unwrap().unwrap();
/// ```
pub fn run(config: ServerConfig, shutdown: Shutdown) -> Result<(), ServerError> {
    // Handlers first: a SIGTERM while a large arena is being allocated still
    // ends in a clean exit.
    let signals = if config.handle_signals {
        let s = event_loop::Signals::new([SIGTERM, SIGINT]).map_err(|source| ServerError::Io {
            op: "installing SIGTERM/SIGINT handlers",
            source,
        })?;
        Some(s)
    } else {
        None
    };
    // A socket passed by a service manager is ours to serve, not a rival.
    let activated = if config.systemd {
        systemd::activated_socket(&config.socket_path)?
    } else {
        None
    };
    // Cheap checks first: do not build a large arena to then find a live
    // store (or a spill directory another store uses).
    if activated.is_none() {
        listener::ensure_not_served(&config.socket_path)?;
    }
    let spill_dir = match &config.spill_dir {
        Some(path) => Some(Arc::new(SpillDir::open(path)?)),
        None => None,
    };
    let spill_limit = match (&spill_dir, config.spill_max) {
        (Some(_), Some(max)) => Some(max),
        (Some(dir), None) => Some(default_limit(dir.free_bytes()?)),
        (None, _) => None,
    };
    let (arena, mapping) = Arena::create(&config.backing())?;
    tracing::info!(
        capacity = config.capacity,
        arena_bytes = arena.len(),
        dir = %config.shm_dir.display(),
        huge_pages = config.huge_pages,
        "arena ready"
    );
    let store_config = StoreConfig {
        capacity: config.capacity,
        arena_len: arena.len(),
        segment_id: SEGMENT_ID,
        mmap_size: arena.mmap_size(),
        external_store: config.external_store.is_some(),
        spill_limit,
    };
    if let (Some(dir), Some(limit)) = (&spill_dir, spill_limit) {
        tracing::info!(
            dir = %dir.path().display(),
            max_bytes = limit,
            "objects pushed out of memory are spilled to disk"
        );
    }
    let spill = spill_dir.map(|dir| (dir, mapping.io()));
    let mut store = Store::new(store_config, Box::new(mapping));
    let directory = directory(&config, &mut store);
    let policy = PeerPolicy::new(config.allow_uids.clone(), config.allow_gids.clone());
    let listener = match activated {
        Some(socket) => {
            tracing::info!(socket = %config.socket_path.display(), "serving the socket passed by the service manager");
            Listener::adopt(socket, &config.socket_path, policy)?
        }
        None => Listener::bind(&config.socket_path, policy)?,
    };
    tracing::info!(socket = %config.socket_path.display(), "listening");
    let waker = shutdown.clone();
    let mut event_loop =
        event_loop::EventLoop::new(&config, listener, store, arena, shutdown, signals, spill)?;
    event_loop.directory = directory;
    let _metrics = match config.metrics_listen {
        Some(addr) => {
            let (server, requests) = MetricsServer::start(addr, Box::new(move || waker.wake()))?;
            event_loop.observer.attach(requests);
            Some(server)
        }
        None => None,
    };
    if config.systemd {
        event_loop.observer.systemd = true;
        let status = format!(
            "STATUS=accepting connections on {}",
            config.socket_path.display()
        );
        systemd::notify(&[NotifyState::Ready, NotifyState::Custom(&status)]);
    }
    let result = event_loop.run();
    tracing::info!("store stopped");
    result
}

/// Makes the directory of our `direct` capability and gives it to the
/// store; its descriptor is for clients. Without one (turned off, or the
/// memfd could not be made) the store simply does not offer `direct`.
fn directory(config: &ServerConfig, store: &mut Store) -> Option<std::os::fd::OwnedFd> {
    let entries = config.directory_entries();
    if entries == 0 {
        return None;
    }
    let geo = plasma_protocol::direct::DirectoryGeometry::for_entries(entries);
    let made = crate::arena::create_words(crate::arena::SegmentKind::Directory, geo.words());
    match made {
        Ok((fd, mapping)) => match store.set_directory(Box::new(mapping), entries) {
            Ok(()) => {
                tracing::info!(entries, bytes = geo.bytes(), "directory ready");
                Some(fd)
            }
            Err(e) => {
                tracing::warn!("direct gets off: {e}");
                None
            }
        },
        Err(e) => {
            tracing::warn!("direct gets off: cannot make the directory: {e}");
            None
        }
    }
}
