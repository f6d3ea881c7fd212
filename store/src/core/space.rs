//! The byte budget, eviction and removal (protocol.md §10.2, §10.3,
//! §10.12, §10.15).

use plasma_protocol::ObjectId;

use super::allocator::{Extent, PendingFree};
use super::stats;
use super::table::{deletion_info, ListTag, State};
use super::{Audience, Effect, Outcome, Store};

/// What [`Store::reserve`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Room {
    /// Allocated and counted in the budget.
    Got(Extent),
    /// Not now, but the spills under way may free enough: ask again when
    /// one has ended.
    Wait,
    /// OutOfMemory.
    Full,
}

/// Most victims [`Store::evict_global`] takes at a time.
const EVICT_BATCH: usize = 1024;

/// How a victim leaves memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Eviction {
    /// As memory pressure wants it: spilled to disk when spilling is on,
    /// else dropped (or moved to the external store).
    Pressure,
    /// Dropped (or moved to the external store), as an Evict request asks.
    Drop,
}

impl Store {
    /// Finds room for an object of `size` bytes and allocates it.
    ///
    /// Budget (§10.2): fits iff `allocated + size ≤ capacity`. Otherwise
    /// evict from the LRU tail at least `max(need, capacity / 5)` (§10.3,
    /// §14.8), less what spills under way will free; those evictions stick
    /// even when the create then fails. If the budget admits the object but
    /// no hole is big enough (fragmentation — the real store would map
    /// another segment), keep evicting LRU objects one by one until a hole
    /// fits. Spilled victims free their memory only once written: then the
    /// answer is [`Room::Wait`].
    pub(super) fn reserve(&mut self, size: u64, evict: bool, out: &mut Outcome) -> Room {
        let cap = self.config.capacity;
        let mut synced = false;
        if self.allocated.saturating_add(size) > cap {
            if !evict {
                return Room::Full;
            }
            let need = self.allocated.saturating_add(size) - cap;
            let freeing = self.spill.freeing;
            if need > freeing {
                let target = (need - freeing).max(cap / 5);
                synced = true; // evict_global reads the hold tables first
                self.evict_global(target, Eviction::Pressure, out);
            }
            // Not `evicted < need`: a quarantined extent stays in the budget
            // after its object is evicted (see quarantine.rs).
            if self.allocated.saturating_add(size) > cap {
                let after = self.allocated.saturating_sub(self.spill.freeing);
                return if self.spill.writing() && after.saturating_add(size) <= cap {
                    Room::Wait
                } else {
                    Room::Full
                };
            }
        }
        let mut spilled = 0u64;
        loop {
            if let Some(extent) = self.allocator.alloc(size) {
                self.allocated += size;
                return Room::Got(extent);
            }
            if !evict {
                return Room::Full;
            }
            if !std::mem::replace(&mut synced, true) {
                self.sync_holds(out);
            }
            let Some(victim) = self.global_lru.front() else {
                return if self.spill.writing() {
                    Room::Wait
                } else {
                    Room::Full
                };
            };
            // A victim a hold-table slot holds is pinned (and so leaves the
            // LRU) instead of evicted.
            if !self.may_free(victim) {
                continue;
            }
            let len = self.table.get(victim).extent().map_or(0, |x| x.len);
            self.count_global_eviction(victim);
            if self.evict_freeable(victim, Eviction::Pressure, out) {
                // Its extent comes free when the write has ended; enough
                // of them may make the hole.
                spilled = spilled.saturating_add(len);
                if spilled >= super::allocator::block_len(size).unwrap_or(u64::MAX) {
                    return Room::Wait;
                }
            }
        }
    }

