//! The tokio [`AsyncClient`]: every operation of the blocking client as a
//! future, and [`as_future`](AsyncClient::as_future), which turns an object
//! id into a future that resolves with the object's zero-copy buffer the
//! moment its producer seals it.
//!
//! # Design
//!
//! One task per client, the *driver* (`driver/`, a file per job), owns the
//! sockets:
//!
//! * **one request connection**: handles send it commands on an unbounded
//!   channel (with a oneshot for the answer); it writes requests in arrival
//!   order, pipelined, and pairs replies with them in the same order (the
//!   protocol has no request ids), reading segment fds after their reply.
//!   Releases (a buffer's last clone dropped) are commands too, so every
//!   release is ordered with the requests around it. Nothing ever waits on
//!   this connection: every Get it sends has timeout 0;
//! * the **router** (`router.rs`): object id → waiting futures, and one of
//!   two ways to learn that an awaited object is sealed, chosen at connect:
//!   * **pushes**, when the store offers our Await addition (plasma-store
//!     does, docs/protocol.md §15; the client asks for
//!     the store's debug text to find out): the first waiter of an id puts
//!     it in the round's Await message, the store checks and registers in
//!     one step and pushes the object, with a hold, on the same connection
//!     the moment it is sealed (at once if it is sealed already). The
//!     connection is this client's one notification channel: no second
//!     socket, no Get round trip per object (`awaits.rs` keeps the
//!     registrations and when a Release must wait for a push);
//!   * **notifications** otherwise (Arrow Plasma 11): one notification
//!     channel (`subscribe.rs`), set up on first need on a connection of its
//!     own. A future registers its waiter *before* the driver asks the store
//!     whether the object is sealed already, so a seal can never fall
//!     between the check and the subscription. On a seal notification for
//!     an awaited id, one timeout-0 Get fetches the object and every waiter
//!     gets a clone of the buffer. Checks and fetches of one round go out as
//!     one batched Get.
//!
//! Buffers and builders hold a `Link` (`command.rs`): the way to the driver
//! for their Release or Abort, and the request socket itself, so the
//! connection (and the store's holds) outlives the driver if it stops
//! first.
//!
//! All waiting (`as_future`, `as_futures`, `wait`, `get_timeout`, `get`)
//! goes through the router; a pending future costs about 180 bytes of this
//! process's heap (measured with 100,000 by `plasma-bench --only as-future`),
//! plus, with pushes, one registration in the store.
//!
//! # Cancel safety
//!
//! Every method sends its request (or registers its waiter) when it is
//! *called*; the returned future only awaits the answer and borrows nothing
//! (`Send + 'static`). Dropping such a future never desynchronises the
//! connection and never leaks a hold:
//!
//! | method | if the returned future is dropped before completion |
//! |---|---|
//! | `as_future`, `as_futures`, `wait`, `get_timeout`, `get` | the waiters are removed from the router; an object fetched meanwhile is released |
//! | `try_get` | the request completes; the buffers are dropped, i.e. released |
//! | `create` | the object is created, then aborted (its builder is dropped) |
//! | `AsyncObjectBuilder::seal` | the object is sealed; its buffer is dropped (released) |
//! | `create_and_seal`, `delete`, `evict` | the request still takes effect; its answer is lost |
//! | `contains`, `list`, `stats` | nothing happens beyond the lost answer |
//! | `init` | the channel is set up anyway |
//! | `shutdown` | the shutdown happens anyway |
//!
//! # Runtime
//!
//! Needs a tokio runtime with I/O and time enabled (`enable_all`); either
//! flavour works. The driver runs on the runtime that called
//! [`connect`](AsyncClient::connect); on a current-thread runtime, futures
//! are resolved on the thread that reads the notification.

// awaits, router and wire are runtime-independent; the Watcher
// (watcher/) drives them from a caller's event loop.
pub(crate) mod awaits;
mod builder;
mod command;
mod driver;
mod future;
pub(crate) mod router;
mod socket;
mod subscribe;
mod waiting;
pub(crate) mod wire;

use std::cell::RefCell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use plasma_protocol::{extensions, Encoder, MessageType, ObjectId, ObjectInfo, Reply, Request};
use tokio::net::UnixStream;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::oneshot;

pub use builder::AsyncObjectBuilder;
pub use future::AsFuture;
pub use waiting::WaitOutcome;

