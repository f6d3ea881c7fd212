//! The one place where the client touches raw shared memory: a [`Mapping`]
//! of a segment file the store passed us, and bounds-checked views into it.
//!
//! Nothing outside this module sees the mapping's base pointer. Views are
//! handed out only through [`Mapping::view`] / [`Mapping::view_mut`], which
//! take an [`Extent`] and check it with the pure [`check_extent`]; every view
//! holds an `Arc<Mapping>`, so the memory outlives every slice made from it.
#![allow(unsafe_code)]

use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;

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

/// A shared, writable mapping of one store segment (`MAP_SHARED`,
/// `PROT_READ | PROT_WRITE`). Unmapped when the last `Arc` goes.
pub(crate) struct Mapping {
    map: MmapRaw,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("len", &self.map.len())
            .finish()
    }
}

impl Mapping {
    /// Maps the first `len` bytes of the segment file `fd`. The caller
    /// checked that the file is at least `len` bytes long (a shorter file
    /// would turn accesses past its end into SIGBUS) and closes `fd`
    /// afterwards; the mapping does not need it.
    pub(crate) fn new(fd: BorrowedFd<'_>, len: usize) -> std::io::Result<Self> {
        if len == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "cannot map an empty segment",
            ));
        }
        let map = MmapOptions::new().len(len).map_raw(fd.as_raw_fd())?;
        Ok(Self { map })
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
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
    pub(crate) fn view_mut(self: &Arc<Self>, extent: Extent) -> Result<ViewMut, ExtentError> {
        let range = check_extent(extent, self.len())?;
        Ok(ViewMut {
            mapping: Arc::clone(self),
            range,
        })
    }
}

/// A checked, read-only window into a mapping. Keeps the mapping alive.
#[derive(Debug)]
pub(crate) struct View {
    mapping: Arc<Mapping>,
    range: Range<usize>,
}

impl View {
    /// The bytes of the extent.
    pub(crate) fn bytes(&self) -> &[u8] {
        let len = self.range.end - self.range.start;
        // SAFETY: the sharing contract in docs/design.md. `range` was checked
        // by `check_extent` to lie inside the mapping, which stays mapped
        // while `self.mapping` (an Arc) lives, i.e. longer than the returned
        // borrow. The extent belongs to a sealed object this connection holds:
        // nobody writes it after seal, and the store does not reuse it while
        // our hold lives (the hold is released only after this view is gone).
        unsafe { std::slice::from_raw_parts(self.mapping.map.as_ptr().add(self.range.start), len) }
    }
}

/// A checked, writable window into a mapping, owned by exactly one
/// `ObjectBuilder`. Keeps the mapping alive.
#[derive(Debug)]
pub(crate) struct ViewMut {
    mapping: Arc<Mapping>,
    range: Range<usize>,
}

impl ViewMut {
    /// The bytes of the extent, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.range.end - self.range.start;
        // SAFETY: the sharing contract in docs/design.md. `range` was checked
        // by `check_extent`; the mapping stays mapped while `self.mapping`
        // lives. Only the creating client writes an extent, and only before
        // seal: this ViewMut is the single handle to a freshly created,
        // unsealed object (see `Mapping::view_mut`), the store never touches
        // the region, and no reader can obtain it before seal (a Get treats
        // unsealed objects as absent). `&mut self` makes the slice unique
        // within this process.
        unsafe {
            std::slice::from_raw_parts_mut(self.mapping.map.as_mut_ptr().add(self.range.start), len)
        }
    }

    /// The bytes of the extent, read-only.
    pub(crate) fn bytes(&self) -> &[u8] {
        let len = self.range.end - self.range.start;
        // SAFETY: the sharing contract in docs/design.md. Same extent and
        // lifetime argument as `bytes_mut`; `&self` excludes a live `&mut`
        // slice from this ViewMut, and nobody else writes the extent.
        unsafe { std::slice::from_raw_parts(self.mapping.map.as_ptr().add(self.range.start), len) }
    }

    /// A handle that maps (faults in) the pages under `within` (relative
    /// to the extent, clamped to it) for writing, from any thread, while
    /// this view is written: see [`Prefault`].
    pub(crate) fn prefault(&self, within: Range<usize>) -> Prefault {
        let start = self.range.start + within.start.min(self.range.len());
        let end = self.range.start + within.end.min(self.range.len());
        Prefault {
            mapping: Arc::clone(&self.mapping),
            range: start..end.max(start),
        }
    }

    /// Gives up write access (at seal).
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
    mapping: Arc<Mapping>,
    range: Range<usize>,
}

impl Prefault {
    /// Maps the range. Best effort: kernels before 5.14 refuse the advice,
    /// and then the writer takes the faults itself.
    pub(crate) fn run(&self) {
        let _ = self.mapping.map.advise_range(
            memmap2::Advice::PopulateWrite,
            self.range.start,
            self.range.len(),
        );
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
        let mapping = Arc::new(Mapping::new(file.as_fd(), 8192).unwrap());
        assert_eq!(mapping.len(), 8192);

        let mut w = mapping.view_mut(ext(4096, 5)).unwrap();
        assert_eq!(w.bytes(), &[7u8; 5]);
        w.bytes_mut().copy_from_slice(b"hello");
        let r = w.into_view();
        assert_eq!(r.bytes(), b"hello");

        // A second, independent mapping of the same file sees the write.
        let other = Arc::new(Mapping::new(file.as_fd(), 8192).unwrap());
        assert_eq!(other.view(ext(4096, 5)).unwrap().bytes(), b"hello");
        assert_eq!(other.view(ext(4101, 1)).unwrap().bytes(), &[7u8]);
        assert!(other.view(ext(8190, 3)).is_err());
    }

    #[test]
    fn view_keeps_mapping_alive() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"abcdef").unwrap();
        let mapping = Arc::new(Mapping::new(file.as_fd(), 6).unwrap());
        let view = mapping.view(ext(2, 3)).unwrap();
        drop(mapping);
        drop(file);
        assert_eq!(view.bytes(), b"cde");
    }

    #[test]
    fn empty_mapping_is_refused() {
        let file = tempfile::tempfile().unwrap();
        assert!(Mapping::new(file.as_fd(), 0).is_err());
    }
}
