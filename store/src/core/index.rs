//! Id → slot index of the object table.
//!
//! A std `HashMap<ObjectId, u32>` costs about 50 bytes per object at a
//! million objects (24-byte entries, load factor and power-of-two growth);
//! this open-addressing table stores only the slot number and 32 bits of the
//! hash (8 bytes per bucket), with the ids themselves living in the table's
//! entries. Linear probing, backward-shift deletion, keyed hashing (ids come
//! from peers, so the hash must not be predictable).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use plasma_protocol::ObjectId;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
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
    len: usize,
    hasher: RandomState,
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
        }
    }

    /// Number of ids stored.
    pub fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn tag(&self, id: &ObjectId) -> u32 {
        // Truncation intended: 32 bits of a keyed 64-bit hash.
        self.hasher.hash_one(id) as u32
    }

    /// The slot holding `id`.
    pub fn get(&self, id: &ObjectId, key_of: impl Fn(u32) -> ObjectId) -> Option<u32> {
        let tag = self.tag(id);
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let b = self.buckets[i];
            if b.slot == EMPTY {
                return None;
            }
            if b.tag == tag && key_of(b.slot) == *id {
                return Some(b.slot);
            }
            i = (i + 1) & mask;
        }
    }

    /// Records that `id` lives in `slot`. The caller guarantees `id` is not
    /// present yet and `slot != u32::MAX`.
    pub fn insert(&mut self, id: &ObjectId, slot: u32) {
        // Keep the load factor at or below 0.8.
        if (self.len + 1) * 5 > self.buckets.len() * 4 {
            self.grow();
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

    /// Forgets `id`; returns the slot it had.
    pub fn remove(&mut self, id: &ObjectId, key_of: impl Fn(u32) -> ObjectId) -> Option<u32> {
        let tag = self.tag(id);
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let b = self.buckets[i];
            if b.slot == EMPTY {
                return None;
            }
            if b.tag == tag && key_of(b.slot) == *id {
                break;
            }
            i = (i + 1) & mask;
        }
        let found = self.buckets[i].slot;
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
        Some(found)
    }

    /// Bytes of heap memory the index uses.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
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
        let key_of = |s: u32| keys[s as usize];
        assert_eq!(ix.len(), 1000);
        for (slot, k) in keys.iter().enumerate() {
            assert_eq!(ix.get(k, key_of), Some(slot as u32));
        }
        assert_eq!(ix.get(&id(5000), key_of), None);
        for k in keys.iter().step_by(3) {
            assert!(ix.remove(k, key_of).is_some());
        }
        assert_eq!(ix.remove(&keys[0], key_of), None);
        for (slot, k) in keys.iter().enumerate() {
            let want = (slot % 3 != 0).then_some(slot as u32);
            assert_eq!(ix.get(k, key_of), want);
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec((any::<bool>(), 0u32..64), 1..400)) {
            // Slot n always stores id(n), so key_of is a pure function.
            let key_of = id;
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
                    prop_assert_eq!(ix.remove(&k, key_of), model.remove(&k));
                }
                prop_assert_eq!(ix.len(), model.len());
                for m in 0..64 {
                    prop_assert_eq!(ix.get(&id(m), key_of), model.get(&id(m)).copied());
                }
            }
        }
    }
}
