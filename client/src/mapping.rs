//! The one place where the client touches raw shared memory: a [`Mapping`]
//! of a segment file the store passed us, and bounds-checked views into it.
//!
//! Nothing outside this module sees the mapping's base pointer. Views are
//! handed out only through [`Mapping::view`] / [`Mapping::view_mut`], which
//! take an [`Extent`] and check it with the pure [`check_extent`]; every view
//! holds an `Arc<Mapping>`, so the memory outlives every slice made from it.
//! A [`View`] reads through a read-only mapping of the segment; only a
//! [`ViewMut`] (a builder's) writes, through a second, writable one.
//! The two small segments of our `direct` capability, the directory and
//! the hold table, are seen as atomic words ([`WordsMap`]).
#![allow(unsafe_code)]

use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use memmap2::{MmapOptions, MmapRaw};

/// A byte range inside a segment, as the store describes objects
/// (`data_offset`, `data_size + metadata_size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    /// Offset from the start of the segment.
    pub(crate) offset: u64,
    /// Length in bytes (may be 0).
    pub(crate) len: u64,
}

/// Why an extent cannot be viewed in a mapping.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtentError {
    /// `offset + len` does not fit in 64 bits (or in the address space).
    #[error("extent at offset {offset} with length {len} overflows")]
    Overflow {
        /// Offset the store gave.
        offset: u64,
        /// Length the store gave.
        len: u64,
    },
    /// The extent ends past the end of the mapped segment.
    #[error("extent {offset}..{end} lies outside the {mapping_len}-byte segment")]
    OutOfBounds {
        /// Offset the store gave.
        offset: u64,
        /// `offset + len`.
        end: u64,
        /// Length of the mapping.
        mapping_len: usize,
    },
}

/// The pure bounds check behind every view: the extent must lie entirely
/// inside `[0, mapping_len)`. Returns the byte range to slice.
pub(crate) fn check_extent(
    extent: Extent,
    mapping_len: usize,
) -> Result<Range<usize>, ExtentError> {
    let Extent { offset, len } = extent;
    let overflow = ExtentError::Overflow { offset, len };
    let end = offset.checked_add(len).ok_or(overflow.clone())?;
    let start = usize::try_from(offset).map_err(|_| overflow.clone())?;
    let end_usize = usize::try_from(end).map_err(|_| overflow)?;
    if end_usize > mapping_len {
        return Err(ExtentError::OutOfBounds {
            offset,
            end,
            mapping_len,
        });
    }
    Ok(start..end_usize)
}

/// Why a writable view cannot be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ViewMutError {
    /// The extent does not lie inside the segment.
    #[error(transparent)]
    Extent(#[from] ExtentError),
    /// The segment could not be mapped writable.
    #[error("cannot map the store segment writable: {0}")]
    Map(#[from] std::io::Error),
}

/// One store segment as this process maps it (`MAP_SHARED`): read-only
/// (`PROT_READ`) for every view that only reads, and, from the first
/// writable view on, a second, writable mapping of the same file for the
/// builders of objects this process creates. A process that never creates
/// an object has no writable mapping of shared memory at all. Both are
/// unmapped when the last `Arc` goes.
pub(crate) struct Mapping {
    read: MmapRaw,
    /// Made by the first [`view_mut`](Self::view_mut).
    write: OnceLock<Arc<MmapRaw>>,
    /// The segment file, kept for the writable mapping.
    file: OwnedFd,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("len", &self.read.len())
            .field("writable", &self.write.get().is_some())
            .finish()
    }
}

