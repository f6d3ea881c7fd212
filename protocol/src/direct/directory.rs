//! The directory of sealed objects: the lookup clients do ([`Directory`])
//! and the updates only the store makes ([`DirectoryWriter`]).
//!
//! An entry is read like a seqlock: `gen`, the fields, `gen` again; it is
//! usable only if both reads gave the same odd value. The store writes an
//! entry's fields only while `gen` is even (sharing contract, rule 6). Reads
//! of the directory are relaxed loads with explicit fences: clients map it
//! read-only, where only relaxed loads of at most a word are allowed.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::layout::{
    bucket_entry, bucket_tag_matches, bucket_value, entry, id_hash, DirectoryGeometry, LayoutError,
    MAX_PROBES,
};
use crate::{Digest, ObjectId};

/// A consistent copy of one published entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The entry (the store's table slot).
    pub entry: u32,
    /// Its generation when copied (odd).
    pub gen: u64,
    /// Where the data starts in the arena.
    pub data_offset: u64,
    /// Data bytes (the metadata follows them).
    pub data_size: u64,
    /// Metadata bytes.
    pub metadata_size: u64,
    /// The digest the sealer sent.
    pub digest: Digest,
}

/// A read view of a mapped directory.
#[derive(Clone, Copy, Debug)]
pub struct Directory<'a> {
    words: &'a [AtomicU64],
    geo: DirectoryGeometry,
}

/// Odd generations describe a published object.
pub(super) fn is_live(gen: u64) -> bool {
    gen & 1 == 1
}

fn id_words(id: &ObjectId) -> [u64; 3] {
    let b = id.as_bytes();
    let mut w = [[0u8; 8]; 3];
    w[0].copy_from_slice(&b[0..8]);
    w[1].copy_from_slice(&b[8..16]);
    w[2][..4].copy_from_slice(&b[16..20]);
    w.map(u64::from_le_bytes)
}

impl<'a> Directory<'a> {
    /// A view of `words`, whose header must describe a directory that fits.
    pub fn open(words: &'a [AtomicU64]) -> Result<Directory<'a>, LayoutError> {
        let geo = DirectoryGeometry::read(words)?;
        Ok(Directory { words, geo })
    }

    /// The directory's shape.
    pub fn geometry(&self) -> DirectoryGeometry {
        self.geo
    }

    fn load(&self, word: usize) -> u64 {
        // `open` checked that every word the geometry names exists.
        self.words
            .get(word)
            .map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// The published object `id`, if the index leads to it now. `None` also
    /// when an update raced the lookup: the caller then asks the store.
    pub fn lookup(&self, id: &ObjectId) -> Option<Snapshot> {
        let hash = id_hash(id);
        let mask = self.geo.buckets - 1;
        let mut b = hash as usize & mask;
        for _ in 0..MAX_PROBES {
            let v = self.load(self.geo.bucket_word(b));
            if v == 0 {
                return None;
            }
            if bucket_tag_matches(v, hash) {
                if let Some(e) = bucket_entry(v).filter(|&e| e < self.geo.entries) {
                    if let Some(s) = self.snapshot(e, id) {
                        return Some(s);
                    }
                }
            }
            b = (b + 1) & mask;
        }
        None
    }

    fn snapshot(&self, e: usize, id: &ObjectId) -> Option<Snapshot> {
        let w = |field| self.geo.entry_word(e, field);
        let g1 = self.load(w(entry::GEN));
        if !is_live(g1) {
            return None;
        }
        fence(Ordering::Acquire);
        let ids = [
            self.load(w(entry::ID)),
            self.load(w(entry::ID + 1)),
            self.load(w(entry::ID + 2)),
        ];
        let data_offset = self.load(w(entry::OFFSET));
        let data_size = self.load(w(entry::DATA_SIZE));
        let metadata_size = self.load(w(entry::METADATA_SIZE));
        let digest = self.load(w(entry::DIGEST)).to_le_bytes();
        fence(Ordering::Acquire);
        let g2 = self.load(w(entry::GEN));
        (g1 == g2 && ids == id_words(id)).then_some(Snapshot {
            entry: e as u32,
            gen: g1,
            data_offset,
            data_size,
            metadata_size,
            digest,
        })
    }

    /// The current generation of `entry` (`None` if out of range). The
    /// re-check of the hold protocol: call it after the claim and a
    /// sequentially consistent fence.
    pub fn gen(&self, entry: u32) -> Option<u64> {
        let e = entry as usize;
        (e < self.geo.entries).then(|| self.load(self.geo.entry_word(e, entry::GEN)))
    }
}

/// The store's writable view of its directory.
#[derive(Clone, Copy, Debug)]
pub struct DirectoryWriter<'a> {
    words: &'a [AtomicU64],
    geo: DirectoryGeometry,
}

/// What a publish needs to know of the object.
#[derive(Clone, Copy, Debug)]
pub struct Published {
    /// Its id.
    pub id: ObjectId,
    /// Where its data starts.
    pub data_offset: u64,
    /// Data bytes.
    pub data_size: u64,
    /// Metadata bytes.
    pub metadata_size: u64,
    /// Its digest.
    pub digest: Digest,
}

impl<'a> DirectoryWriter<'a> {
    /// Lays out a fresh (zeroed) segment of at least `geo.words()` words.
    pub fn init(
        words: &'a [AtomicU64],
        geo: DirectoryGeometry,
    ) -> Result<DirectoryWriter<'a>, LayoutError> {
        geo.init(words)?;
        Ok(DirectoryWriter { words, geo })
    }