    /// Evicts from the global LRU's least recent end until the evicted
    /// data+metadata bytes reach `target` or the LRU is empty (§10.12:
    /// zero-size objects go along the way without counting). Returns the
    /// bytes evicted.
    ///
    /// Victims are taken in batches of at most [`EVICT_BATCH`], in LRU
    /// order: published ones are retired and the hold tables scanned once
    /// per batch; those a slot holds are pinned, not evicted, and the next
    /// batch makes up for them. (One batch for a whole large eviction would
    /// walk hundreds of thousands of entries twice, the second time with
    /// the first walk's cache lines gone: W8 took twice as long.)
    pub(super) fn evict_global(&mut self, target: u64, how: Eviction, out: &mut Outcome) -> u64 {
        self.sync_holds(out);
        let mut evicted = 0u64;
        let mut pending = PendingFree::default();
        let mut batch = Vec::new();
        while evicted < target {
            batch.clear();
            let mut bytes = 0u64;
            for slot in self.global_lru.slots(&self.table) {
                if evicted.saturating_add(bytes) >= target || batch.len() == EVICT_BATCH {
                    break;
                }
                batch.push(slot);
                bytes = bytes.saturating_add(self.table.get(slot).size());
            }
            if batch.is_empty() {
                break;
            }
            self.take_unheld(&mut batch);
            for &victim in &batch {
                evicted = evicted.saturating_add(self.count_global_eviction(victim));
                self.evict_into(victim, how, &mut pending, out);
            }
        }
        self.allocator.flush(pending);
        evicted
    }

    fn count_global_eviction(&mut self, slot: u32) -> u64 {
        let size = self.table.get(slot).size();
        self.global_evictions += 1;
        self.global_bytes_evicted = self.global_bytes_evicted.saturating_add(size);
        size
    }

    /// Evicts one sealed, unheld object: with an external store it moves
    /// aside silently (§10.15), under pressure with spilling on it is
    /// spilled, otherwise it is deleted with a notification. False if a
    /// hold-table slot holds it: it is pinned instead.
    pub(super) fn evict_object(&mut self, slot: u32, how: Eviction, out: &mut Outcome) -> bool {
        if !self.may_free(slot) {
            return false;
        }
        self.evict_freeable(slot, how, out);
        true
    }

    /// [`Store::evict_object`] of an object `take_unheld` let through. True
    /// if it is being spilled (its memory is freed later).
    fn evict_freeable(&mut self, slot: u32, how: Eviction, out: &mut Outcome) -> bool {
        let mut pending = PendingFree::default();
        let spilling = self.evict_into(slot, how, &mut pending, out);
        self.allocator.flush(pending);
        spilling
    }

    /// [`Store::evict_object`] with its extent freed by way of `pending`
    /// (see [`super::Allocator::free_merging`]). A deleted object's index
    /// bucket is left for the reuse of its slot to clear: an eviction costs
    /// no index probe, which in a large index is a cache miss each.
    fn evict_into(
        &mut self,
        slot: u32,
        how: Eviction,
        pending: &mut PendingFree,
        out: &mut Outcome,
    ) -> bool {
        self.assert_unpublished(slot);
        stats::enter(&mut self.counters.evictions, self.table.get(slot).size());
        if self.config.external_store {
            self.move_out(slot);
            return false;
        }
        self.unlink(slot);
        if how == Eviction::Pressure && self.spills() && self.start_spill(slot, out) {
            return true;
        }
        self.drop_evicted(slot, Some(pending), out);
        false
    }

    /// Deletes an evicted object (unlinked, sealed, unheld), with its
    /// notification.
    pub(super) fn drop_evicted(
        &mut self,
        slot: u32,
        pending: Option<&mut PendingFree>,
        out: &mut Outcome,
    ) {
        let e = self.table.get(slot);
        debug_assert!(e.state.is_readable() && e.ref_count == 0, "evicting {e:?}");
        let (id, extent, size) = (e.id, e.extent(), e.size());
        self.free_resident(extent, size, pending);
        self.table.remove_deferred(slot);
        self.notify_deletion(id, out);
    }

    /// Copies an object's bytes to the external store and frees its memory;
    /// the entry stays, state Evicted.
    fn move_out(&mut self, slot: u32) {
        self.unlink(slot);
        let e = self.table.get(slot);
        let size = e.size();
        let extent = e.extent();
        let bytes = self.memory.read(e.offset, size).into_boxed_slice();
        self.free_resident(extent, size, None);
        self.external.insert(slot, bytes);
        stats::enter(&mut self.counters.external, size);
        self.table.get_mut(slot).state = State::Evicted;
    }

