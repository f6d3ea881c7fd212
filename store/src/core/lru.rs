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
        self.insert_after(table, self.tail, slot);
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

    /// Moves a member to its place by `released_ns`, which becomes `at`:
    /// after every member released at or before `at`.
    #[cfg(test)]
    pub fn place(&mut self, table: &mut ObjectTable, slot: u32, at: u64) {
        self.place_all(table, &mut [(slot, at)]);
    }

    /// [`LruList::place`] for several members (distinct slots) at once.
    /// The list is ordered by `released_ns`, so one walk from the recent
    /// end, in descending time, places them all, passing only the members
    /// released after the earliest of them.
    pub fn place_all(&mut self, table: &mut ObjectTable, moves: &mut [(u32, u64)]) {
        for &(slot, at) in moves.iter() {
            self.remove(table, slot);
            table.get_mut(slot).released_ns = at;
        }
        // Latest first; among equal times the later-listed goes later.
        moves.sort_by_key(|&(slot, at)| std::cmp::Reverse((at, slot)));
        let mut after = self.tail;
        for &(slot, at) in moves.iter() {
            while after != NIL && table.get(after).released_ns > at {
                after = table.get(after).prev;
            }
            self.insert_after(table, after, slot);
        }
    }

    /// Links `slot` (in no list) right after `after` (NIL: at the front).
    fn insert_after(&mut self, table: &mut ObjectTable, after: u32, slot: u32) {
        let next = if after == NIL {
            self.head
        } else {
            table.get(after).next
        };
        let e = table.get_mut(slot);
        debug_assert_eq!(e.list, ListTag::None);
        e.list = self.tag;
        e.prev = after;
        e.next = next;
        self.bytes += e.size();
        if after == NIL {
            self.head = slot;
        } else {
            table.get_mut(after).next = slot;
        }
        if next == NIL {
            self.tail = slot;
        } else {
            table.get_mut(next).prev = slot;
        }
        self.len += 1;
    }

    /// Members from least to most recent.
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
                    released_ns: 0,
                })
                .unwrap()
            })
            .collect();
        (t, slots)
    }

    #[test]
    fn a_late_release_is_placed_by_its_time() {
        let (mut t, s) = table_with(5);
        let mut l = LruList::new(ListTag::Global);
        for (i, &x) in s[..4].iter().enumerate() {
            t.get_mut(x).released_ns = 10 * (i as u64 + 1);
            l.push_back(&mut t, x);
        }
        // s[3] (time 40) read late as released at 15: between s[0] and s[1].
        l.place(&mut t, s[3], 15);
        assert_eq!(
            l.slots(&t).collect::<Vec<_>>(),
            vec![s[0], s[3], s[1], s[2]]
        );
        // Before everything, and after everything.
        l.place(&mut t, s[2], 1);
        assert_eq!(l.front(), Some(s[2]));
        l.place(&mut t, s[2], 99);
        assert_eq!(l.slots(&t).last(), Some(s[2]));
        // Equal times keep their order: the placed one goes after.
        l.place(&mut t, s[0], 20);
        assert_eq!(
            l.slots(&t).collect::<Vec<_>>(),
            vec![s[3], s[1], s[0], s[2]]
        );
        assert_eq!((l.len(), l.bytes()), (4, 6));
        // Several at once, any order of input.
        l.place_all(&mut t, &mut [(s[1], 5), (s[2], 16), (s[3], 17)]);
        assert_eq!(
            l.slots(&t).collect::<Vec<_>>(),
            vec![s[1], s[2], s[3], s[0]]
        );
        let times: Vec<u64> = l.slots(&t).map(|x| t.get(x).released_ns).collect();
        assert_eq!(times, vec![5, 16, 17, 20]);
    }

    #[test]
    fn push_remove_and_move_keep_order_and_bytes() {
        let (mut t, s) = table_with(5);
        let mut l = LruList::new(ListTag::Global);
        for &x in &s {
            l.push_back(&mut t, x);
        }
        assert_eq!(l.bytes(), 10);
        l.remove(&mut t, s[2]);
        l.remove(&mut t, s[0]);
        l.push_back(&mut t, s[0]);
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
