//! The sans-io core of the store: objects, not frames or sockets.
//!
//! [`Store::handle`] takes one decoded request from one client and appends
//! the [`Effect`]s to perform, in order, to an [`Outcome`]: replies (each
//! followed by the fds of segments new to that client) and notification
//! messages. The event loop only translates. Semantics follow
//! protocol.md §10; sections are cited where the behaviour is surprising.
//!
//! ```
//! use plasma_protocol::{ObjectId, Reply, Request};
//! use plasma_store::core::{Clock, Effect, Handled, Outcome, Store, StoreConfig, VecMemory};
//!
//! let config = StoreConfig { capacity: 4096, arena_len: 8192, segment_id: 1,
//!     mmap_size: 8200, external_store: false, spill_limit: None };
//! let mut store = Store::new(config, Box::new(VecMemory::new(8192)));
//! store.connect(7);
//! let mut out = Outcome::default();
//! let id = ObjectId::from_bytes([1; 20]);
//! let create = Request::Create { id, evict_if_full: true, data_size: 10,
//!     metadata_size: 0, device_num: 0 };
//! let handled = store.handle(7, create, &Clock::system(), &mut out).unwrap();
//! assert_eq!(handled, Handled::Done);
//! let Effect::Reply { reply: Reply::Create { error, .. }, fds, .. } = &out.effects[0] else {
//!     panic!("expected a create reply");
//! };
//! assert_eq!(*error, plasma_protocol::ErrorCode::Ok);
//! assert_eq!(fds, &vec![1]); // first use of segment 1 on this connection
//! ```

mod admin;
mod allocator;
mod awaits;
mod client;
mod clock;
mod create;
mod debug;
mod delete;
mod direct;
mod get;
mod index;
mod long_reply;
mod lru;
mod memory;
mod quarantine;
mod quota;
mod space;
mod spill;
mod stats;
mod table;

#[cfg(any(test, feature = "invariants"))]
mod invariants;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod testkit;

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use plasma_protocol::{ObjectId, ObjectInfo, Reply, Request};

pub use allocator::{Allocator, Extent, ALIGN};
pub use awaits::MAX_AWAITED_PER_CLIENT;
pub use clock::Clock;
pub use direct::{HeapWords, SharedWords, DIRECTORY_SEGMENT, HOLDS_SEGMENT};
pub use long_reply::{LongReply, LongRequest};
pub use memory::{ArenaMemory, VecMemory};
pub use quarantine::QuarantineId;
pub use spill::{DiskOp, Notice, RestoreError, SpillError, SpillFile, SpillStats};

#[cfg(any(test, feature = "invariants"))]
#[doc(hidden)]
pub use invariants::EffectChecker;

use awaits::Awaits;
use client::ClientState;
use direct::Direct;
use lru::LruList;
use quarantine::Quarantines;
use spill::SpillBook;
use stats::Counters;
use table::{ListTag, ObjectTable};

/// A connection, as numbered by the event loop.
pub type ClientId = u64;

/// How the store was started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The `-m` value: the byte budget (§10.2) and what Connect reports.
    pub capacity: u64,
    /// Length of the region the allocator manages, at least `capacity`
    /// (allocation slack, §14.7).
    pub arena_len: u64,
    /// The segment's id, sent as `segment_index` / `store_fd`.
    pub segment_id: i32,
    /// What clients are told to map: file length + 8 (§7).
    pub mmap_size: i64,
    /// `-e hashtable://…`: evictions move objects aside instead of
    /// deleting them (§10.15).
    pub external_store: bool,
    /// `--spill-dir`: objects leaving memory under pressure are written to
    /// disk instead of dropped, up to this many bytes of files
    /// (`--spill-max`); `None`: spilling is off. Ignored with the external
    /// store.
    pub spill_limit: Option<u64>,
}

/// Who a notification message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every client that has subscribed.
    Subscribers,
    /// One client (the backlog sent on subscribe).
    Client(ClientId),
}

