//! Word layouts of the two segments, the id hash and the slot encoding.
//!
//! Both segments are arrays of little-endian 64-bit words that start with an
//! 8-word header; docs/design.md ("Two more kinds of shared memory") has the
//! tables these constants implement.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ObjectId;

/// Words in each segment's header.
pub(super) const HEADER_WORDS: usize = 8;
/// Words per directory entry.
pub(super) const ENTRY_WORDS: usize = 8;
/// Longest run of buckets a lookup probes from an id's home bucket.
pub const MAX_PROBES: usize = 32;
/// Segment format version.
const VERSION: u64 = 1;
/// `PLDIR001`.
const DIRECTORY_MAGIC: u64 = u64::from_le_bytes(*b"PLDIR001");
/// `PLHOLD01`.
const HOLDS_MAGIC: u64 = u64::from_le_bytes(*b"PLHOLD01");

/// Header words of both segments.
pub(super) mod header {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 1;
    /// Directory: entries. Hold table: slots.
    pub const COUNT: usize = 2;
    /// Directory: buckets. Hold table: log records.
    pub const COUNT2: usize = 3;
    /// Directory: the probe bound.
    pub const PROBES: usize = 4;
    /// Hold table: records the client has written to its log, ever.
    pub const LOG_HEAD: usize = 4;
    /// Hold table: records the store has read from it, ever.
    pub const LOG_TAIL: usize = 5;
}

/// Word offsets within a directory entry.
pub(super) mod entry {
    pub const GEN: usize = 0;
    pub const ID: usize = 1; // three words
    pub const OFFSET: usize = 4;
    pub const DATA_SIZE: usize = 5;
    pub const METADATA_SIZE: usize = 6;
    pub const DIGEST: usize = 7;
}

/// Why a segment does not have the expected layout.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The magic word is not the segment kind's.
    #[error("not a {0} segment (wrong magic word)")]
    Magic(&'static str),
    /// A version this code does not know.
    #[error("segment version {0}, expected 1")]
    Version(u64),
    /// The header describes more words than the segment has, or numbers
    /// this code refuses (zero, not a power of two, too large).
    #[error("{0} segment header does not fit the segment")]
    Geometry(&'static str),
}

/// The shape of a directory: `entries` entries, `buckets` index buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectoryGeometry {
    /// Entries (entry i publishes the object in the store's table slot i).
    pub entries: usize,
    /// Index buckets, a power of two at least twice `entries`.
    pub buckets: usize,
}

impl DirectoryGeometry {
    /// The geometry for `entries` entries (at least 1, at most 2^31).
    pub fn for_entries(entries: usize) -> DirectoryGeometry {
        let entries = entries.clamp(1, 1 << 31);
        DirectoryGeometry {
            entries,
            buckets: (2 * entries).next_power_of_two(),
        }
    }

    /// Words the segment needs.
    pub fn words(&self) -> usize {
        HEADER_WORDS + ENTRY_WORDS * self.entries + self.buckets
    }

    /// Bytes the segment needs.
    pub fn bytes(&self) -> usize {
        self.words() * 8
    }

    pub(super) fn entry_word(&self, entry: usize, field: usize) -> usize {
        HEADER_WORDS + ENTRY_WORDS * entry + field
    }

    pub(super) fn bucket_word(&self, bucket: usize) -> usize {
        HEADER_WORDS + ENTRY_WORDS * self.entries + bucket
    }

