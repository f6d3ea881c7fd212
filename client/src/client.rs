//! The blocking [`Client`].
//!
//! Threading: a `Client` is `Send + Sync` and cheap to clone (an `Arc`).
//! Quick requests (create, seal, `try_get`, list, ...) go over one primary
//! connection, one at a time. A get that may wait (`get_timeout`, `get`)
//! runs on a connection of its own, taken from a pool (or opened) for the
//! call and returned afterwards, so it never blocks other threads' calls.
//! Releases are written without waiting for any pending reply (see
//! `connection.rs`).

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use plasma_protocol::{ObjectId, ObjectInfo, Request};
use std::os::fd::AsRawFd;

use crate::builder::ObjectBuilder;
use crate::connection::{distinct, Connection, Context, Wait};
use crate::digest::{digest, NO_DIGEST};
use crate::direct::take_all;
use crate::error::{
    CallError, ConnectError, ContainsError, CreateError, DebugStringError, DeleteError, EvictError,
    GetError, ListError, ProtocolError, SetOptionsError, SubscribeError, VerifyError,
};
use crate::lock;
use crate::replies;
use crate::subscription::Subscription;
use crate::ObjectBuffer;

/// Settings for [`Client::connect_with`].
///
/// ```
/// use std::time::Duration;
/// let mut options = plasma_client::ClientOptions::default();
/// options.connect_retries = 5;
/// options.request_timeout = Some(Duration::from_secs(10));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// How many times to retry connecting while the socket is missing or
    /// refuses connections (the store may still be starting). Default 50.
    pub connect_retries: u32,
    /// Pause between connection attempts. Default 100 ms.
    pub retry_delay: Duration,
    /// Compute a CRC-32 digest at seal time (see [`digest`](crate::digest));
    /// when false, 8 zero bytes are sent. Default true.
    pub digest: bool,
    /// Longest wait for the store to answer (or accept bytes); a get's own
    /// timeout is added to it; a get without timeout is never cut short.
    /// `None` (the default) waits forever. When it fires, the call returns
    /// `Timeout` and its connection is abandoned (a fresh one replaces it).
    pub request_timeout: Option<Duration>,
    /// Idle connections kept for waiting gets. Default 4.
    pub max_idle_connections: usize,
    /// How long a call keeps polling for its reply before it sleeps. A
    /// reply that comes within it is picked up without a wake-up (tens of
    /// microseconds on a virtual machine), at the price of a busy CPU for
    /// up to that long per call. Default zero (never spin): right for
    /// shared machines.
    pub spin: Duration,
    /// Use this store's `direct` capability when the store offers it
    /// (plasma-store does; Arrow Plasma 11 does not): gets of sealed
    /// objects read the store's directory and take their hold in shared
    /// memory, with no message, and small puts take one round trip
    /// (docs/design.md, "Fewer hand-overs"). Connecting asks for the
    /// store's debug text once to find out. Default true.
    pub direct: bool,
    /// With `direct`, objects of at most this many bytes (data plus
    /// metadata) are built in this process's memory and sent with their
    /// seal, in one round trip; larger ones are created in shared memory
    /// first (zero copy, two round trips). 0 creates every object in
    /// shared memory. Default 64 KiB.
    pub put_inline_max: u64,
}

/// Objects up to this size are put inline by default (at 64 KiB copying
/// the bytes twice costs about one hand-over between processes).
pub(crate) const DEFAULT_PUT_INLINE_MAX: u64 = 64 << 10;

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_retries: 50,
            retry_delay: Duration::from_millis(100),
            digest: true,
            request_timeout: None,
            max_idle_connections: 4,
            spin: Duration::ZERO,
            direct: true,
            put_inline_max: DEFAULT_PUT_INLINE_MAX,
        }
    }
}

/// What [`Client::delete`] did with one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteOutcome {
    /// Deleted now.
    Deleted,
    /// No such object.
    NotFound,
    /// Not sealed yet: it will be deleted once sealed and released.
    NotSealed,
    /// Some client (possibly this one) holds it: it will be deleted when
    /// the last holder releases it.
    InUse,
}

