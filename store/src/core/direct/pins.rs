//! The store's side of the hold protocol (docs/design.md, "Taking a hold,
//! and the race with a free"): before freeing published objects it retires
//! them, fences, and scans every hold table once; objects a slot names are
//! pinned instead of freed, and handed back to the usual rules once no slot
//! names them any more.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{fence, Ordering};

use plasma_protocol::direct::unpack_hold;

use super::super::table::{ListTag, State};
use super::super::{Outcome, Store};

impl Store {
    /// Removes from `victims` (objects about to be freed) those a hold-table
    /// slot holds, and pins them. Published victims are retired first (so
    /// no new direct hold can be taken on them), then one fence, then one
    /// scan of every table for all of them.
    pub(in crate::core) fn take_unheld(&mut self, victims: &mut Vec<u32>) {
        if self.direct.geometry.is_none() || victims.is_empty() {
            return;
        }
        let mut keys: HashMap<u32, u32> = HashMap::new();
        if let Some(w) = self.direct.writer() {
            for &slot in victims.iter() {
                let gen = w.gen(slot);
                if gen & 1 == 1 {
                    w.retire(slot);
                    keys.insert(slot, gen as u32);
                } else if self.direct.is_pinned(slot) {
                    keys.insert(slot, gen.wrapping_sub(1) as u32);
                }
            }
        }
        if keys.is_empty() {
            return;
        }
        let held = self.scan_for(&keys);
        if !held.is_empty() {
            // Not for nothing: a large eviction has hundreds of thousands
            // of victims, and each lookup hashes.
            victims.retain(|s| !held.contains(s));
        }
        // A pinned victim no slot holds any more is freed by the caller:
        // it is no longer pinned.
        if !self.direct.pinned.is_empty() {
            for s in victims.iter() {
                self.direct.pinned.remove(s);
            }
        }
        for slot in held {
            self.unlink(slot);
            self.direct.pinned.insert(slot);
        }
    }

    /// Every free goes through `take_unheld` first, which retires published
    /// victims; freeing a published entry would let a direct hold pass its
    /// re-check on memory about to be reused.
    pub(in crate::core) fn assert_unpublished(&self, slot: u32) {
        debug_assert!(
            self.published_gen(slot).is_none(),
            "freeing slot {slot} while it is published"
        );
    }

    /// `take_unheld` for one object: true if it may be freed now.
    pub(in crate::core) fn may_free(&mut self, slot: u32) -> bool {
        let mut v = vec![slot];
        self.take_unheld(&mut v);
        !v.is_empty()
    }

    /// The slots of `keys` (slot → generation a hold names) that some hold
    /// table names. Fences first: the caller's retires must be visible
    /// before any slot is read (sharing contract, rule 7).
    fn scan_for(&self, keys: &HashMap<u32, u32>) -> HashSet<u32> {
        fence(Ordering::SeqCst);
        let mut held = HashSet::new();
        for table in self.direct.tables.values() {
            if let Some(view) = table.view() {
                view.scan(|v| {
                    if let Some((slot, gen32)) = unpack_hold(v) {
                        if keys.get(&slot) == Some(&gen32) {
                            held.insert(slot);
                        }
                    }
                });
            }
        }
        held
    }

    /// Checks the pinned objects again (those in `only`, or all): each no
    /// slot names any more is released as its last holder would have.
    pub(super) fn recheck(&mut self, only: Option<&HashSet<u32>>, out: &mut Outcome) {
        if self.direct.pinned.is_empty() {
            return;
        }
        let mut keys = HashMap::new();
        if let Some(w) = self.direct.writer() {
            for &slot in &self.direct.pinned {
                if only.is_none_or(|o| o.contains(&slot)) {
                    keys.insert(slot, w.gen(slot).wrapping_sub(1) as u32);
                }
            }
        }
        if keys.is_empty() {
            return;
        }
        let held = self.scan_for(&keys);
        let mut free: Vec<u32> = keys.into_keys().filter(|s| !held.contains(s)).collect();
        free.sort_unstable(); // a deterministic LRU order
        for slot in free {
            self.unpin(slot, out);
        }
    }

    /// The last slot holding the pinned `slot` is gone: a pending delete
    /// happens now, otherwise it is published again and, unless held
    /// through a socket, enters the global LRU at its most recent end.
    fn unpin(&mut self, slot: u32, out: &mut Outcome) {
        self.direct.pinned.remove(&slot);
        let e = self.table.get(slot);
        if e.state != State::Sealed {
            return;
        }
        if e.ref_count > 0 {
            self.publish(slot);
            return;
        }
        if e.delete_pending {
            let id = e.id;
            self.remove_object(slot, out);
            self.notify_deletion(id, out);
            return;
        }
        self.publish(slot);
        if self.table.get(slot).list == ListTag::None {
            self.lru_append(slot);
        }
    }
}
