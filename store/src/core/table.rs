//! The object table: one compact entry per object, in a slab indexed by id.
//!
//! Entries are kept small (the target is well under 128 bytes of store
//! memory per object at a million objects): holders are not stored per
//! object — each client's held set is the source of truth and the entry
//! keeps only the count — and the LRU links are slot numbers inside the
//! entry.
//!
//! Evicting many objects at once must not cost one index probe each (each
//! is a cache miss in a large index): [`ObjectTable::remove_deferred`]
//! leaves the id's bucket in the index, stale, and the insert that reuses
//! the slot queues its removal (performed in batches, see
//! [`IdIndex::remove_later`]). A lookup accepts a bucket only if the slot
//! is live and holds the id, so stale and queued buckets never match.

use plasma_protocol::{Digest, ObjectId, ObjectInfo, ObjectSpec, Residence};

use super::allocator::Extent;
use super::index::IdIndex;
use super::ClientId;

/// "No slot": end of an LRU list.
pub const NIL: u32 = u32::MAX;

/// Lifecycle of an object (protocol.md §10.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The slot is free.
    Vacant,
    /// Created, not sealed yet; only the creator may write, seal or abort it.
    Created,
    /// Sealed: immutable, readable by everyone.
    Sealed,
    /// Moved to the external store: no memory, bytes kept aside.
    Evicted,
    /// Sealed, in memory and readable, while a copy is written to a spill
    /// file; its extent is not reused before the write has finished.
    Spilling,
    /// Sealed, on disk only: no memory.
    Spilled,
    /// Sealed, being read back from its spill file into a fresh extent
    /// nobody else knows of; readable again once that has finished.
    Restoring,
}

impl State {
    /// Sealed, wherever its bytes are: a spill is not a deletion.
    pub fn is_sealed(self) -> bool {
        matches!(
            self,
            State::Sealed | State::Spilling | State::Spilled | State::Restoring
        )
    }

    /// Sealed and in memory, so that a client may be given it now.
    pub fn is_readable(self) -> bool {
        matches!(self, State::Sealed | State::Spilling)
    }

    /// Where List says its bytes are.
    pub fn residence(self) -> Residence {
        match self {
            State::Spilling => Residence::Spilling,
            State::Spilled => Residence::Disk,
            State::Restoring => Residence::Restoring,
            State::Vacant | State::Created | State::Sealed | State::Evicted => Residence::Memory,
        }
    }
}

/// Which list an entry's `prev`/`next` links belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListTag {
    /// In no list.
    None,
    /// In the global LRU (sealed, unheld, not quota-owned).
    Global,
    /// In the owner's quota list (§10.13), held or not.
    Quota,
}

/// One object.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The object's id.
    pub id: ObjectId,
    /// Where the object's block starts (meaningless unless resident).
    pub offset: u64,
    /// Data bytes.
    pub data_size: u64,
    /// Metadata bytes.
    pub metadata_size: u64,
    /// The creating client: the only one that may seal or abort while
    /// unsealed, and the quota owner when `list == Quota`.
    pub owner: ClientId,
    /// Unix seconds.
    pub create_time: i64,
    /// Valid once sealed.
    pub digest: Digest,
    /// Whole seconds from create to seal; -1 while unsealed.
    pub construct_duration: i32,
    /// Number of distinct clients holding the object.
    pub ref_count: u32,
    /// Previous (less recent) entry in its list.
    pub prev: u32,
    /// Next (more recent) entry in its list.
    pub next: u32,
    /// Lifecycle state.
    pub state: State,
    /// The list the links belong to.
    pub list: ListTag,
    /// A Delete arrived while the object was unsealed or held (§10.9).
    pub delete_pending: bool,
    /// When it took its place in the global LRU (`Clock::mono_ns`): a
    /// release read late from a hold table's log is placed by its own time
    /// among the others.
    pub released_ns: u64,
}

impl Entry {
    /// Data plus metadata bytes (what the budget counts, §10.2). Saturates;
    /// the create path refuses sizes whose sum overflows.
    pub fn size(&self) -> u64 {
        self.data_size.saturating_add(self.metadata_size)
    }

