//! Which segment files this client has mapped, shared by all its connections.
//!
//! The store sends each segment's fd once per connection (protocol.md §6),
//! so a client with several connections receives the same file several
//! times. `fstat` tells whether a received fd is a file we already mapped
//! (same `st_dev`/`st_ino`); if so the existing mapping is reused and the fd
//! closed, so each segment is mapped once per process-wide `Client`
//! (read-only; and writable once more, by the first create).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, Weak};

use crate::lock;
use crate::mapping::Mapping;

/// Identity of a file: `(st_dev, st_ino)`.
type FileKey = (libc::dev_t, libc::ino_t);

/// Why a segment fd could not be mapped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// The store announced a segment size that cannot be mapped.
    #[error("segment announced with mmap_size {0}, which leaves nothing to map")]
    BadSize(i64),
    /// The file behind the fd is shorter than the store said.
    #[error("segment file has {file_len} bytes, store announced {wanted}")]
    FileTooShort {
        /// `st_size` of the received file.
        file_len: u64,
        /// `mmap_size - 8`.
        wanted: u64,
    },
    /// `fstat` or `mmap` failed.
    #[error("cannot map segment: {0}")]
    Io(#[from] std::io::Error),
}

/// The client-wide table of mapped segment files.
#[derive(Debug, Default)]
pub(crate) struct FileRegistry {
    files: Mutex<HashMap<FileKey, Weak<Mapping>>>,
}

impl FileRegistry {
    /// Maps the segment `fd` announced with `mmap_size` (the client maps
    /// `mmap_size - 8` bytes, protocol.md §7), or returns the existing
    /// mapping of the same file. Consumes `fd` either way: the new mapping
    /// keeps it (for its writable twin, `mapping.rs`), else it is closed.
    pub(crate) fn map(&self, fd: OwnedFd, mmap_size: i64) -> Result<Arc<Mapping>, MapError> {
        let len = mapping_len(mmap_size)?;
        let stat = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(std::io::Error::from)?;
        let file_len = u64::try_from(stat.st_size).unwrap_or(0);
        if file_len < len as u64 {
            return Err(MapError::FileTooShort {
                file_len,
                wanted: len as u64,
            });
        }
        let key = (stat.st_dev, stat.st_ino);
        let mut files = lock(&self.files);
        if let Some(existing) = files.get(&key).and_then(Weak::upgrade) {
            if existing.len() >= len {
                return Ok(existing);
            }
        }
        let mapping = Arc::new(Mapping::new(fd, len)?);
        files.retain(|_, weak| weak.strong_count() > 0);
        files.insert(key, Arc::downgrade(&mapping));
        Ok(mapping)
    }
}

/// `mmap_size - 8`, the number of bytes a client maps, if positive.
pub(crate) fn mapping_len(mmap_size: i64) -> Result<usize, MapError> {
    mmap_size
        .checked_sub(8)
        .filter(|&n| n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(MapError::BadSize(mmap_size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    fn segment_file(len: usize) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![0u8; len]).unwrap();
        file
    }

    fn dup(file: &std::fs::File) -> OwnedFd {
        file.as_fd().try_clone_to_owned().unwrap()
    }

    #[test]
    fn mapping_len_subtracts_eight() {
        assert_eq!(mapping_len(4104).unwrap(), 4096);
        assert!(matches!(mapping_len(8), Err(MapError::BadSize(8))));
        assert!(matches!(mapping_len(-1), Err(MapError::BadSize(-1))));
        assert!(matches!(mapping_len(i64::MIN), Err(MapError::BadSize(_))));
    }

    #[test]
    fn same_file_twice_is_mapped_once() {
        let registry = FileRegistry::default();
        let file = segment_file(8192);
        let a = registry.map(dup(&file), 8192 + 8).unwrap();
        let b = registry.map(dup(&file), 8192 + 8).unwrap();
        assert!(Arc::ptr_eq(&a, &b));

        let other = segment_file(8192);
        let c = registry.map(dup(&other), 8192 + 8).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn dropped_mapping_is_mapped_again() {
        let registry = FileRegistry::default();
        let file = segment_file(4096);
        let a = registry.map(dup(&file), 4096 + 8).unwrap();
        let weak = Arc::downgrade(&a);
        drop(a);
        assert!(weak.upgrade().is_none());
        let b = registry.map(dup(&file), 4096 + 8).unwrap();
        assert_eq!(b.len(), 4096);
    }

    #[test]
    fn file_shorter_than_announced_is_refused() {
        let registry = FileRegistry::default();
        let file = segment_file(4096);
        assert!(matches!(
            registry.map(dup(&file), 8192 + 8),
            Err(MapError::FileTooShort {
                file_len: 4096,
                wanted: 8192
            })
        ));
    }
}
