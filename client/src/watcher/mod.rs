//! [`Watcher`]: `as_future` for an event loop the caller runs (Python's
//! asyncio, a GUI toolkit's loop, a hand-written `poll` loop), without a
//! thread or runtime of its own.
//!
//! The caller keeps its own kind of future; the watcher keeps one waiter
//! per future (any [`Pending`]) in the same router the tokio
//! [`AsyncClient`](crate::AsyncClient) uses, and gives back each sealed
//! object together with the waiters it resolves. The caller's loop
//! watches one descriptor ([`Watcher::fd`]) for readability, and calls
//! [`Watcher::poll`] when it is readable, when [`Watcher::register`] or
//! [`Watcher::cancel`] asked for it, and when the descriptor is writable
//! while [`Watcher::poll`] said bytes were left.
//!
//! Two ways to learn about seals, chosen at connect, as in the tokio
//! client:
//!
//! * **pushes**, when the store offers our Await addition (plasma-store
//!   does): a second connection, non-blocking, on which the store pushes
//!   each awaited object with a hold the moment it is sealed (`push.rs`);
//! * **notifications** otherwise (Arrow Plasma 11): a subscription whose
//!   socket is the descriptor to watch. Every id gets its first waiter
//!   registered before it is checked, and is checked (and fetched after
//!   each seal notification naming it) with one timeout-0 get per
//!   [`poll`](Watcher::poll) on the blocking client: one round trip to a
//!   store that answers at once, on the caller's thread.
//!
//! Buffers hold their objects until their last clone is dropped, on any
//! thread.

mod push;

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use plasma_protocol::{ObjectId, EXTENSIONS_MARKER};

pub use crate::async_client::router::Pending;
use crate::async_client::router::Router;
use crate::error::{AsFutureError, ConnectError, SubscribeError};
use crate::subscription::Subscription;
use crate::{Client, ClientOptions, ObjectBuffer};
use push::PushChannel;

/// Settings for [`Watcher::connect`].
///
/// ```
/// let mut options = plasma_client::WatcherOptions::default();
/// options.store_extensions = false; // always wait through notifications
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WatcherOptions {
    /// Options of the blocking client the watcher connects first (retries,
    /// digest).
    pub client: ClientOptions,
    /// Use the store's Await addition when it offers it (see the module
    /// doc). Default true.
    pub store_extensions: bool,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            store_extensions: true,
        }
    }
}

/// One sealed object and the waiters it resolves (none if every waiter
/// of it was cancelled meanwhile; dropping the buffer then releases it).
#[derive(Debug)]
#[non_exhaustive]
pub struct Ready<W> {
    /// The object, zero-copy, held while any clone lives.
    pub buffer: ObjectBuffer,
    /// The still-waiting waiters of its id, in registration order.
    pub waiters: Vec<W>,
}

enum Mode {
    Pushes(PushChannel),
    Notifications(Subscription),
}

/// Waits for objects on behalf of an event loop the caller runs; see the
/// [module documentation](self).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use plasma_client::{ObjectId, Pending, Watcher, WatcherOptions};
///
/// struct Flag(Rc<Cell<bool>>); // "still waiting"
/// impl Pending for Flag {
///     fn is_live(&self) -> bool { self.0.get() }
/// }
///
/// let mut watcher = Watcher::connect("/tmp/plasma.sock", WatcherOptions::default())?;
/// let id = ObjectId::random();
/// watcher.register(id, Flag(Rc::new(Cell::new(true))));
/// loop {
///     // A real loop sleeps in poll(2)/epoll on watcher.fd() here.
///     for ready in watcher.poll()? {
///         println!("{} sealed, {} waiters", ready.buffer.id(), ready.waiters.len());
///         return Ok(());
///     }
///     std::thread::sleep(std::time::Duration::from_millis(10));
/// }
/// # }
/// ```
pub struct Watcher<W> {
    client: Client,
    mode: Mode,
    router: Router<W>,
    /// Notifications: ids to check or fetch with the next poll.
    check: Vec<ObjectId>,
    /// Pushes: bytes were left unwritten by the last poll.
    write_pending: bool,
}

impl<W> std::fmt::Debug for Watcher<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("pushes", &matches!(self.mode, Mode::Pushes(_)))
            .field("check", &self.check.len())
            .finish()
    }
}

impl<W: Pending> Watcher<W> {
    /// Connects a blocking [`Client`] (retrying as its options say), asks
    /// the store whether it offers our Await addition, and opens the push
    /// connection or the subscription accordingly. Blocks for a few round
    /// trips.
    pub fn connect(path: impl AsRef<Path>, options: WatcherOptions) -> Result<Self, ConnectError> {
        let path = path.as_ref();
        let client = Client::connect_with(path, options.client)?;
        let pushes = options.store_extensions
            && client
                .debug_string()
                .map_err(ConnectError::from)?
                .lines()
                .any(|l| l == EXTENSIONS_MARKER);
        let mode = if pushes {
            Mode::Pushes(PushChannel::connect(path)?)
        } else {
            Mode::Notifications(client.subscribe().map_err(|e| match e {
                SubscribeError::Disconnected => ConnectError::Disconnected,
                SubscribeError::Timeout => ConnectError::Timeout,
                SubscribeError::Protocol(p) => ConnectError::Protocol(p),
                SubscribeError::Io { op, source } => ConnectError::Io { op, source },
            })?)
        };
        Ok(Self {
            client,
            mode,
            router: Router::default(),
            check: Vec::new(),
            write_pending: false,
        })
    }