impl Mapping {
    /// Maps the first `len` bytes of the segment file `fd` read-only, and
    /// keeps `fd` for a writable mapping later. The caller checked that the
    /// file is at least `len` bytes long (a shorter file would turn accesses
    /// past its end into SIGBUS).
    pub(crate) fn new(fd: OwnedFd, len: usize) -> std::io::Result<Self> {
        if len == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "cannot map an empty segment",
            ));
        }
        let read = MmapOptions::new()
            .len(len)
            .map_raw_read_only(fd.as_raw_fd())?;
        Ok(Self {
            read,
            write: OnceLock::new(),
            file: fd,
        })
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.read.len()
    }

    /// A read-only view of `extent`.
    pub(crate) fn view(self: &Arc<Self>, extent: Extent) -> Result<View, ExtentError> {
        let range = check_extent(extent, self.len())?;
        Ok(View {
            mapping: Arc::clone(self),
            range,
        })
    }

    /// A writable view of `extent`, for the object this client has just
    /// created. Crate rule: called once per successful CreateReply (by
    /// `Client::create`) and never for an extent obtained any other way, so
    /// the returned `ViewMut` is the only handle to those bytes in this
    /// process until it becomes a `View` at seal.
    pub(crate) fn view_mut(self: &Arc<Self>, extent: Extent) -> Result<ViewMut, ViewMutError> {
        let range = check_extent(extent, self.len())?;
        Ok(ViewMut {
            write: self.writable()?,
            mapping: Arc::clone(self),
            range,
        })
    }

    /// The writable mapping, made on first use.
    fn writable(&self) -> std::io::Result<Arc<MmapRaw>> {
        if let Some(map) = self.write.get() {
            return Ok(Arc::clone(map));
        }
        let map = MmapOptions::new()
            .len(self.len())
            .map_raw(self.file.as_raw_fd())?;
        // Two threads may race here: the first mapping set wins, the other
        // is unmapped at once.
        Ok(Arc::clone(self.write.get_or_init(|| Arc::new(map))))
    }
}

/// A checked, read-only window into a mapping. Keeps the mapping alive.
#[derive(Debug)]
pub(crate) struct View {
    mapping: Arc<Mapping>,
    range: Range<usize>,
}

impl View {
    /// The bytes of the extent, through the read-only mapping.
    pub(crate) fn bytes(&self) -> &[u8] {
        let len = self.range.end - self.range.start;
        // SAFETY: the sharing contract in docs/design.md (rules 2 to 4).
        // `range` was checked by `check_extent` to lie inside the mapping,
        // which stays mapped while `self.mapping` (an Arc) lives, i.e.
        // longer than the returned borrow. The extent belongs to a sealed
        // object this connection holds: nobody writes it after seal, the
        // store does not reuse it while our hold lives (released only after
        // this view is gone), and the hold lives while the connection does,
        // which this view's owner keeps open. The mapping is `PROT_READ`:
        // nothing in this process can write through it.
        unsafe { std::slice::from_raw_parts(self.mapping.read.as_ptr().add(self.range.start), len) }
    }
}

/// A checked, writable window into a mapping, owned by exactly one
/// builder. Keeps the mapping, and its writable twin, alive.
#[derive(Debug)]
pub(crate) struct ViewMut {
    mapping: Arc<Mapping>,
    /// `mapping`'s writable mapping.
    write: Arc<MmapRaw>,
    range: Range<usize>,
}

