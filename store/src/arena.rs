//! The arena: the shared-memory file every client maps, and the store's own
//! mapping of it.
//!
//! This is the one store module with `unsafe`: the copies in and out of
//! the mapping (copies only: no reference into the arena is ever handed
//! out), by the core ([`ArenaMapping`]) and by the spill workers
//! ([`ArenaIo`]), and the word view of the `direct` segments
//! ([`WordsMapping`]). The copies go through [`checked_range`], a pure
//! bounds check; all rely on the sharing contract in docs/design.md.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use crate::backing::{self, BackingError, BackingOptions};
use crate::core::{ArenaMemory, SharedWords};

/// The one segment id this store hands out.
pub const SEGMENT_ID: i32 = 1;

/// Why the arena could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArenaError {
    /// Creating the backing file failed.
    #[error(transparent)]
    Backing(#[from] BackingError),
    /// The store's own mapping failed.
    #[error("mapping the {len}-byte arena failed: {source}")]
    Map {
        /// Bytes that were to be mapped.
        len: u64,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The arena's descriptor, kept to pass to clients.
#[derive(Debug)]
pub struct Arena {
    fd: OwnedFd,
    len: u64,
}

impl Arena {
    /// Creates the backing file and the store's mapping of it.
    pub fn create(opts: &BackingOptions) -> Result<(Arena, ArenaMapping), ArenaError> {
        let b = backing::create(opts)?;
        let map_err = |source| ArenaError::Map { len: b.len, source };
        let map_len = usize::try_from(b.len)
            .map_err(|_| map_err(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
        // MAP_SHARED, read-write. MmapRaw only hands out a raw pointer, so no
        // Rust reference ever spans bytes that clients write concurrently.
        let map = MmapOptions::new()
            .len(map_len)
            .map_raw(&b.fd)
            .map_err(map_err)?;
        let mapping = ArenaMapping {
            map: Arc::new(map),
            len: b.len,
        };
        Ok((
            Arena {
                fd: b.fd,
                len: b.len,
            },
            mapping,
        ))
    }

    /// The descriptor to send to clients (one fd message per new segment).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// File length = the allocator region.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the arena is empty (never, once created).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What clients are told: they map `mmap_size - 8` bytes.
    pub fn mmap_size(&self) -> i64 {
        i64::try_from(self.len.saturating_add(8)).unwrap_or(i64::MAX)
    }
}

/// The store's mapping of the arena, handed to the core as its memory.
#[derive(Debug)]
pub struct ArenaMapping {
    map: Arc<MmapRaw>,
    len: u64,
}

impl ArenaMapping {
    /// A handle on the same mapping for the spill workers; the mapping
    /// lives until the last handle is gone.
    pub fn io(&self) -> ArenaIo {
        ArenaIo {
            map: Arc::clone(&self.map),
            len: self.len,
        }
    }
}

/// The spill workers' access to the arena: copies of whole extents, out to
/// a spill file and back in from one, on threads other than the loop.
#[derive(Clone, Debug)]
pub struct ArenaIo {
    map: Arc<MmapRaw>,
    len: u64,
}

/// A copy that would leave the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes at offset {offset} lie outside the arena")]
pub struct OutOfBounds {
    /// Where the copy started.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

impl ArenaIo {
    /// Copies the `buf.len()` bytes at `offset` into `buf` (a spill write
    /// reading a spilling object).
    pub fn copy_out(&self, offset: u64, buf: &mut [u8]) -> Result<(), OutOfBounds> {
        let len = buf.len() as u64;
        let range = checked_range(self.len, offset, len).ok_or(OutOfBounds { offset, len })?;
        // SAFETY: `range` lies inside the mapping (checked_range against its
        // length), which lives as long as this handle's `Arc`; `buf` is the
        // worker's own heap buffer, so the two cannot overlap. The bytes are
        // those of a spilling object: sealed, so no client writes them
        // (docs/design.md, sharing contract, rule 1), and by rule 9 the store
        // does not reuse the extent before this write has ended. They are
        // copied through raw pointers, never borrowed: a client breaking the
        // contract can only change what is copied, and the CRC kept for the
        // file is that of what was copied.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(range.start),
                buf.as_mut_ptr(),
                range.len(),
            );
        }
        Ok(())
    }

    /// Copies `bytes` into the arena at `offset` (a restore filling the
    /// extent of an object being restored).
    pub fn copy_in(&self, offset: u64, bytes: &[u8]) -> Result<(), OutOfBounds> {
        let len = bytes.len() as u64;
        let range = checked_range(self.len, offset, len).ok_or(OutOfBounds { offset, len })?;
        // SAFETY: `range` lies inside the mapping (checked_range against its
        // length), which lives as long as this handle's `Arc`; `bytes` is the
        // worker's own heap buffer, so the two cannot overlap. By the sharing
        // contract in docs/design.md (rule 9) the extent of an object being
        // restored was allocated for the restore and is named to no client
        // before the restore has ended, so no one else writes or reads these
        // bytes meanwhile (the core writes only extents of objects it
        // creates, which are others).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(range.start),
                range.len(),
            );
        }
        Ok(())
    }
}

/// `offset..offset + len` as an index range, if it lies inside `total` bytes.
pub fn checked_range(total: u64, offset: u64, len: u64) -> Option<Range<usize>> {
    let end = offset.checked_add(len)?;
    if end > total {
        return None;
    }
    Some(usize::try_from(offset).ok()?..usize::try_from(end).ok()?)
}

impl ArenaMemory for ArenaMapping {
    fn len(&self) -> u64 {
        self.len
    }

    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let Some(range) = checked_range(self.len, offset, bytes.len() as u64) else {
            tracing::error!(
                offset,
                len = bytes.len(),
                "arena write out of bounds ignored"
            );
            return;
        };
        // SAFETY: `range` lies inside the live mapping (checked_range against
        // the mapped length; the mapping lives as long as `self`). By the
        // sharing contract in docs/design.md the store writes an extent only
        // while it creates the object itself (create-and-seal), before any
        // client is given the extent, so no other party writes these bytes and
        // `bytes` (a heap buffer) cannot overlap the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(range.start),
                range.len(),
            );
        }
    }

    fn read(&self, offset: u64, len: u64) -> Vec<u8> {
        let Some(range) = checked_range(self.len, offset, len) else {
            tracing::error!(offset, len, "arena read out of bounds ignored");
            return Vec::new();
        };
        let mut copy = vec![0u8; range.len()];
        // SAFETY: `range` lies inside the live mapping (checked_range against
        // the mapped length; the mapping lives as long as `self`), and `copy`
        // is a fresh heap buffer of exactly that length, so the two cannot
        // overlap. The bytes are copied through a raw pointer and no
        // reference into the arena is ever formed: by the sharing contract
        // in docs/design.md clients map these bytes writable, so the store
        // treats them as opaque values that may change at any moment, and
        // a client breaking the contract can only change what is copied.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(range.start),
                copy.as_mut_ptr(),
                range.len(),
            );
        }
        copy
    }
}

