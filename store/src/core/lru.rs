//! Intrusive recency lists over the object table's slots.
//!
//! Used for the global LRU (sealed, unheld objects, ordered by last release,
//! protocol.md §14.9) and for each quota client's list of owned objects
//! (ordered by creation, §10.13). An entry is in at most one list; its
//! `list` tag says which.

use super::table::{ListTag, ObjectTable, NIL};

/// A doubly linked list of slots: `head` is the least recent end.
#[derive(Clone, Debug)]
pub struct LruList {
    tag: ListTag,
    head: u32,
    tail: u32,
    len: usize,
    bytes: u64,
}

impl LruList {
    /// An empty list whose members carry `tag`.
    pub fn new(tag: ListTag) -> Self {
        Self {
            tag,
            head: NIL,
            tail: NIL,
            len: 0,
            bytes: 0,
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Σ data+metadata sizes of the members.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The least recent member.
    pub fn front(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    /// Appends `slot` at the most recent end. The entry must be in no list.
    pub fn push_back(&mut self, table: &mut ObjectTable, slot: u32) {
        let tail = self.tail;
        let e = table.get_mut(slot);
        debug_assert_eq!(e.list, ListTag::None);
        e.list = self.tag;
        e.prev = tail;
        e.next = NIL;
        self.bytes += e.size();
        if tail == NIL {
            self.head = slot;
        } else {
            table.get_mut(tail).next = slot;
        }
        self.tail = slot;
        self.len += 1;
    }

    /// Unlinks `slot`, which must be a member of this list.
    pub fn remove(&mut self, table: &mut ObjectTable, slot: u32) {
        let e = table.get_mut(slot);
        debug_assert_eq!(e.list, self.tag);
        let (prev, next) = (e.prev, e.next);
        e.list = ListTag::None;
        e.prev = NIL;
        e.next = NIL;
        self.bytes -= e.size();
        if prev == NIL {
            self.head = next;
        } else {
            table.get_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            table.get_mut(next).prev = prev;
        }
        self.len -= 1;
    }

    /// Moves a member to the most recent end.
    pub fn touch(&mut self, table: &mut ObjectTable, slot: u32) {
        self.remove(table, slot);
        self.push_back(table, slot);
    }

    /// Members from least to most recent.
    #[cfg(any(test, feature = "invariants"))]
    pub fn slots<'t>(&self, table: &'t ObjectTable) -> impl Iterator<Item = u32> + 't {
        let mut cur = self.head;
        std::iter::from_fn(move || {
            (cur != NIL).then(|| {
                let s = cur;
                cur = table.get(s).next;
                s
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{Entry, State};
    use super::*;
    use plasma_protocol::ObjectId;

    fn table_with(n: u8) -> (ObjectTable, Vec<u32>) {
        let mut t = ObjectTable::default();
        let slots = (0..n)
            .map(|i| {
                t.insert(Entry {
                    id: ObjectId::from_bytes([i; 20]),
                    offset: 0,
                    data_size: u64::from(i),
                    metadata_size: 0,
                    owner: 0,
                    create_time: 0,
                    digest: [0; 8],
                    construct_duration: 0,
                    ref_count: 0,
                    prev: NIL,
                    next: NIL,
                    state: State::Sealed,
                    list: ListTag::None,
                    delete_pending: false,
                })
                .unwrap()
            })
            .collect();
        (t, slots)
    }

    #[test]
    fn push_remove_touch_keep_order_and_bytes() {
        let (mut t, s) = table_with(5);
        let mut l = LruList::new(ListTag::Global);
        for &x in &s {
            l.push_back(&mut t, x);
        }
        assert_eq!(l.bytes(), 10);
        l.remove(&mut t, s[2]);
        l.touch(&mut t, s[0]);
        assert_eq!(
            l.slots(&t).collect::<Vec<_>>(),
            vec![s[1], s[3], s[4], s[0]]
        );
        assert_eq!(l.front(), Some(s[1]));
        assert_eq!((l.len(), l.bytes()), (4, 8));
        assert_eq!(t.get(s[2]).list, ListTag::None);
        for &x in &[s[1], s[3], s[4], s[0]] {
            l.remove(&mut t, x);
        }
        assert_eq!(l.len(), 0);
        assert_eq!(l.front(), None);
    }
}