/// A blocking connection to a plasma store (ours or Arrow Plasma 11's).
///
/// `Send + Sync` and cheap to clone; share it between threads freely. A
/// get that waits runs on its own connection and never holds up other
/// calls or the release of dropped buffers.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use plasma_client::{Client, ObjectId};
/// let client = Client::connect("/tmp/plasma.sock")?;
/// let id = ObjectId::random();
/// client.create_and_seal(id, b"payload", b"")?;
/// let found = client.get(&[id])?;
/// assert_eq!(found[0].data(), b"payload");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: ClientOptions,
    capacity: u64,
    ctx: Arc<Context>,
    primary: Mutex<Arc<Connection>>,
    pool: Mutex<Vec<Arc<Connection>>>,
    /// The store offers `direct` and the options want it: primary
    /// connections attach.
    direct: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("path", &self.inner.path)
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}

impl Client {
    /// Connects with default [`ClientOptions`] (retrying for about 5 s
    /// while the socket is missing or refuses connections).
    ///
    /// ```no_run
    /// let client = plasma_client::Client::connect("/tmp/plasma.sock")?;
    /// println!("store holds up to {} bytes", client.store_capacity());
    /// # Ok::<(), plasma_client::ConnectError>(())
    /// ```
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ConnectError> {
        Self::connect_with(path, ClientOptions::default())
    }

    /// Connects with the given options.
    ///
    /// ```no_run
    /// let mut options = plasma_client::ClientOptions::default();
    /// options.connect_retries = 0;
    /// let client = plasma_client::Client::connect_with("/tmp/plasma.sock", options)?;
    /// # Ok::<(), plasma_client::ConnectError>(())
    /// ```
    pub fn connect_with(
        path: impl AsRef<Path>,
        options: ClientOptions,
    ) -> Result<Client, ConnectError> {
        let path = path.as_ref().to_path_buf();
        let ctx = Arc::new(Context::new(options.request_timeout, options.spin));
        let stream = connect_retrying(&path, &options)?;
        let (primary, capacity) = Connection::handshake(stream, &ctx)?;
        let direct = options.direct && offers_direct(&primary)?;
        if direct {
            primary.attach()?;
        }
        Ok(Client {
            inner: Arc::new(Inner {
                path,
                options,
                capacity,
                ctx,
                primary: Mutex::new(primary),
                pool: Mutex::new(Vec::new()),
                direct,
            }),
        })
    }

    /// The store's capacity in bytes (its `-m`), as told at connect time.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) { assert!(client.store_capacity() > 0); }
    /// ```
    pub fn store_capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// Creates an object of `data_size` bytes of data plus `metadata`, to be
    /// written in place and then sealed. The store evicts released objects
    /// if needed to make room.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut b = client.create(plasma_client::ObjectId::random(), 3, b"meta")?;
    /// b.data_mut().copy_from_slice(b"abc");
    /// let sealed = b.seal()?;
    /// # Ok(()) }
    /// ```
    pub fn create(
        &self,
        id: ObjectId,
        data_size: u64,
        metadata: &[u8],
    ) -> Result<ObjectBuilder, CreateError> {
        let conn = self.primary()?;
        let metadata_size = metadata.len() as u64;
        if conn.direct().is_some() {
            let size = data_size.checked_add(metadata_size);
            if let Some(size) = size.filter(|&s| s <= self.inner.options.put_inline_max) {
                // Built here, put with its seal: an object that can never
                // fit is refused now, the rest at seal.
                if size > self.inner.capacity {
                    return Err(CreateError::StoreFull);
                }
                let data_len = usize::try_from(data_size).map_err(|_| CreateError::StoreFull)?;
                return Ok(ObjectBuilder::local(
                    conn,
                    id,
                    data_len,
                    metadata,
                    self.inner.options.digest,
                ));
            }
        }
        let answer = conn.request(
            &Request::Create {
                id,
                evict_if_full: true,
                data_size,
                metadata_size,
                device_num: 0,
            },
            Wait::Quick,
        )?;
        replies::create_verdict(&answer.reply)?;
        let checked = replies::created_view(id, data_size, metadata_size, &answer);
        match checked {
            Ok((view, data_len)) => {
                conn.acquire(id);
                Ok(ObjectBuilder::new(
                    conn,
                    id,
                    view,
                    data_len,
                    metadata,
                    self.inner.options.digest,
                ))
            }
            Err(e) => {
                conn.abort(id);
                Err(e)
            }
        }
    }