    /// A writer over a directory `init` laid out.
    pub fn open(words: &'a [AtomicU64]) -> Result<DirectoryWriter<'a>, LayoutError> {
        let geo = DirectoryGeometry::read(words)?;
        Ok(DirectoryWriter { words, geo })
    }

    /// A writer over `words` laid out with `geo` by `init` earlier (the
    /// store's own segment: no header to check again). `None` if `words` is
    /// shorter than `geo` needs.
    pub fn with_geometry(
        words: &'a [AtomicU64],
        geo: DirectoryGeometry,
    ) -> Option<DirectoryWriter<'a>> {
        (words.len() >= geo.words()).then_some(DirectoryWriter { words, geo })
    }

    /// The directory's shape.
    pub fn geometry(&self) -> DirectoryGeometry {
        self.geo
    }

    fn word(&self, i: usize) -> Option<&AtomicU64> {
        self.words.get(i)
    }

    fn load(&self, i: usize) -> u64 {
        self.word(i).map_or(0, |w| w.load(Ordering::Relaxed))
    }

    fn store(&self, i: usize, v: u64, order: Ordering) {
        if let Some(w) = self.word(i) {
            w.store(v, order);
        }
    }

    /// The generation of `entry` (0 for one out of range).
    pub fn gen(&self, entry: u32) -> u64 {
        let e = entry as usize;
        if e >= self.geo.entries {
            return 0;
        }
        self.load(self.geo.entry_word(e, entry::GEN))
    }

    /// Publishes `object` in `entry`, which must not be published now.
    /// Returns its new (odd) generation, or `None` when the entry is out of
    /// range or the index has no free bucket within the probe bound (the
    /// object then stays unpublished; fast gets miss it).
    pub fn publish(&self, entry: u32, object: &Published) -> Option<u64> {
        let e = entry as usize;
        if e >= self.geo.entries {
            return None;
        }
        let gen_word = self.geo.entry_word(e, entry::GEN);
        let gen = self.load(gen_word);
        debug_assert!(!is_live(gen), "publishing a published entry");
        if is_live(gen) {
            return None;
        }
        let hash = id_hash(&object.id);
        let mask = self.geo.buckets - 1;
        let mut b = hash as usize & mask;
        let mut free = None;
        for _ in 0..MAX_PROBES {
            if self.load(self.geo.bucket_word(b)) == 0 {
                free = Some(b);
                break;
            }
            b = (b + 1) & mask;
        }
        let bucket = free?;
        // Fields first, while `gen` is even; readers ignore the entry until
        // the release store below makes it odd.
        fence(Ordering::Release);
        let w = |field| self.geo.entry_word(e, field);
        let ids = id_words(&object.id);
        for (k, v) in ids.into_iter().enumerate() {
            self.store(w(entry::ID + k), v, Ordering::Relaxed);
        }
        self.store(w(entry::OFFSET), object.data_offset, Ordering::Relaxed);
        self.store(w(entry::DATA_SIZE), object.data_size, Ordering::Relaxed);
        self.store(
            w(entry::METADATA_SIZE),
            object.metadata_size,
            Ordering::Relaxed,
        );
        self.store(
            w(entry::DIGEST),
            u64::from_le_bytes(object.digest),
            Ordering::Relaxed,
        );
        let gen = gen.wrapping_add(1);
        self.store(gen_word, gen, Ordering::Release);
        self.store(
            self.geo.bucket_word(bucket),
            bucket_value(hash, e),
            Ordering::Release,
        );
        Some(gen)
    }

    /// Retires the published `entry`: its generation becomes even (no new
    /// hold can pass its re-check) and the index forgets it. The caller
    /// fences (sequentially consistent) before it scans the hold tables.
    pub fn retire(&self, entry: u32) {
        let e = entry as usize;
        if e >= self.geo.entries {
            return;
        }
        let gen_word = self.geo.entry_word(e, entry::GEN);
        let gen = self.load(gen_word);
        if !is_live(gen) {
            return;
        }
        self.store(gen_word, gen.wrapping_add(1), Ordering::Relaxed);
        self.unindex(e);
    }

    /// The id stored in entry `e` (kept after a retire).
    fn entry_hash(&self, e: usize) -> u64 {
        let w = |k| self.load(self.geo.entry_word(e, entry::ID + k));
        let mut b = [0u8; 20];
        b[0..8].copy_from_slice(&w(0).to_le_bytes());
        b[8..16].copy_from_slice(&w(1).to_le_bytes());
        b[16..20].copy_from_slice(&w(2).to_le_bytes()[..4]);
        id_hash(&ObjectId::from_bytes(b))
    }