use crate::client::{give_up_unless_transient, DeleteOutcome};
use crate::connection::unexpected;
use crate::digest::{digest, NO_DIGEST};
use crate::direct::{take_all, Direct};
use crate::error::{
    AsFutureError, CallError, ConnectError, ContainsError, CreateError, DeleteError, EvictError,
    GetError, ListError, ProtocolError,
};
use crate::{replies, ObjectBuffer};
use command::{Command, Link};
use driver::Driver;
use socket::Socket;

/// Settings for [`AsyncClient::connect_with`].
///
/// ```
/// use std::time::Duration;
/// let mut options = plasma_client::AsyncClientOptions::default();
/// options.spin = Duration::from_micros(50); // trade CPU for wake-up latency
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AsyncClientOptions {
    /// How many times to retry connecting while the socket is missing or
    /// refuses connections (the store may still be starting). Default 50.
    pub connect_retries: u32,
    /// Pause between connection attempts. Default 100 ms.
    pub retry_delay: Duration,
    /// Compute a CRC-32 digest at seal time (see [`digest`](crate::digest)).
    /// Default true.
    pub digest: bool,
    /// How long the client's I/O task keeps polling its sockets after its
    /// last piece of work before it sleeps in the reactor. While it polls,
    /// a reply or notification is picked up without a wake-up (which costs
    /// tens of microseconds on a virtual machine), at the price of one busy
    /// CPU thread for that long after each burst of activity. It yields
    /// between polls, so other tasks on its thread still run. Default zero
    /// (never spin): right for shared machines.
    pub spin: Duration,
    /// Use this store's own protocol addition when the store offers it
    /// (plasma-store does; Arrow Plasma 11 does not, and is then waited on
    /// through its notifications): futures are registered with one Await
    /// message and the store pushes each object, with a hold, the moment it
    /// is sealed, which saves the notification channel and a Get round trip
    /// per object. Connecting asks for the store's debug text once to find
    /// out. Default true; false waits through notifications everywhere.
    pub store_extensions: bool,
    /// Use this store's `direct` capability when the store offers it, as
    /// `ClientOptions::direct` does: `try_get` of sealed objects with no
    /// message, small puts in one round trip. Default true (needs
    /// `store_extensions`).
    pub direct: bool,
    /// As `ClientOptions::put_inline_max`. Default 64 KiB.
    pub put_inline_max: u64,
}

impl Default for AsyncClientOptions {
    fn default() -> Self {
        Self {
            connect_retries: 50,
            retry_delay: Duration::from_millis(100),
            digest: true,
            spin: Duration::ZERO,
            store_extensions: true,
            direct: true,
            put_inline_max: crate::client::DEFAULT_PUT_INLINE_MAX,
        }
    }
}

/// Counters of an [`AsyncClient`]'s waiting machinery, from
/// [`AsyncClient::stats`].
///
/// ```no_run
/// # async fn f(client: plasma_client::AsyncClient) -> Result<(), plasma_client::AsFutureError> {
/// let stats = client.stats().await?;
/// println!("{} objects awaited, {} router gets so far", stats.waiting_objects, stats.router_gets);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AsyncStats {
    /// Distinct objects that some pending future waits for.
    pub waiting_objects: usize,
    /// Timeout-0 Gets the router has sent (checks whether awaited objects
    /// are sealed already, and fetches after seal notifications).
    pub router_gets: u64,
    /// Object ids those Gets named, in total.
    pub router_ids: u64,
    /// Ids registered with the store's Await (our addition; used instead
    /// of notifications and Gets when the store offers it).
    pub awaited_ids: u64,
    /// Objects the store pushed for those registrations.
    pub pushed: u64,
}

/// A tokio client of a plasma store (ours or Arrow Plasma 11's).
///
/// A cheap `Clone + Send + Sync` handle; every clone shares one request
/// connection, one notification channel and one I/O task, which ends when
/// the last handle, buffer, builder and future is gone. Every method sends
/// its request when called and returns a `Send + 'static` future; see the
/// [module documentation](self) for what dropping each future does.
///
/// If the connection fails (the store goes away, or sends something this
/// client cannot make sense of), every pending call gets that error and
/// every later call fails at once with `Disconnected`; nothing more is
/// written to the store. Buffers and builders stay valid: the socket, and
/// with it the store's holds and this client's unsealed objects, stays
/// open until the last of them is dropped (docs/design.md, the sharing
/// contract).
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use plasma_client::{AsyncClient, ObjectId};
/// let client = AsyncClient::connect("/tmp/plasma.sock").await?;
/// let id = ObjectId::random();
/// let sealed = client.as_future(id); // waits for a producer, anywhere
/// client.create_and_seal(id, b"payload", b"").await?;
/// assert_eq!(sealed.await?.data(), b"payload");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AsyncClient {
    inner: Arc<Shared>,
}