    /// Whether the object occupies arena memory.
    #[cfg(any(test, feature = "invariants"))]
    pub fn is_resident(&self) -> bool {
        matches!(
            self.state,
            State::Created | State::Sealed | State::Spilling | State::Restoring
        )
    }

    /// Its block in the arena (only meaningful while resident).
    pub fn extent(&self) -> Option<Extent> {
        let len = super::allocator::block_len(self.size())?;
        Some(Extent {
            offset: self.offset,
            len,
        })
    }

    /// The spec clients are given for it.
    pub fn spec(&self, segment_index: i32) -> ObjectSpec {
        ObjectSpec {
            segment_index,
            data_offset: self.offset,
            data_size: self.data_size,
            metadata_offset: self.offset.saturating_add(self.data_size),
            metadata_size: self.metadata_size,
            device_num: 0,
        }
    }

    /// The full description List gives (§10.11): evicted objects look
    /// sealed, unsealed ones carry no digest, spilled ones say where they
    /// are (§15).
    pub fn list_info(&self) -> ObjectInfo {
        ObjectInfo {
            object_id: self.id,
            data_size: to_i64(self.data_size),
            metadata_size: to_i64(self.metadata_size),
            ref_count: i32::try_from(self.ref_count).unwrap_or(i32::MAX),
            create_time: self.create_time,
            construct_duration: i64::from(self.construct_duration),
            digest: (self.state != State::Created).then_some(self.digest),
            is_deletion: false,
            residence: self.state.residence(),
        }
    }

    /// The description a seal notification carries (§9): id, sizes, digest.
    pub fn seal_info(&self) -> ObjectInfo {
        ObjectInfo {
            object_id: self.id,
            data_size: to_i64(self.data_size),
            metadata_size: to_i64(self.metadata_size),
            digest: Some(self.digest),
            ..ObjectInfo::default()
        }
    }
}

/// Sizes on the wire are int64.
pub fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A deletion notification entry (§9).
pub fn deletion_info(id: ObjectId) -> ObjectInfo {
    ObjectInfo {
        object_id: id,
        is_deletion: true,
        ..ObjectInfo::default()
    }
}

/// Slab of entries plus the id index.
#[derive(Debug, Default)]
pub struct ObjectTable {
    entries: Vec<Entry>,
    free_slots: Vec<u32>,
    index: IdIndex,
    /// Vacant slots whose bucket is still in the index (one each, for the
    /// id the entry still holds); a subset of `free_slots`.
    stale: SlotBits,
    stale_count: usize,
}