impl ViewMut {
    /// The bytes of the extent, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.range.end - self.range.start;
        // SAFETY: the sharing contract in docs/design.md (rules 1 and 4).
        // `range` was checked by `check_extent` against the segment's
        // length, which is also `write`'s; `write` stays mapped while this
        // view holds it. Only the creating client writes an extent, and
        // only before seal: this ViewMut is the single handle to a freshly
        // created, unsealed object (see `Mapping::view_mut`), the store
        // never touches the region, no reader can obtain it before seal (a
        // Get treats unsealed objects as absent), and the object lives while
        // the connection does, which the builder keeps open. `&mut self`
        // makes the slice unique within this process.
        unsafe {
            std::slice::from_raw_parts_mut(self.write.as_mut_ptr().add(self.range.start), len)
        }
    }

    /// The bytes of the extent, read-only.
    pub(crate) fn bytes(&self) -> &[u8] {
        let len = self.range.end - self.range.start;
        // SAFETY: the sharing contract in docs/design.md. Same extent and
        // lifetime argument as `bytes_mut`; `&self` excludes a live `&mut`
        // slice from this ViewMut, and nobody else writes the extent.
        unsafe { std::slice::from_raw_parts(self.write.as_ptr().add(self.range.start), len) }
    }

    /// A handle that maps (faults in) the pages under `within` (relative
    /// to the extent, clamped to it) for writing, from any thread, while
    /// this view is written: see [`Prefault`].
    pub(crate) fn prefault(&self, within: Range<usize>) -> Prefault {
        let start = self.range.start + within.start.min(self.range.len());
        let end = self.range.start + within.end.min(self.range.len());
        Prefault {
            write: Arc::clone(&self.write),
            range: start..end.max(start),
        }
    }

    /// Gives up write access (at seal): the sealed object is read through
    /// the read-only mapping from now on.
    pub(crate) fn into_view(self) -> View {
        View {
            mapping: self.mapping,
            range: self.range,
        }
    }
}

/// Fills the page tables of a range of a mapping ahead of its writer
/// (`MADV_POPULATE_WRITE`): the bytes are not touched, only the first-touch
/// faults are taken in advance, which on a virtual machine cost more than
/// the copy itself. Holds the mapping alive.
#[derive(Debug)]
pub(crate) struct Prefault {
    write: Arc<MmapRaw>,
    range: Range<usize>,
}

impl Prefault {
    /// Maps the range. Best effort: kernels before 5.14 refuse the advice,
    /// and then the writer takes the faults itself.
    pub(crate) fn run(&self) {
        let _ = self.write.advise_range(
            memmap2::Advice::PopulateWrite,
            self.range.start,
            self.range.len(),
        );
    }
}

/// A mapping of one of the `direct` segments, seen as 64-bit words: the
/// directory (read-only: the store sealed it against any other writer) or
/// this connection's hold table (writable).
#[derive(Debug)]
pub(crate) struct WordsMap {
    map: MmapRaw,
    words: usize,
}

impl WordsMap {
    /// Maps the whole segment `fd` (read-only, or writable), after checking
    /// that the store sealed it against shrinking (a shrunk file would turn
    /// an access into SIGBUS) and that its length is whole words.
    pub(crate) fn new(fd: &OwnedFd, writable: bool) -> std::io::Result<Self> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let seals = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GET_SEALS)?;
        if seals & libc::F_SEAL_SHRINK == 0 {
            return Err(bad("segment not sealed against shrinking"));
        }
        let len = nix::sys::stat::fstat(fd.as_raw_fd())?.st_size;
        let len = usize::try_from(len).map_err(|_| bad("segment length"))?;
        if len == 0 || len % 8 != 0 {
            return Err(bad("segment length is not whole words"));
        }
        let opts = {
            let mut o = MmapOptions::new();
            o.len(len);
            o
        };
        let map = if writable {
            opts.map_raw(fd.as_raw_fd())?
        } else {
            opts.map_raw_read_only(fd.as_raw_fd())?
        };
        Ok(Self {
            map,
            words: len / 8,
        })
    }

    /// The segment's words.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // SAFETY: the sharing contract in docs/design.md, rules 6 to 8. The
        // mapping is page-aligned (so 8-aligned) and `words * 8` bytes, the
        // file's length when mapped; the store sealed the file against
        // shrinking (checked in `new`), so every word stays backed, and the
        // mapping lives as long as `self`, which the borrow cannot outlive.
        // Every access through the slice is atomic on both sides (the store
        // uses the same `protocol::direct` code), so concurrent writes are
        // never a data race. Through a read-only mapping (the directory)
        // `protocol::direct` makes only relaxed loads of one word, the one
        // kind of atomic access allowed on read-only memory.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), self.words) }
    }
}