struct Shared {
    commands: UnboundedSender<Command>,
    path: PathBuf,
    capacity: u64,
    digest: bool,
    /// The `direct` state and the link its holds keep, once attached.
    direct: Option<(Arc<Direct>, Arc<Link>)>,
    put_inline_max: u64,
}

impl std::fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClient")
            .field("path", &self.inner.path)
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}

thread_local! {
    static ENCODER: RefCell<Encoder> = RefCell::new(Encoder::new());
}

/// One complete request frame.
fn encode(req: &Request<'_>) -> Vec<u8> {
    let mut frame = Vec::new();
    ENCODER.with(|e| e.borrow_mut().encode_request(req, &mut frame));
    frame
}

impl AsyncClient {
    /// Connects with default [`AsyncClientOptions`] (retrying for about 5 s
    /// while the socket is missing or refuses connections) and starts the
    /// client's I/O task on the current runtime.
    ///
    /// **Cancel safety:** dropping the future before it completes closes the
    /// connection; nothing else happened.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), plasma_client::ConnectError> {
    /// let client = plasma_client::AsyncClient::connect("/tmp/plasma.sock").await?;
    /// println!("store holds up to {} bytes", client.store_capacity());
    /// # Ok(()) }
    /// ```
    pub async fn connect(path: impl AsRef<Path>) -> Result<AsyncClient, ConnectError> {
        Self::connect_with(path, AsyncClientOptions::default()).await
    }

