//! Extent allocator for the arena.
//!
//! All bookkeeping lives in the store's own memory, never in the shared
//! arena, so no client can corrupt it. Offsets are multiples of
//! [`ALIGN`] (protocol.md §7: the real store hands out 64-byte aligned
//! offsets), and every object gets at least one 64-byte block, so
//! zero-size objects still have distinct offsets.
//!
//! Free space is a set of extents indexed twice: by offset (to coalesce
//! neighbours on free) and by `(len, offset)` (best fit on alloc). Both
//! operations are O(log n) in the number of free extents.

use std::collections::{BTreeMap, BTreeSet};

/// Alignment of every extent's offset and granularity of its length.
pub const ALIGN: u64 = 64;

/// A block of the arena: `len` bytes at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Extent {
    /// Start, a multiple of [`ALIGN`].
    pub offset: u64,
    /// Length, a non-zero multiple of [`ALIGN`].
    pub len: u64,
}

impl Extent {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// The extent length an object of `size` bytes occupies, or `None` if it
/// cannot be represented.
pub fn block_len(size: u64) -> Option<u64> {
    let rounded = size.checked_add(ALIGN - 1)? / ALIGN * ALIGN;
    Some(rounded.max(ALIGN))
}

/// A run of adjacent extents not yet returned to the allocator, built by
/// [`Allocator::free_merging`]; pass it to [`Allocator::flush`].
#[derive(Debug, Default)]
#[must_use = "the run is freed only by Allocator::flush"]
pub struct PendingFree(Option<Extent>);

/// Best-fit allocator over `[0, region)` with coalescing.
#[derive(Clone, Debug)]
pub struct Allocator {
    region: u64,
    /// Free extents: offset → len.
    by_offset: BTreeMap<u64, u64>,
    /// Free extents: (len, offset).
    by_size: BTreeSet<(u64, u64)>,
    free_bytes: u64,
}

impl Allocator {
    /// An allocator whose region is `len` rounded down to [`ALIGN`].
    pub fn new(len: u64) -> Self {
        let region = len / ALIGN * ALIGN;
        let mut a = Self {
            region,
            by_offset: BTreeMap::new(),
            by_size: BTreeSet::new(),
            free_bytes: 0,
        };
        if region > 0 {
            a.insert_free(0, region);
        }
        a
    }

    /// Size of the managed region.
    pub fn region(&self) -> u64 {
        self.region
    }

    /// Bytes currently free (in extents, including alignment slack).
    pub fn free_bytes(&self) -> u64 {
        self.free_bytes
    }

    /// Number of free extents (1 when everything is free).
    pub fn free_extent_count(&self) -> usize {
        self.by_offset.len()
    }

    /// The free extents in offset order.
    pub fn free_extents(&self) -> impl Iterator<Item = Extent> + '_ {
        self.by_offset
            .iter()
            .map(|(&offset, &len)| Extent { offset, len })
    }

    /// Allocates room for an object of `size` bytes (lowest offset among the
    /// smallest holes that fit). `None` if no hole is big enough.
    pub fn alloc(&mut self, size: u64) -> Option<Extent> {
        let len = block_len(size)?;
        let &(hole_len, offset) = self.by_size.range((len, 0)..).next()?;
        self.remove_free(offset, hole_len);
        if hole_len > len {
            self.insert_free(offset + len, hole_len - len);
        }
        Some(Extent { offset, len })
    }

    /// Returns an extent obtained from [`Allocator::alloc`], merging it with
    /// free neighbours.
    pub fn free(&mut self, extent: Extent) {
        let Extent {
            mut offset,
            mut len,
        } = extent;
        debug_assert!(extent.end() <= self.region, "extent outside the region");
        if let Some((&prev_off, &prev_len)) = self.by_offset.range(..offset).next_back() {
            debug_assert!(prev_off + prev_len <= offset, "double free");
            if prev_off + prev_len == offset {
                self.remove_free(prev_off, prev_len);
                offset = prev_off;
                len += prev_len;
            }
        }
        if let Some(&next_len) = self.by_offset.get(&(offset + len)) {
            self.remove_free(offset + len, next_len);
            len += next_len;
        }
        self.insert_free(offset, len);
    }

