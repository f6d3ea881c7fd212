//! Id → slot index of the object table.
//!
//! A std `HashMap<ObjectId, u32>` costs about 50 bytes per object at a
//! million objects (24-byte entries, load factor and power-of-two growth);
//! this open-addressing table stores only the slot number and 32 bits of the
//! hash (8 bytes per bucket), with the ids themselves living in the table's
//! entries. Linear probing, backward-shift deletion, keyed hashing (ids come
//! from peers, so the hash must not be predictable).
//!
//! In a large index every removal is a cache miss; [`IdIndex::remove_later`]
//! queues removals and performs them a batch at a time, touching every
//! batch member's buckets first so the misses overlap. Until then a queued
//! bucket still matches lookups: callers check what a slot holds.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use plasma_protocol::ObjectId;

const EMPTY: u32 = u32::MAX;

/// Removals queued by [`IdIndex::remove_later`] before they are performed.
const BATCH: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    slot: u32,
    tag: u32,
}

const VACANT: Bucket = Bucket {
    slot: EMPTY,
    tag: 0,
};

/// Maps object ids to slot numbers; ids are looked up through a callback
/// that reads the id stored in a slot.
#[derive(Debug)]
pub struct IdIndex {
    buckets: Vec<Bucket>,
    /// Occupied buckets, including those in `queued`.
    len: usize,
    hasher: RandomState,
    /// Buckets to remove (at most `BATCH`), each still in `buckets`.
    queued: Vec<Bucket>,
}

