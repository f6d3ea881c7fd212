//! The store's counters, for our Stats addition (docs/design.md).
//!
//! Each counter is kept by the operation that changes it, at O(1) per
//! request: unsealed, held and externally stored objects are tallied where
//! an object enters or leaves those states, so [`Store::stats`] derives
//! every memory figure from them and from `allocated` without walking the
//! table. Gauges about clients (waiting gets, awaits) are summed when
//! asked, which costs O(clients) per Stats request and nothing per other
//! request.

use plasma_protocol::{MessageType, StoreStats, Tally};

use super::Store;

/// Counters no other part of the store keeps.
#[derive(Debug)]
pub(super) struct Counters {
    /// Unsealed objects (all resident).
    pub created: Tally,
    /// Sealed objects with `ref_count > 0`.
    pub held: Tally,
    /// Objects in the external store.
    pub external: Tally,
    /// Objects evicted, and their bytes.
    pub evictions: Tally,
    /// Objects deleted by a Delete request.
    pub deletions: u64,
    /// Creates answered OutOfMemory.
    pub creates_refused: u64,
    /// Requests handled, by [`MessageType::dense_index`].
    pub requests: [u64; MessageType::COUNT],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            created: Tally::default(),
            held: Tally::default(),
            external: Tally::default(),
            evictions: Tally::default(),
            deletions: 0,
            creates_refused: 0,
            requests: [0; MessageType::COUNT],
        }
    }
}

/// One object of `bytes` enters `t`.
pub(super) fn enter(t: &mut Tally, bytes: u64) {
    t.objects += 1;
    t.bytes = t.bytes.saturating_add(bytes);
}

/// One object of `bytes` leaves `t`.
pub(super) fn leave(t: &mut Tally, bytes: u64) {
    t.objects = t.objects.saturating_sub(1);
    t.bytes = t.bytes.saturating_sub(bytes);
}

fn plus(a: Tally, b: Tally) -> Tally {
    Tally {
        objects: a.objects.saturating_add(b.objects),
        bytes: a.bytes.saturating_add(b.bytes),
    }
}

fn minus(a: Tally, b: Tally) -> Tally {
    Tally {
        objects: a.objects.saturating_sub(b.objects),
        bytes: a.bytes.saturating_sub(b.bytes),
    }
}

impl Store {
    /// The counters the core keeps; `queued_bytes` and `uptime_ms` are the
    /// event loop's to fill in.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        let in_table = Tally {
            objects: self.table.len() as u64,
            bytes: 0,
        };
        let on_disk = Tally {
            objects: self.spill.stats.spilled_objects,
            bytes: 0,
        };
        let sealed = Tally {
            // Sealed objects in memory: spilled ones (on disk or being
            // restored) are not; spilling ones are, until their write ends.
            objects: minus(minus(minus(in_table, c.created), c.external), on_disk).objects,
            // Extents of gone objects that wait for a dropped client's
            // process to exit, and extents under a restore or under the
            // I/O of a deleted object, count in `allocated` but hold no
            // sealed object.
            bytes: self
                .allocated
                .saturating_sub(c.created.bytes)
                .saturating_sub(self.quarantined_bytes())
                .saturating_sub(self.spill.reserved_not_sealed()),
        };
        let types = MessageType::ALL.into_iter().chain(MessageType::EXTENSIONS);
        let requests = types
            .map(|t| (t.as_i64(), c.requests[t.dense_index()]))
            .filter(|&(_, n)| n > 0)
            .collect();
        let mut s = StoreStats::default();
        s.capacity = self.config.capacity;
        // Held through the socket (counted as it happens), or only through
        // a hold-table slot (our `direct`: found by a scan now).
        let held = plus(c.held, self.slot_held_only());
        s.created = c.created;
        s.sealed = sealed;
        s.held = held;
        s.evictable = minus(sealed, held);
        s.external = c.external;
        s.clients = self.clients.len() as u64;
        s.subscribers = self.subscribers as u64;
        s.waiting_gets = self
            .clients
            .values()
            .filter(|c| c.pending_get.is_some())
            .count() as u64;
        s.pending_awaits = self.awaits.total() as u64;
        s.evictions = c.evictions;
        s.deletions = c.deletions;
        s.creates_refused = c.creates_refused;
        s.requests = requests;
        s.spill_limit = self.spill.limit.unwrap_or(0);
        s.spill = self.spill.stats;
        s
    }

    /// The counters recomputed from the table (invariant checks).
    #[cfg(any(test, feature = "invariants"))]
    pub(super) fn stats_by_walking(&self) -> StoreStats {
        use super::table::State;
        let mut s = self.stats();
        let (mut created, mut sealed, mut held, mut external) = Default::default();
        for (_, e) in self.table.iter() {
            match e.state {
                State::Created => enter(&mut created, e.size()),
                State::Sealed | State::Spilling => {
                    enter(&mut sealed, e.size());
                    if e.ref_count > 0 {
                        enter(&mut held, e.size());
                    }
                }
                State::Evicted => enter(&mut external, e.size()),
                State::Vacant | State::Spilled | State::Restoring => {}
            }
        }
        let held = plus(held, self.slot_held_only());
        s.created = created;
        s.sealed = sealed;
        s.held = held;
        s.evictable = minus(sealed, held);
        s.external = external;
        s
    }
}