    /// Brings an evicted object back (§10.7): allocate (may evict others),
    /// copy data and metadata back, sealed with a digest of 8 zero bytes.
    /// False if there is no room.
    pub(super) fn restore(&mut self, slot: u32, unix_secs: i64, out: &mut Outcome) -> bool {
        let size = self.table.get(slot).size();
        // No spilling beside the external store: never `Wait`.
        let Room::Got(extent) = self.reserve(size, true, out) else {
            return false;
        };
        if let Some(bytes) = self.external.remove(&slot) {
            self.memory.write(extent.offset, &bytes);
        }
        stats::leave(&mut self.counters.external, size);
        let e = self.table.get_mut(slot);
        e.offset = extent.offset;
        e.state = State::Sealed;
        e.digest = [0; 8];
        e.create_time = unix_secs;
        e.construct_duration = 0;
        self.publish(slot);
        true
    }

    /// Gives back the memory of an object leaving the arena (see
    /// [`Store::free_object_extent`]).
    pub(super) fn free_resident(
        &mut self,
        extent: Option<Extent>,
        size: u64,
        pending: Option<&mut PendingFree>,
    ) {
        match extent {
            Some(extent) => self.free_object_extent(extent, size, pending),
            None => self.allocated -= size,
        }
    }

    /// Takes `slot` out of whichever list it is in.
    pub(super) fn unlink(&mut self, slot: u32) {
        match self.table.get(slot).list {
            ListTag::None => {}
            ListTag::Global => self.global_lru.remove(&mut self.table, slot),
            ListTag::Quota => {
                let owner = self.table.get(slot).owner;
                let quota = self.clients.get_mut(&owner).and_then(|c| c.quota.as_mut());
                match quota {
                    Some(q) => q.list.remove(&mut self.table, slot),
                    // Unreachable by construction (a quota list is emptied
                    // before its client goes); keep the tag consistent.
                    None => self.table.get_mut(slot).list = ListTag::None,
                }
            }
        }
    }

    /// Erases an object nobody holds: unlinks it, frees its memory, its
    /// external bytes or its spill file, forgets it. No notification (the
    /// effects are those of its spill file).
    pub(super) fn remove_object(&mut self, slot: u32, out: &mut Outcome) {
        self.assert_unpublished(slot);
        self.unlink(slot);
        let e = self.table.get(slot);
        debug_assert_eq!(e.ref_count, 0, "removing a held object");
        match e.state {
            State::Spilling | State::Spilled | State::Restoring => {
                let id = e.id;
                let waited = self.forget_spilled(slot, out);
                self.table.remove(slot);
                if waited {
                    self.settle_waiters(id, None, out);
                }
                return;
            }
            State::Created | State::Sealed => {
                let (state, owner, extent, size) = (e.state, e.owner, e.extent(), e.size());
                self.free_resident(extent, size, None);
                if state == State::Created {
                    stats::leave(&mut self.counters.created, size);
                    if let Some(c) = self.clients.get_mut(&owner) {
                        c.creating.remove(&slot);
                    }
                }
            }
            State::Evicted => {
                stats::leave(&mut self.counters.external, e.size());
                self.external.remove(&slot);
            }
            State::Vacant => return,
        }
        self.table.remove(slot);
    }

    /// One deletion notification for `id` (§9), joined to the deletions
    /// just before it, if any, as one [`Effect::NotifyEach`].
    pub(super) fn notify_deletion(&mut self, id: ObjectId, out: &mut Outcome) {
        if self.subscribers == 0 {
            return;
        }
        match out.effects.last_mut() {
            Some(Effect::NotifyEach {
                to: Audience::Subscribers,
                infos,
            }) => infos.push(deletion_info(id)),
            _ => out.effects.push(Effect::NotifyEach {
                to: Audience::Subscribers,
                infos: vec![deletion_info(id)],
            }),
        }
    }
}