    /// The blocking client the watcher connected (for gets, puts, ...).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the store pushes awaited objects (our addition) rather than
    /// notifying every seal.
    pub fn uses_pushes(&self) -> bool {
        matches!(self.mode, Mode::Pushes(_))
    }

    /// The descriptor to watch for readability (and, while
    /// [`wants_write`](Self::wants_write), writability).
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.mode {
            Mode::Pushes(p) => p.fd(),
            Mode::Notifications(s) => s.as_fd(),
        }
    }

    /// Whether the last [`poll`](Self::poll) left bytes unwritten: call it
    /// again once [`fd`](Self::fd) is writable.
    pub fn wants_write(&self) -> bool {
        self.write_pending
    }

    /// Adds a waiter for `id`. Returns true when [`poll`](Self::poll) must
    /// be called soon (the id needs registering or checking; several
    /// registrations may share that one call).
    pub fn register(&mut self, id: ObjectId, waiter: W) -> bool {
        if !self.router.register(id, waiter) {
            return false;
        }
        match &mut self.mode {
            Mode::Pushes(p) => p.want(id),
            Mode::Notifications(_) => self.check.push(id),
        }
        true
    }

    /// Prunes the waiters of `id` that are no longer live (a future was
    /// cancelled). Returns true when [`poll`](Self::poll) must be called
    /// soon (the last waiter is gone: the store is told).
    pub fn cancel(&mut self, id: ObjectId) -> bool {
        self.router.cancel(id);
        if self.router.wants(&id) {
            return false;
        }
        match &mut self.mode {
            Mode::Pushes(p) => {
                p.unwant(id);
                true
            }
            Mode::Notifications(_) => false,
        }
    }

    /// Number of distinct ids waited for.
    pub fn len(&self) -> usize {
        self.router.len()
    }

    /// Whether nothing is waited for.
    pub fn is_empty(&self) -> bool {
        self.router.is_empty()
    }

    /// Does everything that can be done without waiting: writes queued
    /// registrations, reads what the store sent, and (notifications)
    /// checks or fetches the ids that need it. Returns the objects sealed
    /// for waited-for ids, each with its waiters.
    ///
    /// An error means the connection is lost (the store died, or sent
    /// something undecodable): every waiter should then be failed, see
    /// [`close`](Self::close).
    pub fn poll(&mut self) -> Result<Vec<Ready<W>>, AsFutureError> {
        let mut ready = Vec::new();
        match &mut self.mode {
            Mode::Pushes(p) => {
                self.write_pending = p.flush()?;
                let mut buffers = Vec::new();
                p.read(&mut buffers)?;
                if !buffers.is_empty() {
                    // Registrations from a cancel-then-register in between
                    // go out now rather than with the next call.
                    self.write_pending = p.flush()?;
                }
                for buffer in buffers {
                    let waiters = self.router.take(&buffer.id());
                    ready.push(Ready { buffer, waiters });
                }
            }
            Mode::Notifications(sub) => {
                loop {
                    match sub.recv_timeout(std::time::Duration::ZERO) {
                        Ok(Some(n)) => {
                            if !n.deleted && self.router.wants(&n.id) {
                                self.check.push(n.id);
                            }
                        }
                        Ok(None) => break,
                        Err(SubscribeError::Disconnected) => {
                            return Err(AsFutureError::Disconnected)
                        }
                        Err(SubscribeError::Timeout) => break,
                        Err(SubscribeError::Protocol(p)) => {
                            return Err(AsFutureError::Protocol(std::sync::Arc::new(p)))
                        }
                        Err(SubscribeError::Io { op, source }) => {
                            return Err(AsFutureError::Io {
                                op,
                                source: std::sync::Arc::new(source),
                            })
                        }
                    }
                }
                let mut ids = std::mem::take(&mut self.check);
                ids.sort_unstable();
                ids.dedup();
                ids.retain(|id| self.router.wants(id));
                if !ids.is_empty() {
                    let found = self.client.try_get(&ids)?;
                    for buffer in found.into_iter().flatten() {
                        let waiters = self.router.take(&buffer.id());
                        ready.push(Ready { buffer, waiters });
                    }
                }
            }
        }
        Ok(ready)
    }

    /// Removes every waiter (to be cancelled or failed by the caller) and
    /// ends the registrations with the store. The watcher must not be used
    /// afterwards (drop it; its descriptor closes once no buffer of it is
    /// left, so stop watching it first).
    pub fn close(&mut self) -> Vec<W> {
        if let Mode::Pushes(p) = &mut self.mode {
            p.close();
        }
        self.check = Vec::new();
        self.router.drain()
    }
}