/// One thing the event loop must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send `reply` to `to`, then one fd message per entry of `fds`
    /// (segment ids new to that client).
    Reply {
        /// The receiving client.
        to: ClientId,
        /// The reply frame.
        reply: Reply,
        /// Segments whose fd must follow the reply, in order.
        fds: Vec<i32>,
    },
    /// One notification message (one send) containing exactly these infos.
    Notify {
        /// The receivers.
        to: Audience,
        /// The entries of the message.
        infos: Vec<ObjectInfo>,
    },
    /// One notification message per entry of `infos`, in order: the same
    /// as one `Notify` each, kept as one effect so that the deletions of a
    /// 200,000-object eviction (or a subscribe backlog) cost one vector,
    /// and the loop sends them a slice per turn.
    NotifyEach {
        /// The receivers.
        to: Audience,
        /// One message each.
        infos: Vec<ObjectInfo>,
    },
    /// Disk work for spilling, performed off the loop (see [`DiskOp`]).
    Disk(DiskOp),
    /// `client`'s deferred request ([`Handled::Deferred`]) may be handed
    /// in again: memory was freed.
    Resume {
        /// The client whose head frame waits.
        client: ClientId,
    },
    /// A line for the log.
    Notice(Notice),
    /// A reply too long for one turn: start it with [`Store::start_long`]
    /// and advance it with [`Store::advance_long`] between other clients'
    /// turns; `to`'s later requests wait for it.
    Long {
        /// The receiving client.
        to: ClientId,
        /// Which reply.
        request: LongRequest,
    },
}

/// What became of a request handed to [`Store::handle`].
#[must_use = "a deferred request must be handed in again"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Done: its effects are in the outcome.
    Done,
    /// A create that waits for memory that spills under way will free: none
    /// of it was applied (spills it started stay). Keep the request (its
    /// frame, and the client's later ones behind it) and hand it in again
    /// after an [`Effect::Resume`] for this client.
    Deferred,
}

/// The effects of one call, in the order to perform them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Effects in order.
    pub effects: Vec<Effect>,
}

impl Outcome {
    fn reply(&mut self, to: ClientId, reply: Reply) {
        self.effects.push(Effect::Reply {
            to,
            reply,
            fds: Vec::new(),
        });
    }
}

/// A request no well-behaved client sends and that has no error reply.
/// The event loop drops the offending connection (the real store aborts,
/// §14.16).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// Release of an object the client does not hold (§10.8).
    #[error("release of object {0} that this client does not hold")]
    ReleaseNotHeld(ObjectId),
    /// Abort of an object that is not in the table (§10.6).
    #[error("abort of unknown object {0}")]
    AbortNotFound(ObjectId),
    /// Abort of an object another client created (§10.6).
    #[error("abort of object {0} by a client that did not create it")]
    AbortNotCreator(ObjectId),
    /// Abort of an object that is already sealed (§10.6).
    #[error("abort of object {0}, which is not unsealed")]
    AbortNotUnsealed(ObjectId),
    /// A device other than host memory (§5.3).
    #[error("device {0} requested; only host memory (device 0) is served")]
    UnsupportedDevice(i32),
    /// A Get while this client's previous Get is unanswered (the loop holds
    /// such frames back, so only a loop bug gets here).
    #[error("get request while another get of this client is pending")]
    GetWhilePending,
    /// A batch whose vectors have different lengths.
    #[error("create-and-seal batch vectors have different lengths")]
    BatchLengthMismatch,
    /// `Request::Disconnect` must go to [`Store::disconnect`].
    #[error("disconnect request passed to handle")]
    DisconnectRequest,
    /// A request kind this store does not serve.
    #[error("unsupported request {0:?}")]
    Unsupported(plasma_protocol::MessageType),
    /// More Await registrations than one client may hold.
    #[error("more than {0} objects awaited by one client")]
    TooManyAwaited(usize),
    /// A second AttachRequest on one connection.
    #[error("second attach request on one connection")]
    SecondAttach,
    /// A PutRequest naming a slot its sender's hold table does not have
    /// (or a slot at all, without a hold table).
    #[error("put request names hold slot {0}, which the sender's hold table does not have")]
    BadPutSlot(u32),
}

/// The object store: table, allocator, LRU, clients, pending gets.
pub struct Store {
    config: StoreConfig,
    memory: Box<dyn ArenaMemory>,
    allocator: Allocator,
    table: ObjectTable,
    /// Σ data+metadata of resident objects (§10.2).
    allocated: u64,
    /// Sealed, unheld, non-quota objects by last release (§14.9).
    global_lru: LruList,
    /// Capacity left to the global LRU after granted quotas (§10.13).
    global_lru_capacity: i64,
    global_evictions: u64,
    global_bytes_evicted: u64,
    clients: HashMap<ClientId, ClientState>,
    subscribers: usize,
    /// Clients whose pending get waits for an id.
    waiters: HashMap<ObjectId, Vec<ClientId>>,
    deadlines: BTreeSet<(Instant, ClientId)>,
    /// Bytes of evicted objects by slot (§10.15).
    external: HashMap<u32, Box<[u8]>>,
    /// Await registrations (our addition).
    awaits: Awaits,
    /// The directory and hold tables (our `direct` addition).
    direct: Direct,
    /// `Clock::mono_ns` of the request being handled (the time objects
    /// take their place in the global LRU).
    now_ns: u64,
    /// Extents kept from reuse while a dropped client's process lives.
    quarantines: Quarantines,
    /// Spill files, writes and reads under way, deferred creates.
    spill: SpillBook,
    /// What the Stats request reports beyond the fields above.
    counters: Counters,
}