    /// Creates and seals an object in one request, sending the bytes inline
    /// (one copy through the socket). The object is not held afterwards.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) -> Result<(), plasma_client::CreateError> {
    /// client.create_and_seal(plasma_client::ObjectId::random(), b"small", b"")?;
    /// # Ok(()) }
    /// ```
    pub fn create_and_seal(
        &self,
        id: ObjectId,
        data: &[u8],
        metadata: &[u8],
    ) -> Result<(), CreateError> {
        let digest = if self.inner.options.digest {
            digest(data, metadata)
        } else {
            NO_DIGEST
        };
        let conn = self.primary()?;
        let answer = conn.request(
            &Request::CreateAndSeal {
                id,
                evict_if_full: true,
                data,
                metadata,
                digest,
            },
            Wait::Quick,
        )?;
        replies::create_and_seal_result(answer.reply)
    }

    /// Gets whatever of `ids` is sealed now, without waiting: one entry per
    /// id (duplicates allowed), `None` where the object is absent or not
    /// sealed yet.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client, id: plasma_client::ObjectId) -> Result<(), plasma_client::GetError> {
    /// match client.try_get(&[id])?.pop().flatten() {
    ///     Some(buf) => println!("{} bytes", buf.data().len()),
    ///     None => println!("not there (yet)"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn try_get(&self, ids: &[ObjectId]) -> Result<Vec<Option<ObjectBuffer>>, GetError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(get_now(&self.primary()?, ids)?)
    }

    /// Gets `ids`, waiting up to `timeout` for those not sealed yet; `None`
    /// for what is still missing then. What is sealed already comes back in
    /// one round trip; the waiting runs on a connection of its own.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client, id: plasma_client::ObjectId) -> Result<(), plasma_client::GetError> {
    /// let found = client.get_timeout(&[id], std::time::Duration::from_secs(1))?;
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(
        &self,
        ids: &[ObjectId],
        timeout: Duration,
    ) -> Result<Vec<Option<ObjectBuffer>>, GetError> {
        if timeout.is_zero() {
            return self.try_get(ids);
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.pooled_get(ids, timeout_ms(timeout), Wait::For(timeout))
    }

    /// Gets `ids`, waiting as long as it takes for every one to be sealed.
    /// What is sealed already comes back in one round trip; the waiting runs
    /// on a connection of its own.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client, id: plasma_client::ObjectId) -> Result<(), plasma_client::GetError> {
    /// let buffers = client.get(&[id])?; // one buffer per id, in order
    /// println!("{:?}", buffers[0].metadata());
    /// # Ok(()) }
    /// ```
    pub fn get(&self, ids: &[ObjectId]) -> Result<Vec<ObjectBuffer>, GetError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.pooled_get(ids, -1, Wait::Forever)?
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or(GetError::Protocol(ProtocolError::Mismatch(
                "a get without timeout returned an absent object",
            )))
    }

    /// Whether the store has a sealed object `id`.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client, id: plasma_client::ObjectId) -> Result<(), plasma_client::ContainsError> {
    /// if client.contains(id)? { println!("sealed and present"); }
    /// # Ok(()) }
    /// ```
    pub fn contains(&self, id: ObjectId) -> Result<bool, ContainsError> {
        let answer = self
            .primary()?
            .request(&Request::Contains { id }, Wait::Quick)?;
        replies::contains_result(id, answer.reply)
    }

    /// Deletes objects; one outcome per id, in order. Objects someone holds
    /// (including this client) or that are not sealed yet are deleted later,
    /// when that ends.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client, id: plasma_client::ObjectId) -> Result<(), plasma_client::DeleteError> {
    /// use plasma_client::DeleteOutcome;
    /// assert_eq!(client.delete(&[id])?, vec![DeleteOutcome::Deleted]);
    /// # Ok(()) }
    /// ```
    pub fn delete(&self, ids: &[ObjectId]) -> Result<Vec<DeleteOutcome>, DeleteError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let answer = self
            .primary()?
            .request(&Request::Delete { ids: ids.to_vec() }, Wait::Quick)?;
        replies::delete_result(ids, answer.reply)
    }

    /// Every object in the store (created, sealed or evicted to an external
    /// store), with sizes, holder count, times and digest (`None` while
    /// unsealed).
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) -> Result<(), plasma_client::ListError> {
    /// for info in client.list()? {
    ///     println!("{} {} bytes", info.object_id, info.data_size);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> Result<Vec<ObjectInfo>, ListError> {
        let answer = self.primary()?.request(&Request::List, Wait::Quick)?;
        replies::list_result(answer.reply)
    }

    /// Asks the store to evict released objects (least recently used first)
    /// until at least `num_bytes` are freed; returns the bytes freed (may
    /// be less, or 0).
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) -> Result<(), plasma_client::EvictError> {
    /// let freed = client.evict(1 << 20)?;
    /// # Ok(()) }
    /// ```
    pub fn evict(&self, num_bytes: u64) -> Result<u64, EvictError> {
        let answer = self
            .primary()?
            .request(&Request::Evict { num_bytes }, Wait::Quick)?;
        replies::evict_result(answer.reply)
    }

    /// The store's description of its state (GetDebugString): free-form
    /// text, meant for people. plasma-store ends it with the line
    /// `plasma-store extensions: await` (docs/design.md).
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) -> Result<(), plasma_client::DebugStringError> {
    /// println!("{}", client.debug_string()?);
    /// # Ok(()) }
    /// ```
    pub fn debug_string(&self) -> Result<String, DebugStringError> {
        let answer = self
            .primary()?
            .request(&Request::DebugString, Wait::Quick)?;
        replies::debug_string_result(answer.reply)
    }

    /// Names this client's connection and asks for an output memory quota
    /// of `output_memory_quota` bytes (SetOptions): objects this client
    /// creates are then evicted from its own quota first. The name is set
    /// even when the quota is refused.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) -> Result<(), plasma_client::SetOptionsError> {
    /// client.set_options("loader", 64 << 20)?;
    /// # Ok(()) }
    /// ```
    pub fn set_options(
        &self,
        client_name: &str,
        output_memory_quota: i64,
    ) -> Result<(), SetOptionsError> {
        let answer = self.primary()?.request(
            &Request::SetOptions {
                client_name: client_name.to_owned(),
                output_memory_quota,
            },
            Wait::Quick,
        )?;
        replies::set_options_result(answer.reply)
    }

    /// Subscribes to seal and deletion notifications (on a connection of
    /// its own, so any number of subscriptions may coexist).
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) -> Result<(), plasma_client::SubscribeError> {
    /// let mut sub = client.subscribe()?;
    /// let first = sub.recv()?;
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self) -> Result<Subscription, SubscribeError> {
        let conn = self.open_extra()?;
        let io = |op| {
            move |e: nix::Error| SubscribeError::Io {
                op,
                source: e.into(),
            }
        };
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(io("create notification socket pair"))?;
        // The store must never block on a slow subscriber (protocol.md §6).
        fcntl(theirs.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(io("make notification socket non-blocking"))?;
        conn.send_with_fd(&Request::Subscribe, theirs.as_fd())?;
        drop(theirs);
        Ok(Subscription::new(UnixStream::from(ours), conn))
    }

    /// Recomputes the digest of object `id` and compares it with the one the
    /// store keeps. `Ok(false)` also when the object was sealed without a
    /// digest, or by a client with another digest algorithm (pyarrow).
    ///
    /// Costs a get plus a full [`list`](Self::list) of the store (the only
    /// request that returns stored digests), so O(number of objects).
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client, id: plasma_client::ObjectId) -> Result<(), plasma_client::VerifyError> {
    /// assert!(client.verify(id)?);
    /// # Ok(()) }
    /// ```
    pub fn verify(&self, id: ObjectId) -> Result<bool, VerifyError> {
        let buf = self
            .try_get(&[id])?
            .pop()
            .flatten()
            .ok_or(VerifyError::NotFound)?;
        let computed = digest(buf.data(), buf.metadata());
        let stored = self
            .list()?
            .into_iter()
            .find(|info| info.object_id == id)
            .and_then(|info| info.digest)
            .ok_or(VerifyError::NotFound)?;
        Ok(computed == stored)
    }

    /// The primary connection; replaces it if it was abandoned (after a
    /// timeout or protocol error) while the store lives.
    pub(crate) fn primary(&self) -> Result<Arc<Connection>, CallError> {
        let mut primary = lock(&self.inner.primary);
        if primary.is_poisoned() && !self.inner.ctx.is_dead() {
            let fresh = self.open_extra()?;
            if self.inner.direct {
                fresh.attach()?;
            }
            *primary = fresh;
        }
        Ok(Arc::clone(&primary))
    }

    /// Opens one more connection (one attempt: the store is known to be up).
    fn open_extra(&self) -> Result<Arc<Connection>, CallError> {
        if self.inner.ctx.is_dead() {
            return Err(CallError::Disconnected);
        }
        let stream = UnixStream::connect(&self.inner.path).map_err(|source| {
            use std::io::ErrorKind::*;
            match source.kind() {
                NotFound | ConnectionRefused => CallError::Disconnected,
                _ => CallError::Io {
                    op: "connect to store",
                    source,
                },
            }
        })?;
        let (conn, _) = Connection::handshake(stream, &self.inner.ctx)?;
        Ok(conn)
    }

    /// A get that may wait: a timeout-0 get on the primary connection, then
    /// a get of whatever it lacked on a pooled connection, so that waiting
    /// does not block others.
    ///
    /// The store orders frames only within one connection, so a release sent
    /// on a pooled connection could reach it after a create the program
    /// issued later on the primary one (and find the space still taken).
    /// So what the wait found is re-taken on the primary connection, where
    /// the caller's releases will travel in program order with its next
    /// requests, and the pooled holds are dropped and confirmed by one
    /// round trip on the pooled connection before the call returns.
    fn pooled_get(
        &self,
        ids: &[ObjectId],
        timeout_ms: i64,
        wait: Wait,
    ) -> Result<Vec<Option<ObjectBuffer>>, GetError> {
        // Most gets find their objects sealed: then a direct get or one
        // round trip on the primary connection is all, and only what is
        // missing is waited for.
        let mut found = get_now(&self.primary()?, ids)?;
        let missing: Vec<ObjectId> = distinct(
            &ids.iter()
                .zip(&found)
                .filter(|(_, buf)| buf.is_none())
                .map(|(id, _)| *id)
                .collect::<Vec<_>>(),
        );
        if missing.is_empty() {
            return Ok(found);
        }
        let conn = self.checkout()?;
        let waited = conn.get(&missing, timeout_ms, wait);
        let result = waited.and_then(|waited| self.rehold_on_primary(&conn, waited));
        self.checkin(conn);
        let waited: HashMap<ObjectId, ObjectBuffer> = missing
            .into_iter()
            .zip(result?)
            .filter_map(|(id, buf)| Some((id, buf?)))
            .collect();
        for (slot, id) in found.iter_mut().zip(ids) {
            if slot.is_none() {
                *slot = waited.get(id).cloned();
            }
        }
        Ok(found)
    }

    /// Takes the objects of `waited` (held on `pooled`) on the primary
    /// connection, then releases them on `pooled` and waits until the store
    /// has seen those releases.
    fn rehold_on_primary(
        &self,
        pooled: &Connection,
        waited: Vec<Option<ObjectBuffer>>,
    ) -> Result<Vec<Option<ObjectBuffer>>, CallError> {
        let Some(first) = waited.iter().flatten().next().map(ObjectBuffer::id) else {
            return Ok(waited);
        };
        let found: Vec<ObjectId> = waited.iter().flatten().map(ObjectBuffer::id).collect();
        // The pooled holds keep every found object alive until `waited` is
        // dropped below, so the primary get finds each of them.
        let mut again = get_now(&self.primary()?, &found)?.into_iter();
        let moved = waited
            .iter()
            .map(|entry| {
                entry
                    .as_ref()
                    .map(|pooled| again.next().flatten().unwrap_or_else(|| pooled.clone()))
            })
            .collect();
        drop(waited);
        // Frames of one connection are handled in order: once this reply is
        // back, the releases written before it have been handled.
        pooled.request(&Request::Contains { id: first }, Wait::Quick)?;
        Ok(moved)
    }

    fn checkout(&self) -> Result<Arc<Connection>, CallError> {
        if self.inner.ctx.is_dead() {
            return Err(CallError::Disconnected);
        }
        loop {
            let Some(conn) = lock(&self.inner.pool).pop() else {
                break;
            };
            if conn.is_usable() {
                return Ok(conn);
            }
        }
        self.open_extra()
    }

    fn checkin(&self, conn: Arc<Connection>) {
        if conn.is_usable() {
            let mut pool = lock(&self.inner.pool);
            if pool.len() < self.inner.options.max_idle_connections {
                pool.push(conn);
            }
        }
    }
}

