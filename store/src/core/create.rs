//! Create, seal, create-and-seal (single and batch), abort
//! (protocol.md §10.3–§10.6).

use plasma_protocol::{Digest, ErrorCode, ObjectId, ObjectInfo, ObjectSpec, Reply};

use super::space::Room;
use super::stats;
use super::table::{Entry, ListTag, State, NIL};
use super::{Audience, ClientId, Clock, Effect, Handled, Outcome, Store, Violation};

/// Sizes of an object to create.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sizes {
    pub data: u64,
    pub metadata: u64,
}

impl Sizes {
    /// Data plus metadata, `None` when the sum overflows (a size of -1 on
    /// the wire is `u64::MAX` here).
    fn total(self) -> Option<u64> {
        self.data.checked_add(self.metadata)
    }
}

/// Why no object was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NotCreated {
    /// The answer to give.
    Error(ErrorCode),
    /// Memory is being freed by spills under way: defer the request.
    Wait,
}

impl From<ErrorCode> for NotCreated {
    fn from(e: ErrorCode) -> Self {
        NotCreated::Error(e)
    }
}

impl Store {
    /// Create (§10.3): reply with the spec and, on first use of the segment
    /// by this client, its fd.
    pub(super) fn create(
        &mut self,
        client: ClientId,
        id: ObjectId,
        sizes: Sizes,
        evict: bool,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Handled {
        let effect = match self.create_object(client, id, sizes, evict, clock, out) {
            Ok(slot) => {
                let segment = self.config.segment_id;
                let fds = self.new_segments(client, &[segment]);
                Effect::Reply {
                    to: client,
                    reply: Reply::Create {
                        id,
                        object: self.table.get(slot).spec(segment),
                        error: ErrorCode::Ok,
                        store_fd: segment,
                        mmap_size: self.config.mmap_size,
                    },
                    fds,
                }
            }
            Err(NotCreated::Wait) => return Handled::Deferred,
            Err(NotCreated::Error(error)) => Effect::Reply {
                to: client,
                reply: Reply::Create {
                    id,
                    object: ObjectSpec::default(),
                    error,
                    store_fd: 0,
                    mmap_size: 0,
                },
                fds: Vec::new(),
            },
        };
        out.effects.push(effect);
        Handled::Done
    }

    /// Inserts a new unsealed object held by its creator. A failure (or a
    /// wait) leaves no entry (evictions and spills made on the way stick);
    /// an object larger than the capacity, which no eviction could ever
    /// make room for, is refused before anything is touched.
    pub(super) fn create_object(
        &mut self,
        client: ClientId,
        id: ObjectId,
        sizes: Sizes,
        evict: bool,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Result<u32, NotCreated> {
        let created = self.place_object(client, id, sizes, evict, clock, out);
        if created == Err(NotCreated::Error(ErrorCode::OutOfMemory)) {
            self.counters.creates_refused += 1;
        }
        created
    }

    fn place_object(
        &mut self,
        client: ClientId,
        id: ObjectId,
        sizes: Sizes,
        evict: bool,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Result<u32, NotCreated> {
        if self.table.find(&id).is_some() {
            return Err(ErrorCode::ObjectExists.into());
        }
        let size = sizes
            .total()
            .filter(|&size| self.can_ever_fit(size))
            .ok_or(ErrorCode::OutOfMemory)?;
        if !self.enforce_quota(client, size, out) {
            return Err(ErrorCode::OutOfMemory.into());
        }
        let extent = match self.reserve(size, evict, out) {
            Room::Got(extent) => extent,
            Room::Wait => return Err(NotCreated::Wait),
            Room::Full => return Err(ErrorCode::OutOfMemory.into()),
        };
        let entry = Entry {
            id,
            offset: extent.offset,
            data_size: sizes.data,
            metadata_size: sizes.metadata,
            owner: client,
            create_time: clock.unix_secs,
            digest: [0; 8],
            construct_duration: -1,
            ref_count: 0,
            prev: NIL,
            next: NIL,
            state: State::Created,
            list: ListTag::None,
            delete_pending: false,
            released_ns: 0,
        };
        let Some(slot) = self.table.insert(entry) else {
            self.allocator.free(extent);
            self.allocated -= size;
            return Err(ErrorCode::OutOfMemory.into());
        };
        stats::enter(&mut self.counters.created, size);
        self.track_owned(client, slot);
        self.hold(client, slot);
        self.clients
            .entry(client)
            .or_default()
            .creating
            .insert(slot);
        Ok(slot)
    }

    /// Seal (§10.4): notification, then the GetReplies this seal completes,
    /// then the SealReply. Unknown id or another client's object →
    /// ObjectNotFound, already sealed → ObjectExists, nothing changed.
    pub(super) fn seal(
        &mut self,
        client: ClientId,
        id: ObjectId,
        digest: Digest,
        clock: &Clock,
        out: &mut Outcome,
    ) {
        let error = match self.table.find(&id) {
            None => ErrorCode::ObjectNotFound,
            Some(slot) => {
                let e = self.table.get(slot);
                match e.state {
                    State::Created if e.owner == client => {
                        self.seal_slot(slot, digest, clock);
                        let info = self.table.get(slot).seal_info();
                        self.notify(vec![info], out);
                        self.wake_waiters(slot, out);
                        self.push_awaited(slot, out);
                        // The creator may have released it before sealing.
                        self.on_unreferenced(slot, out);
                        ErrorCode::Ok
                    }
                    State::Created | State::Vacant => ErrorCode::ObjectNotFound,
                    State::Sealed
                    | State::Evicted
                    | State::Spilling
                    | State::Spilled
                    | State::Restoring => ErrorCode::ObjectExists,
                }
            }
        };
        out.reply(client, Reply::Seal { id, error });
    }

    /// Marks `slot` sealed with `digest` and publishes it in the directory.
    pub(super) fn seal_slot(&mut self, slot: u32, digest: Digest, clock: &Clock) {
        let e = self.table.get_mut(slot);
        e.state = State::Sealed;
        e.digest = digest;
        stats::leave(&mut self.counters.created, e.size());
        if e.ref_count > 0 {
            stats::enter(&mut self.counters.held, e.size());
        }
        let secs = clock.unix_secs.saturating_sub(e.create_time);
        e.construct_duration = i32::try_from(secs.max(0)).unwrap_or(i32::MAX);
        let owner = e.owner;
        if let Some(c) = self.clients.get_mut(&owner) {
            c.creating.remove(&slot);
        }
        self.publish(slot);
    }

    /// CreateAndSeal (§10.5): create, copy data then metadata, seal, drop
    /// the creator's hold at once. Reply carries only the error; no fd.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_and_seal(
        &mut self,
        client: ClientId,
        id: ObjectId,
        data: &[u8],
        metadata: &[u8],
        digest: Digest,
        evict: bool,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Handled {
        let error =
            match self.create_object(client, id, sizes_of(data, metadata), evict, clock, out) {
                Ok(slot) => {
                    self.fill(slot, data, metadata);
                    self.seal_slot(slot, digest, clock);
                    let info = self.table.get(slot).seal_info();
                    self.notify(vec![info], out);
                    self.wake_waiters(slot, out);
                    let creator_awaits = self.push_awaited_but(slot, Some(client), out);
                    self.unhold(client, slot, out);
                    if creator_awaits {
                        self.push_ready(client, slot, out);
                    }
                    ErrorCode::Ok
                }
                Err(NotCreated::Wait) => return Handled::Deferred,
                Err(NotCreated::Error(e)) => e,
            };
        out.reply(client, Reply::CreateAndSeal { error });
        Handled::Done
    }

    /// Batch (§10.5): all or nothing; one notification message for all.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_and_seal_batch(
        &mut self,
        client: ClientId,
        ids: &[ObjectId],
        data: &[&[u8]],
        metadata: &[&[u8]],
        digests: &[Digest],
        evict: bool,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Handled {
        // The creator holds every object of the batch until all are sealed,
        // so together they must fit; if they never can, evict nothing.
        let total = data
            .iter()
            .zip(metadata)
            .try_fold(0u64, |sum, (d, m)| sum.checked_add(sizes_of(d, m).total()?));
        if !total.is_some_and(|t| self.can_ever_fit(t)) {
            out.reply(
                client,
                Reply::CreateAndSealBatch {
                    error: ErrorCode::OutOfMemory,
                },
            );
            return Handled::Done;
        }
        let mut slots = Vec::with_capacity(ids.len());
        for ((&id, d), m) in ids.iter().zip(data).zip(metadata) {
            match self.create_object(client, id, sizes_of(d, m), evict, clock, out) {
                Ok(slot) => slots.push(slot),
                Err(refusal) => {
                    for slot in slots {
                        self.erase_unsealed(slot, out);
                    }
                    let NotCreated::Error(error) = refusal else {
                        return Handled::Deferred;
                    };
                    out.reply(client, Reply::CreateAndSealBatch { error });
                    return Handled::Done;
                }
            }
        }
        let mut infos: Vec<ObjectInfo> = Vec::with_capacity(slots.len());
        for (((&slot, d), m), &digest) in slots.iter().zip(data).zip(metadata).zip(digests) {
            self.fill(slot, d, m);
            self.seal_slot(slot, digest, clock);
            infos.push(self.table.get(slot).seal_info());
        }
        self.notify(infos, out);
        let mut creator_awaits = Vec::new();
        for &slot in &slots {
            self.wake_waiters(slot, out);
            if self.push_awaited_but(slot, Some(client), out) {
                creator_awaits.push(slot);
            }
        }
        for &slot in &slots {
            self.unhold(client, slot, out);
        }
        for slot in creator_awaits {
            self.push_ready(client, slot, out);
        }
        out.reply(
            client,
            Reply::CreateAndSealBatch {
                error: ErrorCode::Ok,
            },
        );
        Handled::Done
    }

    /// Abort (§10.6): only the creator of an unsealed object; no
    /// notification; the reply echoes the id.
    pub(super) fn abort(
        &mut self,
        client: ClientId,
        id: ObjectId,
        out: &mut Outcome,
    ) -> Result<(), Violation> {
        let slot = self.table.find(&id).ok_or(Violation::AbortNotFound(id))?;
        let e = self.table.get(slot);
        if e.state != State::Created {
            return Err(Violation::AbortNotUnsealed(id));
        }
        if e.owner != client {
            return Err(Violation::AbortNotCreator(id));
        }
        self.erase_unsealed(slot, out);
        out.reply(client, Reply::Abort { id });
        Ok(())
    }

    /// Whether an object of `size` bytes fits an empty store: the budget is
    /// the capacity, and the arena's slack guarantees a hole that large
    /// once everything evictable is gone.
    fn can_ever_fit(&self, size: u64) -> bool {
        size <= self.config.capacity
    }

    /// Removes an unsealed object and its creator's hold, silently.
    pub(super) fn erase_unsealed(&mut self, slot: u32, out: &mut Outcome) {
        let owner = self.table.get(slot).owner;
        if let Some(c) = self.clients.get_mut(&owner) {
            if c.held.remove(&slot) {
                self.drop_ref(slot);
            }
        }
        self.remove_object(slot, out);
    }

    pub(super) fn fill(&mut self, slot: u32, data: &[u8], metadata: &[u8]) {
        let e = self.table.get(slot);
        let offset = e.offset;
        let meta_offset = e.offset.saturating_add(e.data_size);
        self.memory.write(offset, data);
        self.memory.write(meta_offset, metadata);
    }

    /// One notification message to the subscribers, if there are any.
    pub(super) fn notify(&mut self, infos: Vec<ObjectInfo>, out: &mut Outcome) {
        if self.subscribers > 0 && !infos.is_empty() {
            out.effects.push(Effect::Notify {
                to: Audience::Subscribers,
                infos,
            });
        }
    }

    /// The segments of `segments` whose fd `client` has not received yet,
    /// now marked as sent.
    pub(super) fn new_segments(&mut self, client: ClientId, segments: &[i32]) -> Vec<i32> {
        let c = self.clients.entry(client).or_default();
        segments
            .iter()
            .copied()
            .filter(|&s| c.mark_sent(s))
            .collect()
    }
}

pub(super) fn sizes_of(data: &[u8], metadata: &[u8]) -> Sizes {
    Sizes {
        data: data.len() as u64,
        metadata: metadata.len() as u64,
    }
}
