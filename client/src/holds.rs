//! Per-connection hold bookkeeping, as a pure state machine.
//!
//! The store counts a client at most once per object (protocol.md §10.1):
//! one ReleaseRequest drops the connection's hold however many buffers it
//! handed out. So the client counts live holders per id (each `ObjectBuffer`
//! family, each unsealed `ObjectBuilder`) and sends one Release when the
//! count reaches zero.
//!
//! The race this module exists for: the connection holds X; thread A sends
//! Get([X]) and the store answers it at once *from that same hold* (it does
//! not take a second one); meanwhile thread B drops the last buffer of X and
//! sends Release(X). If the Release reaches the store after the Get, the store
//! drops the hold that A's new buffer relies on, and the extent may be reused
//! under A's feet. So while X is part of a Get in flight on this connection, a
//! Release of X is deferred until that Get's reply has been processed: if the
//! reply returned X, its new buffer simply inherits the store's hold;
//! otherwise the Release is sent then.
//!
//! The other order is safe without deferral: a Release written to the socket
//! before the Get is processed by the store first, and the Get then takes a
//! fresh hold. The caller makes "check in-flight, then write Release" atomic
//! with respect to "mark in-flight" by holding the table's lock while it
//! writes the Release (see `Connection::release`).

use std::collections::{HashMap, HashSet};

use plasma_protocol::ObjectId;

/// What to do after one holder of an id went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReleaseDecision {
    /// Other holders remain on this connection; nothing to send.
    Keep,
    /// Last holder gone: send ReleaseRequest now.
    Send,
    /// Last holder gone while a Get for the id is in flight: the decision is
    /// taken when that Get finishes.
    Deferred,
}

/// Live holders and in-flight gets of one connection.
#[derive(Debug, Default)]
pub(crate) struct HoldTable {
    /// id -> number of live holders (never 0: removed instead).
    counts: HashMap<ObjectId, usize>,
    /// id -> number of gets in flight that name it (never 0).
    in_flight: HashMap<ObjectId, usize>,
    /// Ids whose last holder went away while a get was in flight.
    deferred: HashSet<ObjectId>,
}

impl HoldTable {
    /// A new holder of `id` (a create succeeded).
    pub(crate) fn acquire(&mut self, id: ObjectId) {
        *self.counts.entry(id).or_insert(0) += 1;
    }

    /// One holder of `id` went away.
    pub(crate) fn release(&mut self, id: ObjectId) -> ReleaseDecision {
        self.release_unless_pushed(id, false)
    }

    /// As [`release`](Self::release), where `push_may_come` tells whether
    /// the store may still push `id` to us with the hold it already has (an
    /// Await in flight, `async_client/awaits.rs`): then the Release is
    /// deferred too, until [`settle`](Self::settle).
    pub(crate) fn release_unless_pushed(
        &mut self,
        id: ObjectId,
        push_may_come: bool,
    ) -> ReleaseDecision {
        let Some(count) = self.counts.get_mut(&id) else {
            // Not held (cannot happen when holders are counted correctly);
            // sending a Release for an object we do not hold would make the
            // real store abort, so do nothing.
            return ReleaseDecision::Keep;
        };
        *count -= 1;
        if *count > 0 {
            return ReleaseDecision::Keep;
        }
        self.counts.remove(&id);
        if push_may_come || self.in_flight.contains_key(&id) {
            self.deferred.insert(id);
            ReleaseDecision::Deferred
        } else {
            ReleaseDecision::Send
        }
    }