    /// Connects with the given options.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), plasma_client::ConnectError> {
    /// let mut options = plasma_client::AsyncClientOptions::default();
    /// options.connect_retries = 0;
    /// let client = plasma_client::AsyncClient::connect_with("/tmp/plasma.sock", options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(
        path: impl AsRef<Path>,
        options: AsyncClientOptions,
    ) -> Result<AsyncClient, ConnectError> {
        let path = path.as_ref().to_path_buf();
        let stream = connect_retrying(&path, &options).await?;
        let stream = Socket::from_tokio(stream).map_err(|source| ConnectError::Io {
            op: "register the store connection",
            source,
        })?;
        let (commands, rx) = mpsc::unbounded_channel();
        let driver = Driver::new(stream, rx, commands.downgrade(), path.clone(), options.spin);
        tokio::spawn(driver.run());
        let reply = call(&commands, &Request::Connect, MessageType::ConnectReply).await?;
        let Reply::Connect { memory_capacity } = reply else {
            return Err(unexpected(MessageType::ConnectReply, &reply).into());
        };
        let capacity = u64::try_from(memory_capacity)
            .map_err(|_| ConnectError::Protocol(ProtocolError::OutOfRange("memory capacity")))?;
        let mut direct = None;
        if options.store_extensions {
            // Every Plasma 11 store answers this; only ours ends the text
            // with the marker. Our types are never sent to one that does not.
            let reply = call(
                &commands,
                &Request::DebugString,
                MessageType::GetDebugStringReply,
            )
            .await?;
            let offers = |name| matches!(&reply, Reply::DebugString { text } if extensions::announces(text, name));
            if offers(extensions::AWAIT) {
                let _ = commands.send(Command::UsePushes);
            }
            if options.direct && offers(extensions::DIRECT) {
                let (reply, rx) = oneshot::channel();
                let _ = commands.send(Command::Attach(reply));
                direct = rx.await.unwrap_or(Err(CallError::Disconnected))?;
            }
        }
        Ok(AsyncClient {
            inner: Arc::new(Shared {
                commands,
                path,
                capacity,
                digest: options.digest,
                direct,
                put_inline_max: options.put_inline_max,
            }),
        })
    }

    /// The store's capacity in bytes (its `-m`), as told at connect time.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::AsyncClient) { assert!(client.store_capacity() > 0); }
    /// ```
    pub fn store_capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// Sets up the notification channel now rather than on the first
    /// [`as_future`](Self::as_future) (or other wait) that needs it.
    /// Resolves once the store is known to notify this client of every
    /// later seal. Harmless when already set up; with a store that pushes
    /// awaited objects (see the module doc) there is nothing to set up and
    /// it resolves at once.
    ///
    /// **Cancel safety:** the setup goes on if the future is dropped.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient) -> Result<(), plasma_client::AsFutureError> {
    /// client.init().await?;
    /// # Ok(()) }
    /// ```
    pub fn init(&self) -> impl Future<Output = Result<(), AsFutureError>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let _ = self.inner.commands.send(Command::Init(reply));
        async move { rx.await.unwrap_or(Err(AsFutureError::Disconnected)) }
    }

    /// Resolves every pending future (of `as_future`, `as_futures`, `wait`,
    /// `get_timeout`, `get`, in every clone of this client) with
    /// [`AsFutureError::Shutdown`] and closes the notification channel. The
    /// request connection stays; a later wait sets the channel up again.
    ///
    /// **Cancel safety:** the shutdown happens even if the future is
    /// dropped.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient) {
    /// let pending = client.as_future(plasma_client::ObjectId::random());
    /// client.shutdown().await;
    /// assert!(matches!(pending.await, Err(plasma_client::AsFutureError::Shutdown)));
    /// # }
    /// ```
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let _ = self.inner.commands.send(Command::Shutdown(reply));
        async move {
            let _ = rx.await;
        }
    }

    /// The waiting machinery's counters, as the client's I/O task sees them
    /// after handling everything sent to it before this call (so a future
    /// dropped before the call is no longer counted as waiting).
    ///
    /// **Cancel safety:** nothing happens beyond the lost answer.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient) -> Result<(), plasma_client::AsFutureError> {
    /// assert_eq!(client.stats().await?.waiting_objects, 0);
    /// # Ok(()) }
    /// ```
    pub fn stats(
        &self,
    ) -> impl Future<Output = Result<AsyncStats, AsFutureError>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let _ = self.inner.commands.send(Command::Stats(reply));
        async move { rx.await.map_err(|_| AsFutureError::Disconnected) }
    }

    /// Creates an object of `data_size` bytes of data plus `metadata`, to be
    /// written in place and then [sealed](AsyncObjectBuilder::seal). The
    /// store evicts released objects if needed to make room.
    ///
    /// **Cancel safety:** if the future is dropped, the object is still
    /// created and then aborted.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut b = client.create(plasma_client::ObjectId::random(), 3, b"meta").await?;
    /// b.data_mut().copy_from_slice(b"abc");
    /// let sealed = b.seal().await?;
    /// # Ok(()) }
    /// ```
    pub fn create(
        &self,
        id: ObjectId,
        data_size: u64,
        metadata: &[u8],
    ) -> impl Future<Output = Result<AsyncObjectBuilder, CreateError>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        match self.create_local(id, data_size, metadata) {
            // Built here, put with its seal (docs/design.md, "A put in one
            // round trip").
            Some(local) => {
                let _ = reply.send(local);
            }
            None => self.send_create(id, data_size, metadata, reply),
        }
        async move { rx.await.unwrap_or(Err(CreateError::Disconnected)) }
    }

    fn send_create(
        &self,
        id: ObjectId,
        data_size: u64,
        metadata: &[u8],
        reply: command::ReplyTo<Result<AsyncObjectBuilder, CreateError>>,
    ) {
        let _ = self.inner.commands.send(Command::Create {
            id,
            data_size,
            metadata: metadata.to_vec(),
            digest: self.inner.digest,
            reply,
        });
    }

    /// Creates and seals an object in one request, sending the bytes inline
    /// (encoded when called). The object is not held afterwards.
    ///
    /// **Cancel safety:** the object is created even if the future is
    /// dropped.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient) -> Result<(), plasma_client::CreateError> {
    /// client.create_and_seal(plasma_client::ObjectId::random(), b"small", b"").await?;
    /// # Ok(()) }
    /// ```
    pub fn create_and_seal(
        &self,
        id: ObjectId,
        data: &[u8],
        metadata: &[u8],
    ) -> impl Future<Output = Result<(), CreateError>> + Send + 'static {
        let digest = if self.inner.digest {
            digest(data, metadata)
        } else {
            NO_DIGEST
        };
        let reply = self.call(
            &Request::CreateAndSeal {
                id,
                evict_if_full: true,
                data,
                metadata,
                digest,
            },
            MessageType::CreateAndSealReply,
        );
        async move { replies::create_and_seal_result(reply.await?) }
    }

    /// Gets whatever of `ids` is sealed now, without waiting: one entry per
    /// id (duplicates allowed), `None` where the object is absent or not
    /// sealed yet.
    ///
    /// **Cancel safety:** the get completes without the caller; the buffers
    /// it returns are dropped, which releases them.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient, id: plasma_client::ObjectId) -> Result<(), plasma_client::GetError> {
    /// match client.try_get(&[id]).await?.pop().flatten() {
    ///     Some(buf) => println!("{} bytes", buf.data().len()),
    ///     None => println!("not there (yet)"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn try_get(
        &self,
        ids: &[ObjectId],
    ) -> impl Future<Output = Result<Vec<Option<ObjectBuffer>>, GetError>> + Send + 'static {
        // Direct gets first, right here; the store is asked for the rest.
        let mut found = match &self.inner.direct {
            Some((direct, link)) => take_all(direct, link, ids),
            None => vec![None; ids.len()],
        };
        let missing: Vec<ObjectId> = crate::connection::distinct(
            &ids.iter()
                .zip(&found)
                .filter(|(_, b)| b.is_none())
                .map(|(id, _)| *id)
                .collect::<Vec<_>>(),
        );
        let asked = (!missing.is_empty()).then(|| {
            let (reply, rx) = oneshot::channel();
            let _ = self.inner.commands.send(Command::Get {
                ids: missing.clone(),
                reply,
            });
            rx
        });
        let ids = ids.to_vec();
        async move {
            let Some(rx) = asked else {
                return Ok(found);
            };
            let got = rx.await.unwrap_or(Err(CallError::Disconnected))?;
            let got: std::collections::HashMap<ObjectId, ObjectBuffer> = missing
                .into_iter()
                .zip(got)
                .filter_map(|(id, b)| Some((id, b?)))
                .collect();
            for (slot, id) in found.iter_mut().zip(&ids) {
                if slot.is_none() {
                    *slot = got.get(id).cloned();
                }
            }
            Ok(found)
        }
    }

    /// A local builder for a small object when the client is attached.
    fn create_local(
        &self,
        id: ObjectId,
        data_size: u64,
        metadata: &[u8],
    ) -> Option<Result<AsyncObjectBuilder, CreateError>> {
        self.inner.direct.as_ref()?;
        let size = data_size
            .checked_add(metadata.len() as u64)
            .filter(|&s| s <= self.inner.put_inline_max)?;
        if size > self.inner.capacity {
            return Some(Err(CreateError::StoreFull));
        }
        let data_len = usize::try_from(data_size).ok()?;
        Some(Ok(AsyncObjectBuilder::local(
            id,
            data_len,
            metadata,
            self.inner.digest,
            self.inner.commands.clone(),
        )))
    }

    /// Whether the store has a sealed object `id`.
    ///
    /// **Cancel safety:** nothing happens beyond the lost answer.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient, id: plasma_client::ObjectId) -> Result<(), plasma_client::ContainsError> {
    /// if client.contains(id).await? { println!("sealed and present"); }
    /// # Ok(()) }
    /// ```
    pub fn contains(
        &self,
        id: ObjectId,
    ) -> impl Future<Output = Result<bool, ContainsError>> + Send + 'static {
        let reply = self.call(&Request::Contains { id }, MessageType::ContainsReply);
        async move { replies::contains_result(id, reply.await?) }
    }

    /// Deletes objects; one outcome per id, in order. Objects someone holds
    /// or that are not sealed yet are deleted later, when that ends.
    ///
    /// **Cancel safety:** the deletion happens even if the future is
    /// dropped.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient, id: plasma_client::ObjectId) -> Result<(), plasma_client::DeleteError> {
    /// use plasma_client::DeleteOutcome;
    /// assert_eq!(client.delete(&[id]).await?, vec![DeleteOutcome::Deleted]);
    /// # Ok(()) }
    /// ```
    pub fn delete(
        &self,
        ids: &[ObjectId],
    ) -> impl Future<Output = Result<Vec<DeleteOutcome>, DeleteError>> + Send + 'static {
        let ids = ids.to_vec();
        let reply = (!ids.is_empty()).then(|| {
            self.call(
                &Request::Delete { ids: ids.clone() },
                MessageType::DeleteReply,
            )
        });
        async move {
            match reply {
                Some(reply) => replies::delete_result(&ids, reply.await?),
                None => Ok(Vec::new()),
            }
        }
    }

    /// Every object in the store, with sizes, holder count, times and
    /// digest (`None` while unsealed).
    ///
    /// **Cancel safety:** nothing happens beyond the lost answer.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient) -> Result<(), plasma_client::ListError> {
    /// for info in client.list().await? {
    ///     println!("{} {} bytes", info.object_id, info.data_size);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list(
        &self,
    ) -> impl Future<Output = Result<Vec<ObjectInfo>, ListError>> + Send + 'static {
        let reply = self.call(&Request::List, MessageType::ListReply);
        async move { replies::list_result(reply.await?) }
    }

    /// Asks the store to evict released objects (least recently used first)
    /// until at least `num_bytes` are freed; returns the bytes freed.
    ///
    /// **Cancel safety:** the eviction happens even if the future is
    /// dropped.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient) -> Result<(), plasma_client::EvictError> {
    /// let freed = client.evict(1 << 20).await?;
    /// # Ok(()) }
    /// ```
    pub fn evict(
        &self,
        num_bytes: u64,
    ) -> impl Future<Output = Result<u64, EvictError>> + Send + 'static {
        let reply = self.call(&Request::Evict { num_bytes }, MessageType::EvictReply);
        async move { replies::evict_result(reply.await?) }
    }

    /// Sends `req` now; the future yields its reply.
    fn call(
        &self,
        req: &Request<'_>,
        expected: MessageType,
    ) -> impl Future<Output = Result<Reply, CallError>> + Send + 'static {
        call(&self.inner.commands, req, expected)
    }

    fn commands(&self) -> &UnboundedSender<Command> {
        &self.inner.commands
    }
}