    /// Removes entry `e`'s bucket, shifting later buckets of the same run
    /// back (no tombstones, every entry stays within the probe bound of its
    /// home). A reader racing a shift may miss an entry and ask the store.
    fn unindex(&self, e: usize) {
        let mask = self.geo.buckets - 1;
        let home = |hash: u64| hash as usize & mask;
        let mut hole = home(self.entry_hash(e));
        let mut found = false;
        for _ in 0..MAX_PROBES {
            let v = self.load(self.geo.bucket_word(hole));
            if v == 0 {
                break;
            }
            if bucket_entry(v) == Some(e) {
                found = true;
                break;
            }
            hole = (hole + 1) & mask;
        }
        if !found {
            return;
        }
        let mut next = (hole + 1) & mask;
        for _ in 0..self.geo.buckets {
            let v = self.load(self.geo.bucket_word(next));
            let Some(moved) = bucket_entry(v) else {
                break;
            };
            let h = home(self.entry_hash(moved));
            // `moved` may fill the hole if the hole lies on its probe path,
            // i.e. between its home and its bucket.
            let dist_hole = hole.wrapping_sub(h) & mask;
            let dist_next = next.wrapping_sub(h) & mask;
            if dist_hole < dist_next {
                self.store(self.geo.bucket_word(hole), v, Ordering::Release);
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.store(self.geo.bucket_word(hole), 0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::zeroed;
    use super::*;

    fn object(n: u32) -> Published {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&n.to_le_bytes());
        Published {
            id: ObjectId::from_bytes(b),
            data_offset: 64 * u64::from(n),
            data_size: u64::from(n),
            metadata_size: 3,
            digest: [n as u8; 8],
        }
    }

    #[test]
    fn published_objects_are_found_and_retired_ones_are_not() {
        let geo = DirectoryGeometry::for_entries(8);
        let w = zeroed(geo.words());
        let dw = DirectoryWriter::init(&w, geo).unwrap();
        let gen = dw.publish(3, &object(42)).unwrap();
        assert!(is_live(gen));
        let d = Directory::open(&w).unwrap();
        let s = d.lookup(&object(42).id).unwrap();
        assert_eq!(
            (s.entry, s.gen, s.data_offset, s.data_size, s.metadata_size),
            (3, gen, 64 * 42, 42, 3)
        );
        assert_eq!(s.digest, [42; 8]);
        assert_eq!(d.lookup(&object(43).id), None);
        dw.retire(3);
        assert_eq!(d.gen(3), Some(gen + 1));
        assert_eq!(d.lookup(&object(42).id), None);
        // Published again (another object in the same entry): a new gen.
        let again = dw.publish(3, &object(7)).unwrap();
        assert_eq!(again, gen + 2);
        assert_eq!(d.lookup(&object(7).id).unwrap().gen, again);
        assert_eq!(d.gen(8), None);
    }

    #[test]
    fn a_torn_or_foreign_entry_is_never_returned() {
        let geo = DirectoryGeometry::for_entries(4);
        let w = zeroed(geo.words());
        let dw = DirectoryWriter::init(&w, geo).unwrap();
        dw.publish(1, &object(5)).unwrap();
        // Mid-update (gen odd -> even by a writer): no snapshot.
        let gen_word = geo.entry_word(1, entry::GEN);
        let g = w[gen_word].load(Ordering::Relaxed);
        w[gen_word].store(g + 1, Ordering::Relaxed);
        assert_eq!(Directory::open(&w).unwrap().lookup(&object(5).id), None);
        w[gen_word].store(g, Ordering::Relaxed);
        // A bucket naming an entry past the end is ignored.
        let b = id_hash(&object(5).id) as usize & (geo.buckets - 1);
        w[geo.bucket_word(b)].store(
            bucket_value(id_hash(&object(5).id), 1000),
            Ordering::Relaxed,
        );
        assert_eq!(Directory::open(&w).unwrap().lookup(&object(5).id), None);
    }

    proptest::proptest! {
        #[test]
        fn index_stays_exact_through_any_publish_and_retire(
            ops in proptest::collection::vec((0u32..40, proptest::bool::ANY), 1..400),
        ) {
            // 40 ids over 64 entries: collisions and long runs happen.
            let geo = DirectoryGeometry::for_entries(64);
            let w = zeroed(geo.words());
            let dw = DirectoryWriter::init(&w, geo).unwrap();
            let d = Directory::open(&w).unwrap();
            let mut live: std::collections::HashMap<u32, u32> = Default::default();
            let mut free: Vec<u32> = (0..64).rev().collect();
            for (n, publish) in ops {
                match (publish, live.get(&n).copied()) {
                    (true, None) => {
                        let e = free.pop().unwrap();
                        if dw.publish(e, &object(n)).is_some() {
                            live.insert(n, e);
                        } else {
                            free.push(e);
                        }
                    }
                    (false, Some(e)) => {
                        dw.retire(e);
                        live.remove(&n);
                        free.push(e);
                    }
                    _ => {}
                }
                for m in 0..40u32 {
                    let found = d.lookup(&object(m).id).map(|s| s.entry);
                    proptest::prop_assert_eq!(found, live.get(&m).copied(), "id {}", m);
                }
            }
        }
    }
}
