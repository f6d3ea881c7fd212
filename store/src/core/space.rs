//! The byte budget, eviction and removal (protocol.md §10.2, §10.3,
//! §10.12, §10.15).

use plasma_protocol::ObjectId;

use super::allocator::{Extent, PendingFree};
use super::stats;
use super::table::{deletion_info, ListTag, State};
use super::{Audience, Effect, Outcome, Store};

impl Store {
    /// Finds room for an object of `size` bytes and allocates it; `None`
    /// means OutOfMemory.
    ///
    /// Budget (§10.2): fits iff `allocated + size ≤ capacity`. Otherwise
    /// evict from the LRU tail at least `max(need, capacity / 5)` (§10.3,
    /// §14.8); those evictions stick even when the create then fails. If the
    /// budget admits the object but no hole is big enough (fragmentation —
    /// the real store would map another segment), keep evicting LRU objects
    /// one by one until a hole fits.
    pub(super) fn reserve(&mut self, size: u64, evict: bool, out: &mut Outcome) -> Option<Extent> {
        let cap = self.config.capacity;
        let total = self.allocated.saturating_add(size);
        let mut synced = false;
        if total > cap {
            if !evict {
                return None;
            }
            let need = total - cap;
            let target = need.max(cap / 5);
            synced = true; // evict_global reads the hold tables first
            self.evict_global(target, out);
            // Not `evicted < need`: a quarantined extent stays in the budget
            // after its object is evicted (see quarantine.rs).
            if self.allocated.saturating_add(size) > cap {
                return None;
            }
        }
        loop {
            if let Some(extent) = self.allocator.alloc(size) {
                self.allocated += size;
                return Some(extent);
            }
            if !evict {
                return None;
            }
            if !std::mem::replace(&mut synced, true) {
                self.sync_holds(out);
            }
            let victim = self.global_lru.front()?;
            if self.may_free(victim) {
                self.count_global_eviction(victim);
                self.evict_freeable(victim, out);
            }
        }
    }

    /// Evicts from the global LRU's least recent end until the evicted
    /// data+metadata bytes reach `target` or the LRU is empty (§10.12:
    /// zero-size objects go along the way without counting). Returns the
    /// bytes evicted.
    ///
    /// Victims are taken in batches, each enough to reach the target:
    /// published ones are retired and the hold tables scanned once per
    /// batch; those a slot holds are pinned, not evicted, and the next
    /// batch makes up for them.
    pub(super) fn evict_global(&mut self, target: u64, out: &mut Outcome) -> u64 {
        self.sync_holds(out);
        let mut evicted = 0u64;
        let mut pending = PendingFree::default();
        let mut batch = Vec::new();
        while evicted < target {
            batch.clear();
            let mut bytes = 0u64;
            for slot in self.global_lru.slots(&self.table) {
                if evicted.saturating_add(bytes) >= target {
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
                self.evict_into(victim, &mut pending, out);
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
    /// aside silently (§10.15), otherwise it is deleted with a notification.
    /// False if a hold-table slot holds it: it is pinned instead.
    pub(super) fn evict_object(&mut self, slot: u32, out: &mut Outcome) -> bool {
        if !self.may_free(slot) {
            return false;
        }
        self.evict_freeable(slot, out);
        true
    }

    /// [`Store::evict_object`] of an object `take_unheld` let through.
    fn evict_freeable(&mut self, slot: u32, out: &mut Outcome) {
        let mut pending = PendingFree::default();
        self.evict_into(slot, &mut pending, out);
        self.allocator.flush(pending);
    }

    /// [`Store::evict_object`] with its extent freed by way of `pending`
    /// (see [`super::Allocator::free_merging`]). A deleted object's index
    /// bucket is left for the reuse of its slot to clear: an eviction costs
    /// no index probe, which in a large index is a cache miss each.
    fn evict_into(&mut self, slot: u32, pending: &mut PendingFree, out: &mut Outcome) {
        self.assert_unpublished(slot);
        stats::enter(&mut self.counters.evictions, self.table.get(slot).size());
        if self.config.external_store {
            self.move_out(slot);
            return;
        }
        self.unlink(slot);
        let e = self.table.get(slot);
        debug_assert!(
            e.state == State::Sealed && e.ref_count == 0,
            "evicting {e:?}"
        );
        let (id, extent, size) = (e.id, e.extent(), e.size());
        self.free_resident(extent, size, Some(pending));
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
        let Some(extent) = self.reserve(size, true, out) else {
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
    fn free_resident(
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

    /// Erases an object nobody holds: unlinks it, frees its memory or its
    /// external bytes, forgets it. No notification.
    pub(super) fn remove_object(&mut self, slot: u32) {
        self.assert_unpublished(slot);
        self.unlink(slot);
        let e = self.table.get(slot);
        debug_assert_eq!(e.ref_count, 0, "removing a held object");
        match e.state {
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