impl Store {
    /// A store over `memory`; the allocator manages
    /// `min(config.arena_len, memory.len())` bytes.
    pub fn new(config: StoreConfig, memory: Box<dyn ArenaMemory>) -> Self {
        let region = config.arena_len.min(memory.len());
        Self {
            allocator: Allocator::new(region),
            global_lru_capacity: i64::try_from(config.capacity).unwrap_or(i64::MAX),
            memory,
            table: ObjectTable::default(),
            allocated: 0,
            global_lru: LruList::new(ListTag::Global),
            global_evictions: 0,
            global_bytes_evicted: 0,
            clients: HashMap::new(),
            subscribers: 0,
            waiters: HashMap::new(),
            deadlines: BTreeSet::new(),
            external: HashMap::new(),
            awaits: Awaits::default(),
            direct: Direct::default(),
            now_ns: 0,
            quarantines: Quarantines::default(),
            spill: SpillBook::new(config.spill_limit.filter(|_| !config.external_store)),
            counters: Counters::default(),
            config,
        }
    }

    /// Registers a new connection.
    pub fn connect(&mut self, client: ClientId) {
        self.clients.entry(client).or_default();
    }

    /// Applies one request. `Err` means the client misbehaved: the loop
    /// should perform the effects gathered so far and drop the connection
    /// (then call [`Store::disconnect`]). `Ok(Handled::Deferred)` (a create
    /// waiting for spills to free memory) means: hand the same request in
    /// again after an [`Effect::Resume`] for this client, and nothing else
    /// of this client's before then.
    pub fn handle(
        &mut self,
        client: ClientId,
        req: Request<'_>,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Result<Handled, Violation> {
        self.connect(client);
        self.now_ns = self.now_ns.max(clock.mono_ns);
        let kind = req.message_type().dense_index();
        self.counters.requests[kind] += 1;
        let handled = match req {
            Request::Create {
                id,
                evict_if_full,
                data_size,
                metadata_size,
                device_num,
            } => {
                if device_num != 0 {
                    return Err(Violation::UnsupportedDevice(device_num));
                }
                let sizes = create::Sizes {
                    data: data_size,
                    metadata: metadata_size,
                };
                self.create(client, id, sizes, evict_if_full, clock, out)
            }
            Request::CreateAndSeal {
                id,
                evict_if_full,
                data,
                metadata,
                digest,
            } => self.create_and_seal(
                client,
                id,
                data,
                metadata,
                digest,
                evict_if_full,
                clock,
                out,
            ),
            Request::CreateAndSealBatch {
                ids,
                evict_if_full,
                data,
                metadata,
                digests,
            } => {
                let n = ids.len();
                if data.len() != n || metadata.len() != n || digests.len() != n {
                    return Err(Violation::BatchLengthMismatch);
                }
                self.create_and_seal_batch(
                    client,
                    &ids,
                    &data,
                    &metadata,
                    &digests,
                    evict_if_full,
                    clock,
                    out,
                )
            }
            Request::Put {
                id,
                evict_if_full,
                data,
                metadata,
                digest,
                slot,
            } => {
                let object = direct::PutObject {
                    id,
                    data,
                    metadata,
                    digest,
                    evict: evict_if_full,
                };
                self.put(client, object, slot, clock, out)?
            }
            other => {
                self.handle_other(client, other, clock, out)?;
                Handled::Done
            }
        };
        if handled == Handled::Deferred {
            // Counted once: when it is handed in for the last time.
            self.counters.requests[kind] -= 1;
            if !self.spill.deferred.contains(&client) {
                self.spill.deferred.push(client);
            }
        }
        Ok(handled)
    }