/// Sends `req` to the driver now; the future yields its reply.
fn call(
    commands: &UnboundedSender<Command>,
    req: &Request<'_>,
    expected: MessageType,
) -> impl Future<Output = Result<Reply, CallError>> + Send + 'static {
    let (reply, rx) = oneshot::channel();
    // If the driver is gone, `reply` is dropped with the command and the
    // future sees `Disconnected`.
    let _ = commands.send(Command::Call {
        frame: encode(req),
        expected,
        reply,
    });
    async move { rx.await.unwrap_or(Err(CallError::Disconnected)) }
}

/// Connects, retrying while the store may still be starting.
async fn connect_retrying(
    path: &Path,
    options: &AsyncClientOptions,
) -> Result<UnixStream, ConnectError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match UnixStream::connect(path).await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                give_up_unless_transient(path, attempts, options.connect_retries, e)?;
                tokio::time::sleep(options.retry_delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_handle<T: Clone + Send + Sync + 'static>() {}
    fn assert_future<F: Future + Send + 'static>(_: &F) {}

    #[test]
    fn client_is_a_cheap_shareable_handle() {
        assert_handle::<AsyncClient>();
        assert_eq!(std::mem::size_of::<AsyncClient>(), 8);
    }

    #[tokio::test]
    async fn every_future_is_send_and_static() {
        let (commands, _rx) = mpsc::unbounded_channel();
        let client = AsyncClient {
            inner: Arc::new(Shared {
                commands,
                path: PathBuf::new(),
                capacity: 0,
                digest: true,
                direct: None,
                put_inline_max: 0,
            }),
        };
        let id = ObjectId::random();
        let data = vec![1u8; 3];
        assert_future(&client.create(id, 1, &data));
        assert_future(&client.create_and_seal(id, &data, &data));
        assert_future(&client.try_get(&[id]));
        assert_future(&client.get_timeout(&[id], Duration::from_millis(1)));
        assert_future(&client.get(&[id]));
        assert_future(&client.contains(id));
        assert_future(&client.delete(&[id]));
        assert_future(&client.list());
        assert_future(&client.evict(1));
        assert_future(&client.as_future(id));
        assert_future(&client.as_futures(&[id]));
        assert_future(&client.wait(&[id], 1, None));
        assert_future(&client.init());
        assert_future(&client.shutdown());
        assert_future(&client.stats());
    }

    #[tokio::test]
    async fn connecting_to_a_missing_socket_gives_up_after_the_retries() {
        let dir = tempfile::tempdir().unwrap();
        let options = AsyncClientOptions {
            connect_retries: 2,
            retry_delay: Duration::from_millis(1),
            ..AsyncClientOptions::default()
        };
        let err = AsyncClient::connect_with(dir.path().join("none.sock"), options)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectError::Unavailable { attempts: 3, .. }));
    }
}