/// The store's writable mapping of one of the `direct` segments (the
/// directory, a hold table), seen as 64-bit words.
#[derive(Debug)]
pub struct WordsMapping {
    map: MmapRaw,
    words: usize,
}

/// Which `direct` segment to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// The directory: clients may only ever map it read-only.
    Directory,
    /// A hold table: its client maps it writable.
    Holds,
}

/// Creates a `direct` segment of `words` words (zeroed, fully allocated,
/// sealed against resizing) and the store's mapping of it; the descriptor
/// is for the client. A directory is sealed against every later writable
/// mapping once the store's exists.
pub fn create_words(
    kind: SegmentKind,
    words: usize,
) -> Result<(OwnedFd, WordsMapping), ArenaError> {
    let bytes = words
        .checked_mul(8)
        .ok_or(ArenaError::Backing(BackingError::TooLarge {
            capacity: u64::MAX,
        }))?;
    let name: &CStr = match kind {
        SegmentKind::Directory => c"plasma-directory",
        SegmentKind::Holds => c"plasma-holds",
    };
    let fd = backing::create_segment(name, bytes as u64)?;
    let map_err = |source| ArenaError::Map {
        len: bytes as u64,
        source,
    };
    let map = MmapOptions::new()
        .len(bytes)
        .map_raw(&fd)
        .map_err(map_err)?;
    match kind {
        SegmentKind::Directory => backing::seal_future_write(&fd)?,
        SegmentKind::Holds => backing::seal_seals(&fd)?,
    }
    Ok((fd, WordsMapping { map, words }))
}