    /// Frees many extents, with the same result as one [`Allocator::free`]
    /// each (free extents are always maximal, so the order does not
    /// matter). Consecutive extents that touch are merged first, so the
    /// free maps are touched once per run rather than once per extent.
    pub fn free_all(&mut self, extents: impl IntoIterator<Item = Extent>) {
        let mut pending = PendingFree::default();
        for e in extents {
            self.free_merging(&mut pending, e);
        }
        self.flush(pending);
    }

    /// Frees `extent` by way of `pending`: while extents arrive adjacent to
    /// the run it holds (objects evicted in the order they were allocated
    /// usually are), they only extend it; [`Allocator::flush`] frees the
    /// last run. Until then the run's bytes are neither free nor allocated.
    pub fn free_merging(&mut self, pending: &mut PendingFree, extent: Extent) {
        pending.0 = match pending.0 {
            Some(r) if r.end() == extent.offset => Some(Extent {
                offset: r.offset,
                len: r.len + extent.len,
            }),
            Some(r) if extent.end() == r.offset => Some(Extent {
                offset: extent.offset,
                len: r.len + extent.len,
            }),
            Some(r) => {
                self.free(r);
                Some(extent)
            }
            None => Some(extent),
        };
    }

    /// Frees the run `pending` holds.
    pub fn flush(&mut self, pending: PendingFree) {
        if let Some(r) = pending.0 {
            self.free(r);
        }
    }

    fn insert_free(&mut self, offset: u64, len: u64) {
        self.by_offset.insert(offset, len);
        self.by_size.insert((len, offset));
        self.free_bytes += len;
    }