impl Default for IdIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl IdIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            buckets: vec![VACANT; 16],
            len: 0,
            hasher: RandomState::new(),
            queued: Vec::new(),
        }
    }

    /// Number of ids stored, not counting queued removals.
    pub fn len(&self) -> usize {
        self.len - self.queued.len()
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn tag(&self, id: &ObjectId) -> u32 {
        // Truncation intended: 32 bits of a keyed 64-bit hash.
        self.hasher.hash_one(id) as u32
    }

    /// The first slot on `id`'s probe path whose bucket tag matches and
    /// that `is_match` accepts (the caller compares the id stored there).
    pub fn get(&self, id: &ObjectId, is_match: impl Fn(u32) -> bool) -> Option<u32> {
        let tag = self.tag(id);
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let b = self.buckets[i];
            if b.slot == EMPTY {
                return None;
            }
            if b.tag == tag && is_match(b.slot) {
                return Some(b.slot);
            }
            i = (i + 1) & mask;
        }
    }

    /// Records that `id` lives in `slot`. The caller guarantees that no
    /// bucket it would accept for `id` is present (stale ones may be) and
    /// `slot != u32::MAX`.
    pub fn insert(&mut self, id: &ObjectId, slot: u32) {
        // Keep the load factor at or below 0.8, queued buckets included.
        if (self.len + 1) * 5 > self.buckets.len() * 4 {
            self.flush();
            if (self.len + 1) * 5 > self.buckets.len() * 4 {
                self.grow();
            }
        }
        let tag = self.tag(id);
        self.place(Bucket { slot, tag });
        self.len += 1;
    }

    fn place(&mut self, bucket: Bucket) {
        let mask = self.mask();
        let mut i = bucket.tag as usize & mask;
        while self.buckets[i].slot != EMPTY {
            i = (i + 1) & mask;
        }
        self.buckets[i] = bucket;
    }

    fn grow(&mut self) {
        let doubled = vec![VACANT; self.buckets.len() * 2];
        let old = std::mem::replace(&mut self.buckets, doubled);
        for b in old.into_iter().filter(|b| b.slot != EMPTY) {
            self.place(b);
        }
    }

    /// Removes the bucket recording that `id` lives in `slot`; false if
    /// there is none.
    pub fn remove(&mut self, id: &ObjectId, slot: u32) -> bool {
        let tag = self.tag(id);
        self.remove_bucket(Bucket { slot, tag })
    }

    /// Queues the removal of the bucket recording that `id` lives in `slot`
    /// (which must exist), performed with the next batch. Buckets are
    /// matched by slot and tag: should a bucket equal to it be added
    /// meanwhile, either one goes, which is the same.
    pub fn remove_later(&mut self, id: &ObjectId, slot: u32) {
        let tag = self.tag(id);
        self.queued.push(Bucket { slot, tag });
        if self.queued.len() >= BATCH {
            self.flush();
        }
    }

    /// Performs the queued removals.
    fn flush(&mut self) {
        let mask = self.mask();
        let queued = std::mem::take(&mut self.queued);
        // Loads only, independent of each other, so that their misses
        // overlap: the home bucket and the next line, which a probe run or
        // a backward shift often reaches. black_box keeps them.
        let mut touched = 0u32;
        for b in &queued {
            let home = b.tag as usize & mask;
            touched ^= self.buckets[home].slot ^ self.buckets[(home + 8) & mask].slot;
        }
        std::hint::black_box(touched);
        for &b in &queued {
            let found = self.remove_bucket(b);
            debug_assert!(found, "queued removal of a missing bucket");
        }
        self.queued = queued;
        self.queued.clear();
    }

    fn remove_bucket(&mut self, bucket: Bucket) -> bool {
        let mask = self.mask();
        let mut i = bucket.tag as usize & mask;
        loop {
            let b = self.buckets[i];
            if b.slot == EMPTY {
                return false;
            }
            if b == bucket {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: pull later members of the probe run into
        // the hole when their home position allows it.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let b = self.buckets[j];
            if b.slot == EMPTY {
                break;
            }
            let home = b.tag as usize & mask;
            // Distance from home to j versus from home to the hole (cyclic).
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.buckets[hole] = b;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.buckets[hole] = VACANT;
        self.len -= 1;
        true
    }

    /// Bytes of heap memory the index uses.
    pub fn heap_bytes(&self) -> usize {
        (self.buckets.capacity() + self.queued.capacity()) * std::mem::size_of::<Bucket>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn id(n: u32) -> ObjectId {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&n.to_le_bytes());
        ObjectId::from_bytes(b)
    }

    #[test]
    fn insert_get_remove() {
        let keys: Vec<ObjectId> = (0..1000).map(id).collect();
        let mut ix = IdIndex::new();
        for (slot, k) in keys.iter().enumerate() {
            ix.insert(k, slot as u32);
        }
        let keys = &keys;
        let is = |k: &ObjectId| {
            let k = *k;
            move |s: u32| keys[s as usize] == k
        };
        assert_eq!(ix.len(), 1000);
        for (slot, k) in keys.iter().enumerate() {
            assert_eq!(ix.get(k, is(k)), Some(slot as u32));
        }
        assert_eq!(ix.get(&id(5000), is(&id(5000))), None);
        for (slot, k) in keys.iter().enumerate().step_by(3) {
            assert!(ix.remove(k, slot as u32));
        }
        assert!(!ix.remove(&keys[0], 0));
        assert!(!ix.remove(&keys[1], 2), "a bucket is named by id and slot");
        for (slot, k) in keys.iter().enumerate() {
            let want = (slot % 3 != 0).then_some(slot as u32);
            assert_eq!(ix.get(k, is(k)), want);
        }
    }

    proptest! {
        #[test]
        fn queued_removals_behave_like_removals(
            ops in proptest::collection::vec((0u8..3, 0u32..64), 1..600),
        ) {
            // Slot n always holds id(n); a lookup accepts a bucket only if
            // the model says the id is live there (as ObjectTable::find
            // does). Re-inserting an id whose removal is queued adds a
            // bucket equal to the queued one.
            let mut ix = IdIndex::new();
            let mut live: HashMap<ObjectId, u32> = HashMap::new();
            for (op, n) in ops {
                let k = id(n);
                match (op, live.contains_key(&k)) {
                    (0, false) => {
                        ix.insert(&k, n);
                        live.insert(k, n);
                    }
                    (1, true) => {
                        prop_assert!(ix.remove(&k, n));
                        live.remove(&k);
                    }
                    (2, true) => {
                        ix.remove_later(&k, n);
                        live.remove(&k);
                    }
                    _ => {}
                }
                prop_assert_eq!(ix.len(), live.len());
                for m in 0..64 {
                    let k = id(m);
                    let found = ix.get(&k, |s| live.get(&k) == Some(&s));
                    prop_assert_eq!(found, live.get(&k).copied());
                }
            }
            ix.flush();
            prop_assert_eq!(ix.len, live.len());
            let occupied = ix.buckets.iter().filter(|b| b.slot != EMPTY).count();
            prop_assert_eq!(occupied, live.len());
        }

        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec((any::<bool>(), 0u32..64), 1..400)) {
            // Slot n always stores id(n).
            fn is(k: ObjectId) -> impl Fn(u32) -> bool {
                move |s| id(s) == k
            }
            let mut ix = IdIndex::new();
            let mut model: HashMap<ObjectId, u32> = HashMap::new();
            for (ins, n) in ops {
                let k = id(n);
                if ins {
                    if let std::collections::hash_map::Entry::Vacant(e) = model.entry(k) {
                        e.insert(n);
                        ix.insert(&k, n);
                    }
                } else {
                    prop_assert_eq!(ix.remove(&k, n), model.remove(&k).is_some());
                }
                prop_assert_eq!(ix.len(), model.len());
                for m in 0..64 {
                    prop_assert_eq!(ix.get(&id(m), is(id(m))), model.get(&id(m)).copied());
                }
            }
        }
    }
}
