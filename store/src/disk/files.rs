//! One spill file: written from an extent, read back into one.
//!
//! A file holds exactly the object's data then metadata. It is written
//! under a temporary name, synced (`fdatasync`: the point where the store
//! frees the only other copy, so a write-back error must surface here, not
//! as a corrupt restore later) and renamed: a complete name always names a
//! complete file. Its cached pages are then dropped: a spilled object is
//! cold by definition, and spilling exists to give memory back. The
//! directory itself is not synced: spill files do not survive a restart.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{fallocate, posix_fadvise, FallocateFlags, PosixFadviseAdvice};

use super::dir::SpillDir;
use crate::arena::ArenaIo;
use crate::core::{RestoreError, SpillError, SpillFile};

/// Bytes copied per step: large enough for the disk, small enough that the
/// worker's buffer stays in cache between the copy, the CRC and the write.
pub const CHUNK: usize = 1 << 20;

/// A failed write or read, with the OS error for the log.
#[derive(Debug)]
pub struct Failure<K> {
    /// What the core is told.
    pub kind: K,
    /// Why, for the log line.
    pub detail: String,
}

fn fail<K>(kind: K, what: &str, e: impl std::fmt::Display) -> Failure<K> {
    Failure {
        kind,
        detail: format!("{what}: {e}"),
    }
}

fn write_kind(e: &io::Error) -> SpillError {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => SpillError::NoSpace,
        _ => SpillError::Io,
    }
}

/// What a spill worker copies with: the directory, the arena, a buffer of
/// its own, and the store's stop flag.
#[derive(Debug)]
pub struct Copier {
    dir: Arc<SpillDir>,
    arena: ArenaIo,
    buf: Vec<u8>,
    stop: Arc<AtomicBool>,
}