    fn remove_free(&mut self, offset: u64, len: u64) {
        self.by_offset.remove(&offset);
        self.by_size.remove(&(len, offset));
        self.free_bytes -= len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_size_objects_get_distinct_aligned_blocks() {
        let mut a = Allocator::new(1024);
        let x = a.alloc(0).unwrap();
        let y = a.alloc(0).unwrap();
        assert_ne!(x.offset, y.offset);
        assert_eq!((x.len, y.len), (64, 64));
        assert_eq!(x.offset % 64, 0);
        assert_eq!(y.offset % 64, 0);
    }

    #[test]
    fn an_object_of_exactly_the_region_fits_once() {
        let mut a = Allocator::new(100 * 64);
        let e = a.alloc(100 * 64).unwrap();
        assert_eq!(
            e,
            Extent {
                offset: 0,
                len: 6400
            }
        );
        assert_eq!(a.alloc(0), None);
        a.free(e);
        assert_eq!(a.free_extent_count(), 1);
        assert_eq!(a.free_bytes(), 6400);
    }

    #[test]
    fn region_is_rounded_down_and_oversize_fails() {
        let mut a = Allocator::new(1000);
        assert_eq!(a.region(), 960);
        assert_eq!(a.alloc(961), None);
        assert_eq!(a.alloc(u64::MAX), None);
        assert!(a.alloc(960).is_some());
        assert_eq!(Allocator::new(10).alloc(0), None);
    }

    #[test]
    fn freeing_the_middle_then_neighbours_coalesces() {
        let mut a = Allocator::new(64 * 10);
        let x = a.alloc(64).unwrap();
        let y = a.alloc(64).unwrap();
        let z = a.alloc(64).unwrap();
        a.free(y);
        assert_eq!(a.free_extent_count(), 2);
        a.free(x);
        assert_eq!(a.free_extent_count(), 2);
        a.free(z);
        assert_eq!(a.free_extent_count(), 1);
        assert_eq!(a.free_bytes(), 640);
    }

    #[test]
    fn best_fit_prefers_the_smallest_hole() {
        let mut a = Allocator::new(64 * 20);
        let big = a.alloc(64 * 4).unwrap();
        let _sep1 = a.alloc(64).unwrap();
        let small = a.alloc(64).unwrap();
        let _sep2 = a.alloc(64).unwrap();
        a.free(big);
        a.free(small);
        assert_eq!(a.alloc(10).unwrap().offset, small.offset);
        assert_eq!(a.alloc(64 * 3).unwrap().offset, big.offset);
    }

    #[test]
    fn a_million_blocks_are_fast() {
        let mut a = Allocator::new(64 * 1_000_000);
        let v: Vec<_> = (0..1_000_000).map(|_| a.alloc(1).unwrap()).collect();
        assert_eq!(a.alloc(1), None);
        for e in v.iter().step_by(2) {
            a.free(*e);
        }
        assert_eq!(a.free_extent_count(), 500_000);
        for e in v.iter().skip(1).step_by(2) {
            a.free(*e);
        }
        assert_eq!(a.free_extent_count(), 1);
    }

    #[test]
    fn free_all_merges_runs_in_either_direction() {
        let mut a = Allocator::new(64 * 10);
        let v: Vec<_> = (0..10).map(|_| a.alloc(64).unwrap()).collect();
        a.free_all([v[1], v[2], v[3], v[6], v[5], v[8]]);
        let free: Vec<_> = a.free_extents().map(|e| (e.offset, e.len)).collect();
        assert_eq!(free, vec![(64, 192), (320, 128), (512, 64)]);
        a.free_all(std::iter::empty());
        a.free_all([v[0], v[4], v[7], v[9]]);
        assert_eq!(a.free_extent_count(), 1);
        assert_eq!(a.free_bytes(), 640);
    }

    proptest! {
        #[test]
        fn free_all_equals_freeing_one_by_one(
            sizes in proptest::collection::vec(0u64..300, 1..80),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 0..80),
            keep in proptest::collection::vec(any::<bool>(), 80),
        ) {
            let mut a = Allocator::new(64 * 400);
            let mut live: Vec<Extent> = sizes.iter().filter_map(|&s| a.alloc(s)).collect();
            // Some extents stay allocated; the rest are freed, partly in
            // allocation order (runs), partly shuffled.
            let mut doomed: Vec<Extent> = Vec::new();
            for (i, e) in live.drain(..).enumerate() {
                if !keep[i] {
                    doomed.push(e);
                }
            }
            for (i, pick) in order.iter().enumerate() {
                let n = doomed.len();
                if n > 0 {
                    doomed.swap(i % n, pick.index(n));
                }
            }
            let mut one_by_one = a.clone();
            for &e in &doomed {
                one_by_one.free(e);
            }
            a.free_all(doomed.iter().copied());
            prop_assert_eq!(a.free_extents().collect::<Vec<_>>(), one_by_one.free_extents().collect::<Vec<_>>());
            prop_assert_eq!(&a.by_size, &one_by_one.by_size);
            prop_assert_eq!(a.free_bytes(), one_by_one.free_bytes());
        }

        #[test]
        fn random_alloc_free_never_overlaps(
            region_blocks in 1u64..200,
            ops in proptest::collection::vec((any::<bool>(), 0u64..2000, any::<prop::sample::Index>()), 1..300),
        ) {
            let mut a = Allocator::new(region_blocks * 64);
            let mut live: Vec<Extent> = Vec::new();
            for (is_alloc, size, pick) in ops {
                if is_alloc || live.is_empty() {
                    if let Some(e) = a.alloc(size) {
                        prop_assert_eq!(e.offset % 64, 0);
                        prop_assert!(e.len >= size.max(1));
                        prop_assert!(e.end() <= a.region());
                        live.push(e);
                    }
                } else {
                    let e = live.swap_remove(pick.index(live.len()));
                    a.free(e);
                }
                let mut all: Vec<Extent> = live.iter().copied().chain(a.free_extents()).collect();
                all.sort();
                let mut pos = 0;
                for e in &all {
                    prop_assert_eq!(e.offset, pos, "gap or overlap at {}", pos);
                    pos = e.end();
                }
                prop_assert_eq!(pos, a.region());
                // Free extents never touch each other.
                let free: Vec<Extent> = a.free_extents().collect();
                for w in free.windows(2) {
                    prop_assert!(w[0].end() < w[1].offset);
                }
            }
            for e in live.drain(..) {
                a.free(e);
            }
            prop_assert_eq!(a.free_extent_count(), 1);
            prop_assert_eq!(a.free_bytes(), a.region());
            prop_assert!(a.alloc(a.region()).is_some());
        }
    }
}
