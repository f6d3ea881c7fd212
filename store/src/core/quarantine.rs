//! Extents kept out of reuse while a process that may still read or write
//! them lives (the sharing contract's rule 3, docs/design.md).
//!
//! When the store ends a connection itself (a queue cap, a frame deadline,
//! a protocol violation) its peer process may still be reading a held
//! object or writing one it created: its mapping outlives the connection.
//! The objects are released as for any disconnect (refcounts, LRU, pending
//! deletes, unsealed ones erased), but the extents they occupied stay out
//! of the allocator until the loop reports that the process has exited.
//!
//! A quarantine is named by the loop (one per peer process, shared by all
//! of its dropped connections); the core only pins extents under it.

use std::collections::HashMap;

use super::allocator::{Extent, PendingFree};
use super::table::State;
use super::{ClientId, Outcome, Store};

/// A quarantine's name, chosen by the event loop (one per peer process).
pub type QuarantineId = u64;

/// One pinned extent.
#[derive(Debug)]
struct Pin {
    extent: Extent,
    /// Data + metadata bytes of the object that occupied it.
    size: u64,
    /// Quarantines pinning it.
    holders: u32,
    /// The object is gone; the extent waits for the last quarantine.
    parked: bool,
}

/// Every pinned extent, by offset, and the offsets each quarantine pins.
#[derive(Debug, Default)]
pub(super) struct Quarantines {
    pins: HashMap<u64, Pin>,
    by_id: HashMap<QuarantineId, Vec<u64>>,
    parked_bytes: u64,
}

impl Quarantines {
    fn pin(&mut self, q: QuarantineId, extent: Extent, size: u64) {
        let offsets = self.by_id.entry(q).or_default();
        if offsets.contains(&extent.offset) {
            return;
        }
        offsets.push(extent.offset);
        self.pins
            .entry(extent.offset)
            .or_insert(Pin {
                extent,
                size,
                holders: 0,
                parked: false,
            })
            .holders += 1;
    }

    /// Whether `extent` is pinned; if so it is parked (kept from the
    /// allocator) instead of freed.
    fn park(&mut self, extent: Extent) -> bool {
        match self.pins.get_mut(&extent.offset) {
            Some(pin) if pin.extent == extent && !pin.parked => {
                pin.parked = true;
                self.parked_bytes += pin.size;
                true
            }
            _ => false,
        }
    }
}

impl Store {
    /// Like [`Store::disconnect`], for a connection the store ended while
    /// the peer process still lives: the extents of the objects it held or
    /// was creating stay out of reuse until [`Store::end_quarantine`]`(q)`.
    pub fn disconnect_live(&mut self, client: ClientId, q: QuarantineId, out: &mut Outcome) {
        let mut touched: Vec<u32> = match self.clients.get(&client) {
            Some(c) => c.held.iter().chain(&c.creating).copied().collect(),
            None => Vec::new(),
        };
        // And what it holds through its hold table (our `direct`).
        touched.extend(self.slot_held_by(client));
        touched.sort_unstable();
        touched.dedup();
        for slot in touched {
            let e = self.table.get(slot);
            if matches!(e.state, State::Created | State::Sealed | State::Spilling) {
                if let Some(extent) = e.extent() {
                    let size = e.size();
                    self.quarantines.pin(q, extent, size);
                }
            }
        }
        // Nothing pinned (the client held nothing): no quarantine at all.
        if self.quarantines.by_id.get(&q).is_some_and(Vec::is_empty) {
            self.quarantines.by_id.remove(&q);
        }
        self.disconnect(client, out);
    }

    /// The process behind quarantine `q` has exited: its extents may be
    /// reused (those of objects still stored simply stop being pinned).
    pub fn end_quarantine(&mut self, q: QuarantineId) {
        let Some(offsets) = self.quarantines.by_id.remove(&q) else {
            return;
        };
        for offset in offsets {
            let Some(pin) = self.quarantines.pins.get_mut(&offset) else {
                continue;
            };
            pin.holders -= 1;
            if pin.holders > 0 {
                continue;
            }
            if let Some(pin) = self.quarantines.pins.remove(&offset) {
                if pin.parked {
                    self.quarantines.parked_bytes -= pin.size;
                    self.allocated -= pin.size;
                    self.allocator.free(pin.extent);
                }
            }
        }
    }

    /// Whether quarantine `q` still pins anything.
    pub fn is_quarantined(&self, q: QuarantineId) -> bool {
        self.quarantines.by_id.contains_key(&q)
    }

    /// Bytes of objects that are gone but whose extents wait for a
    /// quarantine to end (counted in [`Store::allocated`]).
    pub fn quarantined_bytes(&self) -> u64 {
        self.quarantines.parked_bytes
    }

    /// Frees the extent of an object that leaves memory, by way of
    /// `pending` if given; a quarantined extent is parked instead, its
    /// bytes staying in the budget until the quarantine ends.
    pub(super) fn free_object_extent(
        &mut self,
        extent: Extent,
        size: u64,
        pending: Option<&mut PendingFree>,
    ) {
        if !self.quarantines.pins.is_empty() && self.quarantines.park(extent) {
            return;
        }
        self.allocated -= size;
        match pending {
            Some(p) => self.allocator.free_merging(p, extent),
            None => self.allocator.free(extent),
        }
    }

    /// Pinned extents whose object is gone, for the invariant checks.
    #[cfg(any(test, feature = "invariants"))]
    pub(super) fn parked_extents(&self) -> impl Iterator<Item = Extent> + '_ {
        self.quarantines
            .pins
            .values()
            .filter(|p| p.parked)
            .map(|p| p.extent)
    }
}