    /// Every request but the creates and puts (which may be deferred).
    fn handle_other(
        &mut self,
        client: ClientId,
        req: Request<'_>,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Result<(), Violation> {
        match req {
            Request::Disconnect => return Err(Violation::DisconnectRequest),
            Request::Connect => {
                let memory_capacity = i64::try_from(self.config.capacity).unwrap_or(i64::MAX);
                out.reply(client, Reply::Connect { memory_capacity });
            }
            Request::Abort { id } => self.abort(client, id, out)?,
            Request::Seal { id, digest } => self.seal(client, id, digest, clock, out),
            Request::Get { ids, timeout_ms } => self.get(client, ids, timeout_ms, clock, out)?,
            Request::Release { id } => self.release(client, id, out)?,
            Request::Delete { ids } => self.delete(client, ids, out),
            Request::Contains { id } => self.contains(client, id, out),
            Request::List => {
                // Holds taken in shared memory count too (long_reply.rs):
                // read every release log and re-check pinned objects first.
                self.sync_holds(out);
                out.effects.push(Effect::Long {
                    to: client,
                    request: LongRequest::List,
                });
            }
            Request::Evict { num_bytes } => self.evict_request(client, num_bytes, out),
            Request::Subscribe => self.subscribe(client, out),
            Request::SetOptions {
                client_name,
                output_memory_quota,
            } => self.set_options(client, client_name, output_memory_quota, out),
            Request::DebugString => out.effects.push(Effect::Long {
                to: client,
                request: LongRequest::DebugString,
            }),
            Request::RefreshLru { ids } => self.refresh_lru(client, &ids, out),
            Request::Await { ids } => self.await_objects(client, ids, clock, out)?,
            Request::Unawait { ids } => self.unawait(client, ids, out),
            Request::Attach => self.attach(client, out)?,
            Request::HoldsChanged => self.holds_changed(client, out),
            Request::Stats => {
                let stats = Box::new(self.stats());
                out.reply(client, Reply::Stats(stats));
            }
            other => return Err(Violation::Unsupported(other.message_type())),
        }
        Ok(())
    }

    /// Cleans up after a connection (§10.14): drops its pending get (no
    /// reply), erases its unsealed objects (no notification), releases its
    /// holds (which may complete pending deletes, emitting notifications to
    /// the remaining subscribers), returns its quota.
    pub fn disconnect(&mut self, client: ClientId, out: &mut Outcome) {
        self.drop_awaits(client);
        self.spill.deferred.retain(|&c| c != client);
        self.disconnect_client(client, out);
        self.detach(client, out);
    }

    /// Whether `client`'s last request was deferred and not resumed yet.
    pub fn is_deferred(&self, client: ClientId) -> bool {
        self.spill.deferred.contains(&client)
    }

    /// What spilling has done and holds now (all zero when it is off).
    pub fn spill_stats(&self) -> SpillStats {
        self.spill.stats
    }

    /// Whether objects leaving memory under pressure go to disk.
    pub fn spills(&self) -> bool {
        self.spill.limit.is_some()
    }

    /// Number of ids `client` awaits (our Await addition).
    pub fn awaited_by(&self, client: ClientId) -> usize {
        self.awaits.count(client)
    }

    /// Whether `client` has a Get waiting for objects (or a Contains
    /// waiting for a restore): its later requests that expect a reply wait.
    pub fn has_pending_get(&self, client: ClientId) -> bool {
        self.clients
            .get(&client)
            .is_some_and(|c| c.pending_get.is_some())
    }

    /// The earliest deadline of a pending Get.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(t, _)| t)
    }

    /// Answers every pending Get whose deadline is at or before `clock.now`
    /// (when the restores it waits for have ended).
    pub fn expire(&mut self, clock: &Clock, out: &mut Outcome) {
        self.now_ns = self.now_ns.max(clock.mono_ns);
        while let Some(&(t, c)) = self.deadlines.first() {
            if t > clock.now {
                break;
            }
            self.get_timed_out(c, out);
        }
    }

    /// The `-m` byte budget.
    pub fn capacity(&self) -> u64 {
        self.config.capacity
    }

    /// Σ data+metadata of objects occupying memory (§10.2).
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Number of objects in the table (any state).
    pub fn object_count(&self) -> usize {
        self.table.len()
    }

    /// Bytes of the store's own heap used by the object table (entries and
    /// id index), for memory-per-object measurements.
    pub fn table_heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// The store's memory (tests play the loop's disk work with it).
    #[cfg(test)]
    pub(crate) fn memory_mut(&mut self) -> &mut dyn ArenaMemory {
        self.memory.as_mut()
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }
}