/// Whether the store behind `conn` offers our `direct` capability (its
/// debug text, which every Plasma 11 store answers, says so).
fn offers_direct(conn: &Connection) -> Result<bool, CallError> {
    let answer = conn.request(&Request::DebugString, Wait::Quick)?;
    Ok(
        matches!(&answer.reply, plasma_protocol::Reply::DebugString { text }
        if plasma_protocol::extensions::announces(text, plasma_protocol::extensions::DIRECT)),
    )
}

/// What of `ids` is sealed now, without waiting: direct gets first (when
/// `conn` is attached), then one timeout-0 Get for whatever the directory
/// did not have.
fn get_now(
    conn: &Arc<Connection>,
    ids: &[ObjectId],
) -> Result<Vec<Option<ObjectBuffer>>, CallError> {
    let Some(direct) = conn.direct() else {
        return conn.get(ids, 0, Wait::Quick);
    };
    let mut found = take_all(direct, conn, ids);
    let missing = distinct(
        &ids.iter()
            .zip(&found)
            .filter(|(_, b)| b.is_none())
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
    );
    if missing.is_empty() {
        return Ok(found);
    }
    let got: HashMap<ObjectId, ObjectBuffer> = missing
        .iter()
        .copied()
        .zip(conn.get(&missing, 0, Wait::Quick)?)
        .filter_map(|(id, b)| Some((id, b?)))
        .collect();
    for (slot, id) in found.iter_mut().zip(ids) {
        if slot.is_none() {
            *slot = got.get(id).cloned();
        }
    }
    Ok(found)
}

