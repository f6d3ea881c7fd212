//! The router's table: object id → the futures waiting for it.
//!
//! Pure bookkeeping, owned by the driver task (no lock), and generic over
//! the waiter type: the tokio futures' [`Waiter`] here, whatever an event
//! loop keeps for [`Watcher`](crate::Watcher) (any [`Pending`]). Sized for
//! many pending futures: an entry is the 20-byte id plus a 16-byte
//! [`Waiters`] (one waiter inline; several in a boxed `Vec`), so the table
//! costs about 55 bytes per distinct id at hashbrown's load factor (for an
//! 8-byte waiter).

use std::collections::HashMap;

use plasma_protocol::ObjectId;

use super::future::Waiter;
use crate::error::AsFutureError;
use crate::ObjectBuffer;

impl Router<Waiter> {
    /// Fails every waiting future with `err` and empties the table.
    pub(crate) fn fail_all(&mut self, err: &AsFutureError) {
        for (_, waiters) in self.map.drain() {
            match waiters {
                Waiters::One(w) => w.fail(err),
                Waiters::Many(many) => many.waiters.iter().for_each(|w| w.fail(err)),
            }
        }
    }
}

/// Resolves `waiters` with `buf`: clones to all but the last, which gets
/// `buf` itself, so nothing of it stays with the caller.
pub(crate) fn deliver(waiters: Vec<Waiter>, buf: ObjectBuffer) {
    if let Some((last, others)) = waiters.split_last() {
        for w in others {
            w.resolve(buf.clone());
        }
        last.resolve(buf);
    }
}

/// A waiter the router keeps for one pending future, whatever kind of
/// future it is.
///
/// The router asks only whether the future still waits: a future that was
/// resolved, cancelled or dropped is pruned (see
/// [`Watcher::cancel`](crate::Watcher::cancel)).
pub trait Pending {
    /// Whether the future still waits for its object.
    fn is_live(&self) -> bool;
}

impl Pending for Waiter {
    fn is_live(&self) -> bool {
        Waiter::is_live(self)
    }
}

/// The futures waiting for one id.
enum Waiters<W> {
    One(W),
    Many(Box<Many<W>>),
}

struct Many<W> {
    waiters: Vec<W>,
    /// Cancels received since the last compaction; the vector is compacted
    /// when they reach half its length, so mass cancellation stays linear.
    stale: usize,
}

/// Object id → waiting futures.
pub(crate) struct Router<W = Waiter> {
    map: HashMap<ObjectId, Waiters<W>>,
}

impl<W> Default for Router<W> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
        }
    }
}

impl<W: Pending> Router<W> {
    /// Adds a waiter for `id`. Returns true if `id` had no waiter before,
    /// i.e. the caller must check whether it is already sealed (a waiter
    /// joining an existing entry is covered by that entry's check or by the
    /// seal notification still to come).
    pub(crate) fn register(&mut self, id: ObjectId, waiter: W) -> bool {
        match self.map.remove(&id) {
            None => {
                self.map.insert(id, Waiters::One(waiter));
                true
            }
            Some(Waiters::One(first)) => {
                let many = Many {
                    waiters: vec![first, waiter],
                    stale: 0,
                };
                self.map.insert(id, Waiters::Many(Box::new(many)));
                false
            }
            Some(Waiters::Many(mut many)) => {
                many.waiters.push(waiter);
                self.map.insert(id, Waiters::Many(many));
                false
            }
        }
    }

    /// A future waiting for `id` was dropped: prunes dropped waiters.
    pub(crate) fn cancel(&mut self, id: ObjectId) {
        let Some(entry) = self.map.get_mut(&id) else {
            return;
        };
        let now_empty = match entry {
            Waiters::One(w) => !w.is_live(),
            Waiters::Many(many) => {
                many.stale += 1;
                if many.stale * 2 >= many.waiters.len() {
                    many.waiters.retain(W::is_live);
                    many.stale = 0;
                }
                many.waiters.is_empty()
            }
        };
        if now_empty {
            self.map.remove(&id);
        }
    }

    /// Whether some future waits for `id`.
    pub(crate) fn wants(&self, id: &ObjectId) -> bool {
        self.map.contains_key(id)
    }

    /// Removes `id`'s entry and returns its still-waiting futures (to be
    /// given the object with [`deliver`]).
    pub(crate) fn take(&mut self, id: &ObjectId) -> Vec<W> {
        match self.map.remove(id) {
            None => Vec::new(),
            Some(Waiters::One(w)) => vec![w],
            Some(Waiters::Many(many)) => many.waiters,
        }
        .into_iter()
        .filter(W::is_live)
        .collect()
    }

    /// Empties the table, returning every waiter kept (dropped ones not yet
    /// pruned included).
    pub(crate) fn drain(&mut self) -> Vec<W> {
        let mut out = Vec::with_capacity(self.map.len());
        for (_, waiters) in self.map.drain() {
            match waiters {
                Waiters::One(w) => out.push(w),
                Waiters::Many(many) => out.extend(many.waiters),
            }
        }
        self.map = HashMap::new();
        out
    }