impl ObjectTable {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.index.len() - self.stale_count
    }

    /// The slot of `id`.
    pub fn find(&self, id: &ObjectId) -> Option<u32> {
        let entries = &self.entries;
        self.index.get(id, |s| {
            let e = &entries[s as usize];
            e.id == *id && e.state != State::Vacant
        })
    }

    /// The entry in `slot`. Slots come from [`ObjectTable::find`] or
    /// [`ObjectTable::insert`] and stay valid until removed.
    pub fn get(&self, slot: u32) -> &Entry {
        &self.entries[slot as usize]
    }

    /// Mutable entry in `slot`.
    pub fn get_mut(&mut self, slot: u32) -> &mut Entry {
        &mut self.entries[slot as usize]
    }

    /// The entry for `id`.
    pub fn by_id(&self, id: &ObjectId) -> Option<&Entry> {
        self.find(id).map(|s| self.get(s))
    }

    /// Stores a new entry (its id must not be present) and returns its slot,
    /// or `None` if the table has no slot numbers left.
    pub fn insert(&mut self, entry: Entry) -> Option<u32> {
        let id = entry.id;
        let slot = match self.free_slots.pop() {
            Some(s) => {
                if self.stale.remove(s) {
                    let old = self.entries[s as usize].id;
                    self.index.remove_later(&old, s);
                    self.stale_count -= 1;
                }
                self.entries[s as usize] = entry;
                s
            }
            None => {
                let s = u32::try_from(self.entries.len())
                    .ok()
                    .filter(|&s| s != NIL)?;
                if self.entries.len() == self.entries.capacity() {
                    // Grow by a quarter rather than doubling: at a million
                    // objects doubling could leave ~88 MB unused.
                    let extra = (self.entries.len() / 4).max(1024);
                    self.entries.reserve_exact(extra);
                }
                self.entries.push(entry);
                s
            }
        };
        self.index.insert(&id, slot);
        Some(slot)
    }

    /// Removes the entry in `slot` (live).
    pub fn remove(&mut self, slot: u32) {
        let found = self.index.remove(&self.entries[slot as usize].id, slot);
        debug_assert!(found, "live slot without a bucket");
        self.vacate(slot);
    }

    /// Removes the entry in `slot` (live) without touching the index: its
    /// bucket stays, stale, until the slot is reused. Slots are freed in the
    /// same order as by [`ObjectTable::remove`].
    pub fn remove_deferred(&mut self, slot: u32) {
        self.stale.insert(slot);
        self.stale_count += 1;
        self.vacate(slot);
    }

    fn vacate(&mut self, slot: u32) {
        let e = &mut self.entries[slot as usize];
        e.state = State::Vacant;
        e.list = ListTag::None;
        self.free_slots.push(slot);
    }

    /// Every live entry with its slot, in slot order.
    /// Number of slots, live or vacant: [`ObjectTable::slot_range`] ranges
    /// below it.
    pub fn slot_count(&self) -> u32 {
        u32::try_from(self.entries.len()).unwrap_or(u32::MAX)
    }

    /// The live entries among the `max` slots from `from` on, in slot
    /// order (the order of [`ObjectTable::iter`]).
    pub fn slot_range(&self, from: u32, max: usize) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        let start = (from as usize).min(self.entries.len());
        self.entries[start..]
            .iter()
            .take(max)
            .enumerate()
            .filter(|(_, e)| e.state != State::Vacant)
            .map(move |(i, e)| ((start + i) as u32, e))
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.state != State::Vacant)
            .map(|(s, e)| (s as u32, e))
    }

    /// Panics unless the index holds exactly one bucket per live entry and
    /// one per stale slot.
    #[cfg(any(test, feature = "invariants"))]
    pub fn check(&self) {
        let mut live = 0;
        for (slot, e) in self.entries.iter().enumerate() {
            let slot = slot as u32;
            if e.state != State::Vacant {
                live += 1;
                assert!(!self.stale.contains(slot), "live slot {slot} marked stale");
                assert_eq!(self.find(&e.id), Some(slot), "live slot {slot} not found");
            } else if self.stale.contains(slot) {
                assert!(
                    self.free_slots.contains(&slot),
                    "stale slot {slot} not free"
                );
                assert_eq!(self.index.get(&e.id, |s| s == slot), Some(slot));
                assert_ne!(self.find(&e.id), Some(slot), "stale slot {slot} found");
            } else {
                assert_ne!(self.find(&e.id), Some(slot), "vacant slot {slot} found");
            }
        }
        let stale = (0..self.entries.len() as u32)
            .filter(|&s| self.stale.contains(s))
            .count();
        assert_eq!(stale, self.stale_count);
        // Queued removals are not counted: every other bucket has an owner.
        assert_eq!(self.index.len(), live + stale, "buckets without an owner");
        assert_eq!(self.len(), live);
    }

    /// Bytes of heap memory used by the table (entries and index).
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.free_slots.capacity() * 4
            + self.index.heap_bytes()
            + self.stale.heap_bytes()
    }
}

/// A growable set of slot numbers, one bit each.
#[derive(Debug, Default)]
struct SlotBits {
    words: Vec<u64>,
}

impl SlotBits {
    fn insert(&mut self, slot: u32) {
        let w = slot as usize / 64;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << (slot % 64);
    }

    /// Takes `slot` out; whether it was in.
    fn remove(&mut self, slot: u32) -> bool {
        let Some(w) = self.words.get_mut(slot as usize / 64) else {
            return false;
        };
        let bit = 1 << (slot % 64);
        let was = *w & bit != 0;
        *w &= !bit;
        was
    }

