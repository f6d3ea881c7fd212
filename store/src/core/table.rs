//! The object table: one compact entry per object, in a slab indexed by id.
//!
//! Entries are kept small (the target is well under 128 bytes of store
//! memory per object at a million objects): holders are not stored per
//! object — each client's held set is the source of truth and the entry
//! keeps only the count — and the LRU links are slot numbers inside the
//! entry.

use plasma_protocol::{Digest, ObjectId, ObjectInfo, ObjectSpec};

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
}

impl Entry {
    /// Data plus metadata bytes (what the budget counts, §10.2). Saturates;
    /// the create path refuses sizes whose sum overflows.
    pub fn size(&self) -> u64 {
        self.data_size.saturating_add(self.metadata_size)
    }

    /// Whether the object occupies arena memory.
    #[cfg(test)]
    pub fn is_resident(&self) -> bool {
        matches!(self.state, State::Created | State::Sealed)
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
    /// sealed, unsealed ones carry no digest.
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
}

impl ObjectTable {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The slot of `id`.
    pub fn find(&self, id: &ObjectId) -> Option<u32> {
        let entries = &self.entries;
        self.index.get(id, |s| entries[s as usize].id)
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

    /// Removes the entry in `slot` and returns a copy of it.
    pub fn remove(&mut self, slot: u32) -> Entry {
        let entries = &self.entries;
        let id = entries[slot as usize].id;
        self.index.remove(&id, |s| entries[s as usize].id);
        let e = &mut self.entries[slot as usize];
        let old = e.clone();
        e.state = State::Vacant;
        e.list = ListTag::None;
        self.free_slots.push(slot);
        old
    }

    /// Every live entry with its slot, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.state != State::Vacant)
            .map(|(s, e)| (s as u32, e))
    }

    /// Bytes of heap memory used by the table (entries and index).
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.free_slots.capacity() * 4
            + self.index.heap_bytes()
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
        }
    }

    #[test]
    fn entries_are_small() {
        assert!(
            std::mem::size_of::<Entry>() <= 88,
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
        assert_eq!(t.remove(a).id, ObjectId::from_bytes([1; 20]));
        assert_eq!(t.find(&ObjectId::from_bytes([1; 20])), None);
        let c = t.insert(entry(3)).unwrap();
        assert_eq!(c, a);
        assert_eq!(t.len(), 2);
        let ids: Vec<u8> = t.iter().map(|(_, e)| e.id.as_bytes()[0]).collect();
        assert_eq!(ids, vec![3, 2]);
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