/// `Ok` when a failed connect attempt (number `attempts`) may be retried:
/// the socket is missing or refuses connections (the store may still be
/// starting) and retries are left. Else the error to return. Shared by
/// both clients' connect loops.
pub(crate) fn give_up_unless_transient(
    path: &Path,
    attempts: u32,
    retries: u32,
    e: std::io::Error,
) -> Result<(), ConnectError> {
    use std::io::ErrorKind::*;
    let transient = matches!(
        e.kind(),
        NotFound | ConnectionRefused | WouldBlock | Interrupted
    );
    if !transient || attempts > retries {
        return Err(ConnectError::Unavailable {
            path: path.to_path_buf(),
            attempts,
            source: e,
        });
    }
    Ok(())
}

/// Connects, retrying while the store may still be starting.
fn connect_retrying(path: &Path, options: &ClientOptions) -> Result<UnixStream, ConnectError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match UnixStream::connect(path) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                give_up_unless_transient(path, attempts, options.connect_retries, e)?;
                std::thread::sleep(options.retry_delay);
            }
        }
    }
}

/// A get timeout in whole milliseconds, rounded up (so a short wait is
/// never turned into "don't wait") and capped below the wire's range.
fn timeout_ms(timeout: Duration) -> i64 {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn client_is_send_sync_and_clone() {
        assert_send_sync::<Client>();
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(Duration::from_micros(1)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(5)), 5);
        assert_eq!(timeout_ms(Duration::from_micros(5001)), 6);
        assert_eq!(timeout_ms(Duration::MAX), i64::MAX);
    }

    #[test]
    fn connecting_to_a_missing_socket_gives_up_after_the_retries() {
        let dir = tempfile::tempdir().unwrap();
        let options = ClientOptions {
            connect_retries: 2,
            retry_delay: Duration::from_millis(1),
            ..ClientOptions::default()
        };
        let err = Client::connect_with(dir.path().join("none.sock"), options).unwrap_err();
        assert!(matches!(err, ConnectError::Unavailable { attempts: 3, .. }));
    }
}