    #[cfg(any(test, feature = "invariants"))]
    fn contains(&self, slot: u32) -> bool {
        self.words
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(n: u8) -> Entry {
        Entry {
            id: ObjectId::from_bytes([n; 20]),
            offset: 0,
            data_size: 1,
            metadata_size: 2,
            owner: 0,
            create_time: 0,
            digest: [0; 8],
            construct_duration: -1,
            ref_count: 0,
            prev: NIL,
            next: NIL,
            state: State::Created,
            list: ListTag::None,
            delete_pending: false,
            released_ns: 0,
        }
    }

    #[test]
    fn entries_are_small() {
        assert!(
            std::mem::size_of::<Entry>() <= 96,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }

    #[test]
    fn slots_are_reused_and_ids_found() {
        let mut t = ObjectTable::default();
        let a = t.insert(entry(1)).unwrap();
        let b = t.insert(entry(2)).unwrap();
        assert_eq!(t.find(&ObjectId::from_bytes([2; 20])), Some(b));
        t.remove(a);
        assert_eq!(t.find(&ObjectId::from_bytes([1; 20])), None);
        let c = t.insert(entry(3)).unwrap();
        assert_eq!(c, a);
        assert_eq!(t.len(), 2);
        let ids: Vec<u8> = t.iter().map(|(_, e)| e.id.as_bytes()[0]).collect();
        assert_eq!(ids, vec![3, 2]);
    }

    #[test]
    fn a_deferred_removal_is_invisible_and_cleared_by_reuse() {
        let mut t = ObjectTable::default();
        let a = t.insert(entry(1)).unwrap();
        let b = t.insert(entry(2)).unwrap();
        t.remove_deferred(a);
        t.remove_deferred(b);
        t.check();
        assert_eq!(t.len(), 0);
        assert_eq!(t.find(&ObjectId::from_bytes([1; 20])), None);
        assert_eq!(t.iter().count(), 0);
        // Id 1 again: the slot freed last comes back, and its stale bucket
        // (for id 2) goes; id 1's stale bucket still does not match.
        let c = t.insert(entry(1)).unwrap();
        assert_eq!(c, b);
        t.check();
        assert_eq!(t.find(&ObjectId::from_bytes([1; 20])), Some(c));
        assert_eq!(t.find(&ObjectId::from_bytes([2; 20])), None);
        let d = t.insert(entry(3)).unwrap();
        assert_eq!(d, a);
        t.check();
        assert_eq!(t.len(), 2);
        assert_eq!(t.index.len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn deferred_and_immediate_removal_agree(
            ops in proptest::collection::vec((0u8..3, 0u8..40), 1..300),
        ) {
            // Two tables fed the same operations, one removing at once and
            // one deferring: same slots handed out, same lookups.
            let mut now = ObjectTable::default();
            let mut later = ObjectTable::default();
            for (op, n) in ops {
                let id = ObjectId::from_bytes([n; 20]);
                match (op, now.find(&id)) {
                    (0, None) => {
                        proptest::prop_assert_eq!(now.insert(entry(n)), later.insert(entry(n)));
                    }
                    (1, Some(s)) => {
                        now.remove(s);
                        later.remove_deferred(s);
                    }
                    (2, Some(s)) => {
                        now.remove(s);
                        later.remove(s);
                    }
                    _ => {}
                }
                later.check();
                proptest::prop_assert_eq!(now.len(), later.len());
                for m in 0..40u8 {
                    let id = ObjectId::from_bytes([m; 20]);
                    proptest::prop_assert_eq!(now.find(&id), later.find(&id));
                }
                let slots = |t: &ObjectTable| t.iter().map(|(s, e)| (s, e.id)).collect::<Vec<_>>();
                proptest::prop_assert_eq!(slots(&now), slots(&later));
            }
        }
    }

    #[test]
    fn list_info_hides_the_digest_while_unsealed() {
        let mut e = entry(1);
        assert_eq!(e.list_info().digest, None);
        e.state = State::Sealed;
        e.digest = [7; 8];
        assert_eq!(e.list_info().digest, Some([7; 8]));
        e.state = State::Evicted;
        assert_eq!(e.list_info().digest, Some([7; 8]));
        assert_eq!(e.spec(1).metadata_offset, 1);
    }
}