impl Copier {
    /// A copier over `dir` and `arena`; `stop` ends copies early.
    pub fn new(dir: Arc<SpillDir>, arena: ArenaIo, stop: Arc<AtomicBool>) -> Copier {
        Copier {
            dir,
            arena,
            buf: Vec::new(),
            stop,
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Writes the `len` bytes at `offset` to `file`; returns their CRC-32.
    /// On failure nothing of the file is left.
    pub fn write(
        &mut self,
        file: SpillFile,
        offset: u64,
        len: u64,
    ) -> Result<u32, Failure<SpillError>> {
        let result = self.write_temp(file, offset, len);
        if result.is_err() {
            let _ = std::fs::remove_file(self.dir.temp_path(file));
        }
        result
    }

    fn write_temp(
        &mut self,
        file: SpillFile,
        offset: u64,
        len: u64,
    ) -> Result<u32, Failure<SpillError>> {
        let temp = self.dir.temp_path(file);
        let io_fail = |what: &str, e: io::Error| fail(write_kind(&e), what, e);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| io_fail("creating the file", e))?;
        // A full disk says so now rather than after half the copy (and, on
        // filesystems that allocate late, rather than at the sync).
        if let Some(l) = i64::try_from(len).ok().filter(|&l| l > 0) {
            match fallocate(f.as_raw_fd(), FallocateFlags::empty(), 0, l) {
                Ok(()) | Err(Errno::EOPNOTSUPP) => {}
                Err(e) => return Err(io_fail("allocating the file", e.into())),
            }
        }
        let mut crc = crc32fast::Hasher::new();
        let mut done = 0u64;
        while done < len {
            if self.stopping() {
                return Err(fail(SpillError::Io, "writing", "the store is stopping"));
            }
            let n = usize::try_from(len - done).map_or(CHUNK, |r| r.min(CHUNK));
            self.buf.resize(n, 0);
            let chunk = &mut self.buf[..n];
            self.arena
                .copy_out(offset + done, chunk)
                .map_err(|e| fail(SpillError::Io, "reading the arena", e))?;
            crc.update(chunk);
            f.write_all(chunk)
                .map_err(|e| io_fail("writing the file", e))?;
            done += n as u64;
        }
        f.sync_data().map_err(|e| io_fail("syncing the file", e))?;
        drop_cache(&f);
        std::fs::rename(&temp, self.dir.file_path(file))
            .map_err(|e| io_fail("renaming the file", e))?;
        Ok(crc.finalize())
    }

    /// Reads `file` into the `len` bytes at `offset`, checking its length
    /// and that its CRC-32 is `crc`.
    pub fn read(
        &mut self,
        file: SpillFile,
        offset: u64,
        len: u64,
        crc: u32,
    ) -> Result<(), Failure<RestoreError>> {
        let mut f = match File::open(self.dir.file_path(file)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(fail(RestoreError::Missing, "opening the file", e))
            }
            Err(e) => return Err(fail(RestoreError::Io, "opening the file", e)),
        };
        let size = f
            .metadata()
            .map_err(|e| fail(RestoreError::Io, "reading the file's size", e))?
            .len();
        if size != len {
            return Err(fail(
                RestoreError::Corrupt,
                "checking the file's size",
                format!("{size} bytes, {len} written"),
            ));
        }
        let mut hasher = crc32fast::Hasher::new();
        let mut done = 0u64;
        while done < len {
            if self.stopping() {
                return Err(fail(RestoreError::Io, "reading", "the store is stopping"));
            }
            let n = usize::try_from(len - done).map_or(CHUNK, |r| r.min(CHUNK));
            self.buf.resize(n, 0);
            let chunk = &mut self.buf[..n];
            f.read_exact(chunk).map_err(|e| {
                let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
                    RestoreError::Corrupt
                } else {
                    RestoreError::Io
                };
                fail(kind, "reading the file", e)
            })?;
            hasher.update(chunk);
            self.arena
                .copy_in(offset + done, chunk)
                .map_err(|e| fail(RestoreError::Io, "writing the arena", e))?;
            done += n as u64;
        }
        let got = hasher.finalize();
        if got != crc {
            return Err(fail(
                RestoreError::Corrupt,
                "checking the file's CRC-32",
                format!("{got:08x}, {crc:08x} written"),
            ));
        }
        Ok(())
    }

    /// Removes `file` (a missing one is fine: a failed write left none).
    pub fn remove(&self, file: SpillFile) -> io::Result<()> {
        match std::fs::remove_file(self.dir.file_path(file)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Drops the page cache of a synced file (its pages are clean).
fn drop_cache(f: &File) {
    let _ = posix_fadvise(f.as_raw_fd(), 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::{Arena, ArenaMapping};
    use crate::backing::{BackingOptions, DEFAULT_SHM_DIR, MIB};
    use crate::core::ArenaMemory;

    fn setup() -> (tempfile::TempDir, Copier, ArenaMapping, Arc<AtomicBool>) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Arc::new(SpillDir::open(&tmp.path().join("spill")).unwrap());
        let opts = BackingOptions {
            capacity: 4 * MIB,
            dir: DEFAULT_SHM_DIR.into(),
            huge_pages: false,
        };
        let (_arena, mapping) = Arena::create(&opts).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let copier = Copier::new(dir, mapping.io(), Arc::clone(&stop));
        (tmp, copier, mapping, stop)
    }

    #[test]
    fn an_object_goes_out_and_comes_back_byte_for_byte() {
        let (_tmp, mut c, mut mem, _) = setup();
        let object: Vec<u8> = (0..(CHUNK * 2 + 100)).map(|i| (i * 13) as u8).collect();
        mem.write(4096, &object);
        let len = object.len() as u64;
        let crc = c.write(SpillFile(7), 4096, len).unwrap();
        assert_eq!(crc, crc32fast::hash(&object));
        assert!(c.dir.file_path(SpillFile(7)).exists());
        assert!(!c.dir.temp_path(SpillFile(7)).exists());
        let far = 2 * MIB + 64;
        c.read(SpillFile(7), far, len, crc).unwrap();
        assert_eq!(mem.read(far, len), object);
        c.remove(SpillFile(7)).unwrap();
        c.remove(SpillFile(7)).unwrap();
        assert!(!c.dir.file_path(SpillFile(7)).exists());
    }

    #[test]
    fn a_damaged_or_missing_file_is_told_apart() {
        let (_tmp, mut c, mut mem, _) = setup();
        mem.write(0, b"hello spill");
        let crc = c.write(SpillFile(1), 0, 11).unwrap();
        let path = c.dir.file_path(SpillFile(1));
        let kind = |c: &mut Copier| c.read(SpillFile(1), 64, 11, crc).unwrap_err().kind;
        std::fs::write(&path, b"hello spilL").unwrap();
        assert_eq!(kind(&mut c), RestoreError::Corrupt);
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(kind(&mut c), RestoreError::Corrupt);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(kind(&mut c), RestoreError::Missing);
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let (_tmp, mut c, mem, stop) = setup();
        // Past the end of the arena: the copy fails half way.
        let end = mem.len();
        let got = c.write(SpillFile(2), end - 64, 4096);
        assert_eq!(got.unwrap_err().kind, SpillError::Io);
        let left = std::fs::read_dir(c.dir.path()).unwrap().count();
        assert_eq!(left, 1, "the lock file only");
        stop.store(true, Ordering::Relaxed);
        let got = c.write(SpillFile(3), 0, 4096);
        assert!(got.unwrap_err().detail.contains("stopping"));
    }
}
