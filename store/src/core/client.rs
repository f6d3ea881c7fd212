//! Per-connection state, holds and releases, and disconnect cleanup
//! (protocol.md §10.8, §10.14).

use std::collections::HashSet;

use super::get::PendingGet;
use super::quota::Quota;
use super::stats;
use super::table::{ListTag, State};
use super::{ClientId, Outcome, Store};

/// What the store remembers about one connection.
#[derive(Debug, Default)]
pub struct ClientState {
    /// Slots of the objects this client holds (the source of truth for
    /// every entry's `ref_count`).
    pub held: HashSet<u32>,
    /// Slots of unsealed objects this client created; erased when it
    /// disconnects, whether or not it still holds them.
    pub creating: HashSet<u32>,
    /// Segment ids whose fd this connection has received (§6).
    pub sent_segments: Vec<i32>,
    /// Whether notifications go to this client.
    pub subscribed: bool,
    /// The unanswered Get, if any.
    pub pending_get: Option<PendingGet>,
    /// Name set by SetOptions.
    pub name: String,
    /// Private LRU granted by SetOptions.
    pub quota: Option<Quota>,
}

impl ClientState {
    /// Records that `segment`'s fd goes to this client; true if it is new.
    pub fn mark_sent(&mut self, segment: i32) -> bool {
        if self.sent_segments.contains(&segment) {
            false
        } else {
            self.sent_segments.push(segment);
            true
        }
    }
}

impl Store {
    /// Makes `client` a holder of `slot` (once per client, §10.1). A held
    /// object leaves the global LRU.
    pub(super) fn hold(&mut self, client: ClientId, slot: u32) {
        let c = self.clients.entry(client).or_default();
        if !c.held.insert(slot) {
            return;
        }
        let e = self.table.get_mut(slot);
        e.ref_count += 1;
        if e.ref_count == 1 && e.state.is_readable() {
            stats::enter(&mut self.counters.held, e.size());
        }
        if e.list == ListTag::Global {
            self.global_lru.remove(&mut self.table, slot);
        }
    }

    /// Drops `client`'s hold on `slot`; false if it had none.
    pub(super) fn unhold(&mut self, client: ClientId, slot: u32, out: &mut Outcome) -> bool {
        let removed = self
            .clients
            .get_mut(&client)
            .is_some_and(|c| c.held.remove(&slot));
        if removed && self.drop_ref(slot) == 0 {
            self.on_unreferenced(slot, out);
        }
        removed
    }

    /// One holder fewer for `slot` (its holder's set already updated);
    /// returns the holders left.
    pub(super) fn drop_ref(&mut self, slot: u32) -> u32 {
        let e = self.table.get_mut(slot);
        e.ref_count = e.ref_count.saturating_sub(1);
        if e.ref_count == 0 && e.state.is_readable() {
            stats::leave(&mut self.counters.held, e.size());
        }
        e.ref_count
    }

    /// The last hold on `slot` is gone (§10.8): a pending delete happens
    /// now, a quota-owned object stays in its owner's list, anything else
    /// sealed enters the global LRU at the most recent end (a spilling one
    /// waits for its write to end). Unsealed objects
    /// whose creator released them stay put until sealed or until the
    /// creator disconnects (the pyarrow client releases unsealed buffers it
    /// drops, and a later create of the same id must still see
    /// ObjectExists).
    pub(super) fn on_unreferenced(&mut self, slot: u32, out: &mut Outcome) {
        let e = self.table.get(slot);
        if e.ref_count != 0 || self.direct.is_pinned(slot) {
            // A pinned object waits for its last slot instead.
            return;
        }
        if e.state == State::Spilling && e.delete_pending {
            // Taken from memory during its spill, deleted meanwhile (not
            // published: its entry was retired when the spill began).
            let id = e.id;
            self.counters.deletions += 1;
            self.remove_object(slot, out);
            self.notify_deletion(id, out);
            return;
        }
        if e.state != State::Sealed {
            return;
        }
        if e.delete_pending {
            let id = e.id;
            if self.may_free(slot) {
                self.counters.deletions += 1;
                self.remove_object(slot, out);
                self.notify_deletion(id, out);
            }
        } else if e.list == ListTag::None {
            self.lru_append(slot);
        }
    }

    /// `slot` enters the global LRU at its most recent end, now.
    pub(super) fn lru_append(&mut self, slot: u32) {
        self.table.get_mut(slot).released_ns = self.now_ns;
        self.global_lru.push_back(&mut self.table, slot);
    }

    pub(super) fn disconnect_client(&mut self, client: ClientId, out: &mut Outcome) {
        if !self.clients.contains_key(&client) {
            return;
        }
        self.drop_pending_get(client);
        if let Some(c) = self.clients.get_mut(&client) {
            if std::mem::take(&mut c.subscribed) {
                self.subscribers -= 1;
            }
        }
        self.dissolve_quota(client);
        let (creating, held) = match self.clients.get_mut(&client) {
            Some(c) => (std::mem::take(&mut c.creating), std::mem::take(&mut c.held)),
            None => return,
        };
        // Unsealed objects vanish without a notification; other clients
        // waiting for them keep waiting (§10.14).
        let mut erase: Vec<u32> = creating.iter().copied().collect();
        erase.sort_unstable();
        for slot in erase {
            if held.contains(&slot) {
                self.drop_ref(slot);
            }
            self.remove_object(slot, out);
        }
        // Sorted for a deterministic LRU order.
        let mut held: Vec<u32> = held.into_iter().filter(|s| !creating.contains(s)).collect();
        held.sort_unstable();
        for slot in held {
            if self.drop_ref(slot) == 0 {
                self.on_unreferenced(slot, out);
            }
        }
        self.clients.remove(&client);
    }
}