    /// The store dropped the hold by other means (Abort): forget one holder
    /// without a Release.
    pub(crate) fn forget(&mut self, id: ObjectId) {
        if let Some(count) = self.counts.get_mut(&id) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&id);
            }
        }
    }

    /// A Get naming `distinct_ids` (no duplicates) is about to be written.
    pub(crate) fn begin_get(&mut self, distinct_ids: &[ObjectId]) {
        for id in distinct_ids {
            *self.in_flight.entry(*id).or_insert(0) += 1;
        }
    }

    /// The Get begun with `distinct_ids` is over; `found` (a subset, no
    /// duplicates) each got one new holder. Returns the ids whose deferred
    /// Release must be sent now.
    pub(crate) fn finish_get(
        &mut self,
        distinct_ids: &[ObjectId],
        found: &[ObjectId],
    ) -> Vec<ObjectId> {
        self.finish_get_unless_pushed(distinct_ids, found, |_| false)
    }

    /// As [`finish_get`](Self::finish_get), keeping deferred the ids for
    /// which `push_may_come`.
    pub(crate) fn finish_get_unless_pushed(
        &mut self,
        distinct_ids: &[ObjectId],
        found: &[ObjectId],
        push_may_come: impl Fn(&ObjectId) -> bool,
    ) -> Vec<ObjectId> {
        for id in found {
            self.acquire(*id);
        }
        let mut to_release = Vec::new();
        for id in distinct_ids {
            let still_in_flight = match self.in_flight.get_mut(id) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    true
                }
                Some(_) => {
                    self.in_flight.remove(id);
                    false
                }
                None => false,
            };
            if !still_in_flight && !push_may_come(id) && self.settle(*id) {
                to_release.push(*id);
            }
        }
        // A burst of large gets (the async client checks thousands of ids
        // at once) must not leave its table capacity behind.
        if self.in_flight.is_empty() && self.in_flight.capacity() > 1024 {
            self.in_flight = HashMap::new();
        }
        to_release
    }

    /// Nothing that could reuse the store's hold of `id` is in flight any
    /// more (a push arrived or will never come, or a get ended): true if a
    /// Release deferred meanwhile must be sent now. A push that arrived
    /// counted its holder first, so its hold carries on instead.
    pub(crate) fn settle(&mut self, id: ObjectId) -> bool {
        if self.in_flight.contains_key(&id) {
            return false;
        }
        self.deferred.remove(&id) && !self.counts.contains_key(&id)
    }

    /// Number of live holders of `id`.
    #[cfg(test)]
    pub(crate) fn count(&self, id: &ObjectId) -> usize {
        self.counts.get(id).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 20])
    }

    #[test]
    fn release_is_sent_only_when_the_last_holder_goes() {
        let mut t = HoldTable::default();
        t.acquire(id(1));
        t.acquire(id(1));
        assert_eq!(t.release(id(1)), ReleaseDecision::Keep);
        assert_eq!(t.count(&id(1)), 1);
        assert_eq!(t.release(id(1)), ReleaseDecision::Send);
        assert_eq!(t.count(&id(1)), 0);
        // A stray release of something not held sends nothing.
        assert_eq!(t.release(id(1)), ReleaseDecision::Keep);
    }

    #[test]
    fn release_racing_a_get_that_returns_the_object_reuses_the_hold() {
        let mut t = HoldTable::default();
        t.acquire(id(1));
        t.begin_get(&[id(1)]);
        // The last buffer is dropped while the Get is on the wire.
        assert_eq!(t.release(id(1)), ReleaseDecision::Deferred);
        // The store answered from its existing hold: no Release at all.
        assert_eq!(t.finish_get(&[id(1)], &[id(1)]), Vec::<ObjectId>::new());
        assert_eq!(t.count(&id(1)), 1);
        // The new buffer's drop then releases normally.
        assert_eq!(t.release(id(1)), ReleaseDecision::Send);
    }

    #[test]
    fn release_racing_a_get_that_misses_is_sent_after_the_reply() {
        let mut t = HoldTable::default();
        t.acquire(id(1));
        t.acquire(id(2));
        t.begin_get(&[id(1), id(2)]);
        assert_eq!(t.release(id(1)), ReleaseDecision::Deferred);
        assert_eq!(t.release(id(2)), ReleaseDecision::Deferred);
        // Only id 2 came back: id 1's Release goes out now.
        assert_eq!(t.finish_get(&[id(1), id(2)], &[id(2)]), vec![id(1)]);
        assert_eq!(t.count(&id(1)), 0);
        assert_eq!(t.count(&id(2)), 1);
    }

    #[test]
    fn failed_get_sends_deferred_releases() {
        let mut t = HoldTable::default();
        t.acquire(id(3));
        t.begin_get(&[id(3), id(4)]);
        assert_eq!(t.release(id(3)), ReleaseDecision::Deferred);
        assert_eq!(t.finish_get(&[id(3), id(4)], &[]), vec![id(3)]);
        // Nothing left in flight: the next release is immediate.
        t.acquire(id(3));
        assert_eq!(t.release(id(3)), ReleaseDecision::Send);
    }

    #[test]
    fn release_before_get_is_not_deferred() {
        let mut t = HoldTable::default();
        t.acquire(id(1));
        // Written before the Get: the store sees Release then Get.
        assert_eq!(t.release(id(1)), ReleaseDecision::Send);
        t.begin_get(&[id(1)]);
        assert_eq!(t.finish_get(&[id(1)], &[id(1)]), Vec::<ObjectId>::new());
        assert_eq!(t.count(&id(1)), 1);
    }

    #[test]
    fn deferral_waits_for_the_last_overlapping_get() {
        let mut t = HoldTable::default();
        t.acquire(id(1));
        t.begin_get(&[id(1)]);
        t.begin_get(&[id(1)]);
        assert_eq!(t.release(id(1)), ReleaseDecision::Deferred);
        // First get finished without the object; a second is still in flight.
        assert_eq!(t.finish_get(&[id(1)], &[]), Vec::<ObjectId>::new());
        assert_eq!(t.finish_get(&[id(1)], &[]), vec![id(1)]);
    }

    #[test]
    fn a_release_while_a_push_may_come_waits_for_the_push_or_its_cancel() {
        let mut t = HoldTable::default();
        t.acquire(id(1));
        assert_eq!(
            t.release_unless_pushed(id(1), true),
            ReleaseDecision::Deferred
        );
        // The push came with the same store hold: it carries on.
        t.acquire(id(1));
        assert!(!t.settle(id(1)));
        assert_eq!(t.release(id(1)), ReleaseDecision::Send);
        // Or the registration was cancelled: the Release goes out then.
        t.acquire(id(2));
        t.release_unless_pushed(id(2), true);
        assert!(t.settle(id(2)));
        // A get that ends meanwhile does not send it early.
        t.acquire(id(3));
        t.begin_get(&[id(3)]);
        t.release_unless_pushed(id(3), true);
        assert!(t
            .finish_get_unless_pushed(&[id(3)], &[], |_| true)
            .is_empty());
        assert!(t.settle(id(3)));
    }

    #[test]
    fn forget_drops_a_holder_without_release() {
        let mut t = HoldTable::default();
        t.acquire(id(5));
        t.forget(id(5));
        assert_eq!(t.count(&id(5)), 0);
        assert_eq!(t.release(id(5)), ReleaseDecision::Keep);
    }
}