#[cfg(test)]
impl Mapping {
    /// A mapping of a temporary file holding `bytes` (tests).
    pub(crate) fn of_bytes(bytes: &[u8]) -> Arc<Self> {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        Arc::new(Self::new(file.into(), bytes.len()).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    fn ext(offset: u64, len: u64) -> Extent {
        Extent { offset, len }
    }

    #[test]
    fn extent_inside_is_accepted() {
        assert_eq!(check_extent(ext(0, 10), 10), Ok(0..10));
        assert_eq!(check_extent(ext(64, 0), 100), Ok(64..64));
        assert_eq!(check_extent(ext(100, 0), 100), Ok(100..100));
    }

    #[test]
    fn extent_past_the_end_is_refused() {
        assert_eq!(
            check_extent(ext(95, 6), 100),
            Err(ExtentError::OutOfBounds {
                offset: 95,
                end: 101,
                mapping_len: 100
            })
        );
        assert!(matches!(
            check_extent(ext(101, 0), 100),
            Err(ExtentError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn overflowing_extent_is_refused() {
        assert!(matches!(
            check_extent(ext(u64::MAX, 1), usize::MAX),
            Err(ExtentError::Overflow { .. })
        ));
        assert!(matches!(
            check_extent(ext(1, u64::MAX), usize::MAX),
            Err(ExtentError::Overflow { .. })
        ));
    }

    #[test]
    fn views_read_what_a_writable_view_wrote_and_see_the_file() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7u8; 8192]).unwrap();
        let fd = || file.as_fd().try_clone_to_owned().unwrap();
        let mapping = Arc::new(Mapping::new(fd(), 8192).unwrap());
        assert_eq!(mapping.len(), 8192);

        let mut w = mapping.view_mut(ext(4096, 5)).unwrap();
        assert_eq!(w.bytes(), &[7u8; 5]);
        w.bytes_mut().copy_from_slice(b"hello");
        let r = w.into_view();
        assert_eq!(r.bytes(), b"hello");

        // A second, independent mapping of the same file sees the write.
        let other = Arc::new(Mapping::new(fd(), 8192).unwrap());
        assert_eq!(other.view(ext(4096, 5)).unwrap().bytes(), b"hello");
        assert_eq!(other.view(ext(4101, 1)).unwrap().bytes(), &[7u8]);
        assert!(other.view(ext(8190, 3)).is_err());
        assert!(matches!(
            other.view_mut(ext(8190, 3)),
            Err(ViewMutError::Extent(_))
        ));
    }

    #[test]
    fn readers_and_writers_go_through_different_mappings() {
        let mapping = Mapping::of_bytes(&[0u8; 4096]);
        let reader = mapping.view(ext(64, 8)).unwrap();
        assert!(
            mapping.write.get().is_none(),
            "reading maps nothing writable"
        );
        let mut writer = mapping.view_mut(ext(64, 8)).unwrap();
        writer.bytes_mut().copy_from_slice(b"12345678");
        assert_ne!(reader.bytes().as_ptr(), writer.bytes().as_ptr());
        assert_eq!(reader.bytes(), b"12345678");
        // The writable mapping is made once and shared by every writer.
        let second = mapping.view_mut(ext(0, 8)).unwrap();
        assert!(Arc::ptr_eq(&second.write, &writer.write));
        // Sealed, the object is read through the read-only mapping.
        let sealed = writer.into_view();
        assert_eq!(sealed.bytes().as_ptr(), reader.bytes().as_ptr());
    }

    #[test]
    fn view_keeps_mapping_alive() {
        let mapping = Mapping::of_bytes(b"abcdef");
        let view = mapping.view(ext(2, 3)).unwrap();
        drop(mapping);
        assert_eq!(view.bytes(), b"cde");
    }

    #[test]
    fn empty_mapping_is_refused() {
        let file = tempfile::tempfile().unwrap();
        assert!(Mapping::new(file.into(), 0).is_err());
    }
}