    /// Every id some future waits for.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.map.keys().copied()
    }

    /// Number of distinct ids waited for.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no future waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of waiters kept for `id`, dropped ones not yet pruned
    /// included (tests).
    #[cfg(test)]
    fn kept(&self, id: &ObjectId) -> usize {
        match self.map.get(id) {
            None => 0,
            Some(Waiters::One(_)) => 1,
            Some(Waiters::Many(m)) => m.waiters.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::async_client::future::Slot;
    use std::sync::Arc;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 20])
    }

    #[test]
    fn entries_stay_small() {
        assert_eq!(std::mem::size_of::<Waiters<Waiter>>(), 16);
    }

    #[test]
    fn only_the_first_waiter_of_an_id_asks_for_a_check() {
        let mut r: Router = Router::default();
        let (w1, _s1) = Waiter::pair();
        let (w2, _s2) = Waiter::pair();
        let (w3, _s3) = Waiter::pair();
        assert!(r.register(id(1), w1));
        assert!(!r.register(id(1), w2));
        assert!(r.register(id(2), w3));
        assert_eq!(r.len(), 2);
        assert!(r.wants(&id(1)) && r.wants(&id(2)) && !r.wants(&id(3)));
    }

    #[test]
    fn fail_all_reaches_every_waiter_and_empties_the_table() {
        let mut r = Router::default();
        let slots: Vec<Arc<Slot>> = (0..5)
            .map(|i| {
                let (w, s) = Waiter::pair();
                r.register(id(i % 2), w);
                s
            })
            .collect();
        r.fail_all(&AsFutureError::Shutdown);
        assert!(r.is_empty());
        for s in slots {
            assert!(matches!(s.outcome(), Some(Err(AsFutureError::Shutdown))));
        }
    }

    #[test]
    fn cancel_prunes_dropped_waiters_and_keeps_live_ones() {
        let mut r = Router::default();
        let (w, s) = Waiter::pair();
        r.register(id(1), w);
        r.cancel(id(1)); // still live: a cancel for another future of this id
        assert!(r.wants(&id(1)));
        s.drop_future();
        r.cancel(id(1));
        assert!(!r.wants(&id(1)));

        let mut live = Vec::new();
        let mut dropped = Vec::new();
        for i in 0..10 {
            let (w, s) = Waiter::pair();
            r.register(id(2), w);
            if i % 2 == 0 {
                dropped.push(s);
            } else {
                live.push(s);
            }
        }
        for s in dropped {
            s.drop_future();
            r.cancel(id(2));
        }
        assert_eq!(r.kept(&id(2)), 5, "compacted once half were stale");
        for s in live.drain(..) {
            s.drop_future();
            r.cancel(id(2));
        }
        assert!(!r.wants(&id(2)), "the last cancel removes the entry");
    }

    #[derive(Default)]
    struct Releases(std::sync::Mutex<Vec<ObjectId>>);
    impl crate::buffer::ReleaseHook for Releases {
        fn release(&self, id: ObjectId) {
            self.0.lock().unwrap().push(id);
        }
    }

    fn buffer(id: ObjectId, hook: Arc<Releases>) -> ObjectBuffer {
        use crate::mapping::{Extent, Mapping};
        let mapping = Mapping::of_bytes(b"0123456789");
        let view = mapping.view(Extent { offset: 2, len: 3 }).unwrap();
        ObjectBuffer::new(id, view, 3, hook)
    }

    #[test]
    fn delivery_reaches_live_waiters_only_and_keeps_nothing() {
        let mut r = Router::default();
        let hook = Arc::new(Releases::default());
        let (w1, s1) = Waiter::pair();
        let (w2, s2) = Waiter::pair();
        let (w3, s3) = Waiter::pair();
        r.register(id(1), w1);
        r.register(id(1), w2);
        r.register(id(1), w3);
        s2.drop_future();
        let live = r.take(&id(1));
        assert_eq!(live.len(), 2);
        deliver(live, buffer(id(1), hook.clone()));
        assert!(!r.wants(&id(1)));
        assert!(s2.outcome().is_none(), "a dropped future gets nothing");
        let got1 = s1.outcome().unwrap().unwrap();
        assert_eq!(got1.data(), b"234");
        drop(s1);
        assert!(hook.0.lock().unwrap().is_empty(), "s3 still holds it");
        drop(got1);
        drop(s3);
        // The router kept no clone: the last holder's drop released it.
        assert_eq!(*hook.0.lock().unwrap(), vec![id(1)]);
        assert!(r.take(&id(2)).is_empty());
    }

    #[test]
    fn mass_cancellation_on_one_id_is_linear() {
        let mut r = Router::default();
        let slots: Vec<Arc<Slot>> = (0..100_000)
            .map(|_| {
                let (w, s) = Waiter::pair();
                r.register(id(7), w);
                s
            })
            .collect();
        let start = std::time::Instant::now();
        for s in slots {
            s.drop_future();
            r.cancel(id(7));
        }
        assert!(r.is_empty());
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