    /// Writes the header into a fresh segment.
    pub fn init(&self, words: &[AtomicU64]) -> Result<(), LayoutError> {
        if words.len() < self.words() {
            return Err(LayoutError::Geometry("directory"));
        }
        let h = [
            DIRECTORY_MAGIC,
            VERSION,
            self.entries as u64,
            self.buckets as u64,
            MAX_PROBES as u64,
        ];
        for (w, v) in words.iter().zip(h) {
            w.store(v, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Reads and checks the header of a mapped directory.
    pub fn read(words: &[AtomicU64]) -> Result<DirectoryGeometry, LayoutError> {
        let h = read_header(words, DIRECTORY_MAGIC, "directory")?;
        let entries = usize::try_from(h[header::COUNT]).ok();
        let buckets = usize::try_from(h[header::COUNT2]).ok();
        let (Some(entries), Some(buckets)) = (entries, buckets) else {
            return Err(LayoutError::Geometry("directory"));
        };
        let geo = DirectoryGeometry { entries, buckets };
        let sane = (1..=1 << 31).contains(&entries)
            && buckets.is_power_of_two()
            && buckets >= 2 * entries
            && h[header::PROBES] == MAX_PROBES as u64
            && buckets
                .checked_add(entries.saturating_mul(ENTRY_WORDS))
                .and_then(|n| n.checked_add(HEADER_WORDS))
                .is_some_and(|n| n <= words.len());
        if sane {
            Ok(geo)
        } else {
            Err(LayoutError::Geometry("directory"))
        }
    }
}

/// The shape of a hold table: `slots` slots and a release log of `log`
/// records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldsGeometry {
    /// Hold slots.
    pub slots: usize,
    /// Release-log records (two words each).
    pub log: usize,
}

impl HoldsGeometry {
    /// The geometry every connection gets.
    pub const DEFAULT: HoldsGeometry = HoldsGeometry {
        slots: 1024,
        log: 1024,
    };

    /// Words the segment needs.
    pub fn words(&self) -> usize {
        HEADER_WORDS + self.slots + 2 * self.log
    }

    /// Bytes the segment needs.
    pub fn bytes(&self) -> usize {
        self.words() * 8
    }

    pub(super) fn slot_word(&self, slot: usize) -> usize {
        HEADER_WORDS + slot
    }

    pub(super) fn record_word(&self, record: usize) -> usize {
        HEADER_WORDS + self.slots + 2 * record
    }

    /// Writes the header into a fresh (zeroed) segment.
    pub fn init(&self, words: &[AtomicU64]) -> Result<(), LayoutError> {
        if words.len() < self.words() || self.slots == 0 || self.log == 0 {
            return Err(LayoutError::Geometry("hold table"));
        }
        let h = [HOLDS_MAGIC, VERSION, self.slots as u64, self.log as u64];
        for (w, v) in words.iter().zip(h) {
            w.store(v, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Reads and checks the header of a mapped hold table.
    pub fn read(words: &[AtomicU64]) -> Result<HoldsGeometry, LayoutError> {
        let h = read_header(words, HOLDS_MAGIC, "hold table")?;
        let slots = usize::try_from(h[header::COUNT]).ok();
        let log = usize::try_from(h[header::COUNT2]).ok();
        let (Some(slots), Some(log)) = (slots, log) else {
            return Err(LayoutError::Geometry("hold table"));
        };
        let geo = HoldsGeometry { slots, log };
        let fits = slots >= 1
            && log >= 1
            && slots <= 1 << 24
            && log <= 1 << 24
            && geo.words() <= words.len();
        if fits {
            Ok(geo)
        } else {
            Err(LayoutError::Geometry("hold table"))
        }
    }
}

fn read_header(
    words: &[AtomicU64],
    magic: u64,
    what: &'static str,
) -> Result<[u64; HEADER_WORDS], LayoutError> {
    let mut h = [0u64; HEADER_WORDS];
    if words.len() < HEADER_WORDS {
        return Err(LayoutError::Geometry(what));
    }
    for (v, w) in h.iter_mut().zip(words) {
        *v = w.load(Ordering::Relaxed);
    }
    if h[header::MAGIC] != magic {
        return Err(LayoutError::Magic(what));
    }
    if h[header::VERSION] != VERSION {
        return Err(LayoutError::Version(h[header::VERSION]));
    }
    Ok(h)
}

/// The id's hash: its low bits pick the home bucket, its high 32 bits are
/// the bucket's tag. Fixed by the format (both sides must agree).
pub fn id_hash(id: &ObjectId) -> u64 {
    let b = id.as_bytes();
    let word = |r: std::ops::Range<usize>| {
        let mut w = [0u8; 8];
        w[..r.len()].copy_from_slice(&b[r]);
        u64::from_le_bytes(w)
    };
    let h = mix(word(0..8));
    let h = mix(h ^ word(8..16));
    mix(h ^ word(16..20))
}

/// splitmix64's finalizer.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A free slot.
pub const HOLD_NONE: u64 = 0;

/// A slot's value for a hold on the object published in `entry` with
/// generation `gen` (its low 32 bits: a match on a generation 2^32 publishes
/// old only ever keeps an object longer, never frees one early).
pub fn pack_hold(entry: u32, gen: u64) -> u64 {
    ((u64::from(entry) + 1) << 32) | (gen & 0xffff_ffff)
}

/// `(entry, low 32 bits of gen)` of a slot value; `None` for a free slot.
pub fn unpack_hold(value: u64) -> Option<(u32, u32)> {
    let e = (value >> 32) as u32;
    e.checked_sub(1).map(|entry| (entry, value as u32))
}

/// The bucket value for `entry` with `hash`'s tag.
pub(super) fn bucket_value(hash: u64, entry: usize) -> u64 {
    ((hash >> 32) << 32) | (entry as u64 + 1)
}

/// The entry a bucket value names, and whether its tag is `hash`'s.
pub(super) fn bucket_entry(value: u64) -> Option<usize> {
    let e = (value & 0xffff_ffff) as usize;
    e.checked_sub(1)
}

pub(super) fn bucket_tag_matches(value: u64, hash: u64) -> bool {
    value >> 32 == hash >> 32
}

#[cfg(test)]
pub(super) fn zeroed(words: usize) -> Vec<AtomicU64> {
    (0..words).map(|_| AtomicU64::new(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_pack_and_unpack() {
        assert_eq!(unpack_hold(HOLD_NONE), None);
        let v = pack_hold(7, 0x1_0000_0003);
        assert_ne!(v, HOLD_NONE);
        assert_eq!(unpack_hold(v), Some((7, 3)));
        assert_eq!(
            unpack_hold(pack_hold(u32::MAX - 1, 1)),
            Some((u32::MAX - 1, 1))
        );
    }

    #[test]
    fn geometry_round_trips_through_the_header() {
        let geo = DirectoryGeometry::for_entries(100);
        assert_eq!(geo.buckets, 256);
        let w = zeroed(geo.words());
        geo.init(&w).unwrap();
        assert_eq!(DirectoryGeometry::read(&w), Ok(geo));
        // A segment shorter than its header says is refused.
        assert_eq!(
            DirectoryGeometry::read(&w[..geo.words() - 1]),
            Err(LayoutError::Geometry("directory"))
        );
        let h = HoldsGeometry::DEFAULT;
        let hw = zeroed(h.words());
        h.init(&hw).unwrap();
        assert_eq!(HoldsGeometry::read(&hw), Ok(h));
        assert_eq!(
            HoldsGeometry::read(&w),
            Err(LayoutError::Magic("hold table"))
        );
    }

    #[test]
    fn hostile_headers_are_refused() {
        let geo = DirectoryGeometry::for_entries(4);
        let w = zeroed(geo.words());
        geo.init(&w).unwrap();
        w[header::COUNT].store(u64::MAX, Ordering::Relaxed);
        assert!(DirectoryGeometry::read(&w).is_err());
        w[header::COUNT].store(4, Ordering::Relaxed);
        w[header::COUNT2].store(7, Ordering::Relaxed); // not a power of two
        assert!(DirectoryGeometry::read(&w).is_err());
        w[header::COUNT2].store(1 << 40, Ordering::Relaxed);
        assert!(DirectoryGeometry::read(&w).is_err());
    }

    #[test]
    fn the_hash_spreads_ids_that_differ_in_one_byte() {
        let mut homes = std::collections::HashSet::new();
        for i in 0..20 {
            let mut b = [0u8; 20];
            b[i] = 1;
            homes.insert(id_hash(&ObjectId::from_bytes(b)) & 1023);
        }
        assert!(homes.len() >= 18, "{homes:?}");
    }
}