impl SharedWords for WordsMapping {
    fn words(&self) -> &[AtomicU64] {
        // SAFETY: the sharing contract in docs/design.md, rules 6 to 8. The
        // mapping is page-aligned (so 8-aligned), `words * 8` bytes long
        // (the length `create_words` mapped; the file is sealed against
        // shrinking, so no access can fault), and stays mapped while
        // `self` lives, which the returned borrow cannot outlive. Every
        // access through the slice is atomic, on both sides of the segment
        // (clients use the same `protocol::direct` code), so concurrent
        // writes by a client are atomic writes the store may observe, never
        // a data race; a hostile client can put any value in these words,
        // and the store treats them as data only.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), self.words) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backing::{DEFAULT_SHM_DIR, MIB};

    #[test]
    fn ranges_inside_are_accepted() {
        assert_eq!(checked_range(100, 0, 100), Some(0..100));
        assert_eq!(checked_range(100, 10, 5), Some(10..15));
        assert_eq!(checked_range(100, 100, 0), Some(100..100));
        assert_eq!(checked_range(0, 0, 0), Some(0..0));
    }

    #[test]
    fn ranges_outside_or_overflowing_are_refused() {
        assert_eq!(checked_range(100, 0, 101), None);
        assert_eq!(checked_range(100, 101, 0), None);
        assert_eq!(checked_range(100, 99, 2), None);
        assert_eq!(checked_range(100, u64::MAX, 2), None);
        assert_eq!(checked_range(u64::MAX, 1, u64::MAX), None);
    }

    fn small_arena() -> (Arena, ArenaMapping) {
        let opts = BackingOptions {
            capacity: MIB,
            dir: DEFAULT_SHM_DIR.into(),
            huge_pages: false,
        };
        Arena::create(&opts).unwrap()
    }

    #[test]
    fn writes_are_visible_through_another_mapping_of_the_fd() {
        let (arena, mut mem) = small_arena();
        assert_eq!(arena.len(), 2 * MIB);
        assert_eq!(arena.mmap_size(), (2 * MIB + 8) as i64);
        assert_eq!(mem.len(), 2 * MIB);
        mem.write(4096, b"hello");
        assert_eq!(mem.read(4096, 5), b"hello");
        let other = MmapOptions::new().map_raw(&arena.fd).unwrap();
        // SAFETY: test-only read of bytes this test wrote; the sharing
        // contract in docs/design.md is trivially kept with no clients.
        let seen = unsafe { std::slice::from_raw_parts(other.as_ptr().add(4096), 5) };
        assert_eq!(seen, b"hello");
    }

    #[test]
    fn a_words_segment_is_shared_through_its_descriptor() {
        use std::sync::atomic::Ordering;
        let (fd, mapping) = create_words(SegmentKind::Holds, 1024).unwrap();
        mapping.words()[7].store(42, Ordering::Relaxed);
        let other = MmapOptions::new().len(8192).map_raw(&fd).unwrap();
        // SAFETY: test-only atomic read of a word this test wrote, through a
        // second mapping of the same file (sharing contract, rule 7).
        let seen = unsafe { &*other.as_ptr().cast::<AtomicU64>().add(7) };
        assert_eq!(seen.load(Ordering::Relaxed), 42);
        let (dir_fd, _dir) = create_words(SegmentKind::Directory, 1024).unwrap();
        assert!(MmapOptions::new().len(8192).map_raw(&dir_fd).is_err());
    }

    #[test]
    fn a_read_is_a_copy_that_a_client_write_cannot_change() {
        let (arena, mut mem) = small_arena();
        mem.write(8192, b"hello");
        let seen = mem.read(8192, 5);
        let client = MmapOptions::new().map_raw(&arena.fd).unwrap();
        // SAFETY: test-only write of 5 bytes inside the client's mapping,
        // playing a client that breaks the sharing contract in
        // docs/design.md (it writes an extent the store reads).
        unsafe {
            std::ptr::copy_nonoverlapping(b"XXXXX".as_ptr(), client.as_mut_ptr().add(8192), 5)
        };
        assert_eq!(seen, b"hello");
        assert_eq!(mem.read(8192, 5), b"XXXXX");
    }

    #[test]
    fn the_workers_handle_copies_whole_ranges_in_and_out() {
        let (_arena, mut mem) = small_arena();
        let io = mem.io();
        io.copy_in(64, b"spilled").unwrap();
        assert_eq!(mem.read(64, 7), b"spilled");
        mem.write(128, b"sealed");
        let mut buf = [0u8; 6];
        io.copy_out(128, &mut buf).unwrap();
        assert_eq!(&buf, b"sealed");
        let end = mem.len();
        assert_eq!(
            io.copy_out(end - 2, &mut buf),
            Err(OutOfBounds {
                offset: end - 2,
                len: 6
            })
        );
        assert!(io.copy_in(u64::MAX, b"x").is_err());
        drop(mem);
        // The handle keeps the mapping alive.
        io.copy_in(0, b"still mapped").unwrap();
    }

    #[test]
    fn out_of_bounds_access_is_ignored() {
        let (_arena, mut mem) = small_arena();
        let end = mem.len();
        mem.write(end - 2, b"abcd");
        assert_eq!(mem.read(end - 2, 4), b"");
        assert_eq!(mem.read(end - 2, 2), [0, 0]);
    }
}
