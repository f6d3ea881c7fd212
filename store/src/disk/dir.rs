//! The spill directory (`--spill-dir`): one store at a time, emptied of
//! what an earlier store left, and the names of its files.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::core::SpillFile;

/// The lock file that keeps a second store out of the directory.
pub const LOCK_FILE: &str = "plasma-store.lock";
/// Ending of a complete spill file.
const FILE_SUFFIX: &str = ".spill";
/// Ending of a spill file being written.
const TEMP_SUFFIX: &str = ".spill.tmp";

/// Why the spill directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpillDirError {
    /// Another store holds the directory's lock.
    #[error(
        "{} is the spill directory of another running plasma-store (it holds {LOCK_FILE}); \
         give each store its own --spill-dir",
        dir.display()
    )]
    InUse {
        /// The directory.
        dir: PathBuf,
    },
    /// A system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was done.
        op: &'static str,
        /// To what.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SpillDirError + 'a {
    move |source| SpillDirError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A spill directory this store owns until it is dropped.
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
    /// Held for the store's life; the kernel drops it with the process.
    _lock: Flock<File>,
}

impl SpillDir {
    /// Creates `path` if needed (mode 0700), takes its lock, and removes the
    /// spill files an earlier store left there (only files named as this
    /// store names them; anything else in the directory is left alone).
    pub fn open(path: &Path) -> Result<SpillDir, SpillDirError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io_err("creating the spill directory", path))?;
        let lock_path = path.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err("opening", &lock_path))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(SpillDirError::InUse {
                    dir: path.to_path_buf(),
                })
            }
            Err((_, e)) => return Err(io_err("locking", &lock_path)(e.into())),
        };
        let dir = SpillDir {
            path: path.to_path_buf(),
            _lock: lock,
        };
        dir.clear()?;
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `file` is once complete.
    pub fn file_path(&self, file: SpillFile) -> PathBuf {
        self.path.join(format!("{file}{FILE_SUFFIX}"))
    }

    /// Where `file` is written before it is complete.
    pub fn temp_path(&self, file: SpillFile) -> PathBuf {
        self.path.join(format!("{file}{TEMP_SUFFIX}"))
    }

    /// Removes every spill file, complete or not. Objects do not survive
    /// the store that spilled them.
    pub fn clear(&self) -> Result<usize, SpillDirError> {
        let entries = std::fs::read_dir(&self.path).map_err(io_err("listing", &self.path))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(io_err("listing", &self.path))?;
            let name = entry.file_name();
            if !is_spill_file_name(&name.to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("removing", &path)(e)),
            }
        }
        Ok(removed)
    }

    /// Bytes free for unprivileged writers on the directory's filesystem.
    pub fn free_bytes(&self) -> Result<u64, SpillDirError> {
        let st = nix::sys::statvfs::statvfs(&self.path)
            .map_err(|e| io_err("statvfs of", &self.path)(e.into()))?;
        Ok(st.blocks_available().saturating_mul(st.fragment_size()))
    }
}

/// The default `--spill-max` for `free` bytes free: all but a margin of
/// a twentieth, at most 1 GiB, for whatever else writes there.
pub fn default_limit(free: u64) -> u64 {
    free - (free / 20).min(1 << 30)
}

/// Whether `name` is one this store gives its files: 16 hex digits, then
/// `.spill` or `.spill.tmp`.
fn is_spill_file_name(name: &str) -> bool {
    let stem = name
        .strip_suffix(TEMP_SUFFIX)
        .or_else(|| name.strip_suffix(FILE_SUFFIX));
    stem.is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_file_names_are_ours() {
        assert!(is_spill_file_name("00000000000000ff.spill"));
        assert!(is_spill_file_name("00000000000000ff.spill.tmp"));
        assert!(!is_spill_file_name("ff.spill"));
        assert!(!is_spill_file_name("notes.txt"));
        assert!(!is_spill_file_name(LOCK_FILE));
        assert!(!is_spill_file_name("000000000000zzzz.spill"));
    }

    #[test]
    fn a_second_store_is_refused_and_leftovers_are_cleared() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("spill");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("0000000000000001.spill"), b"old").unwrap();
        std::fs::write(path.join("0000000000000002.spill.tmp"), b"half").unwrap();
        std::fs::write(path.join("keep.txt"), b"not ours").unwrap();
        let dir = SpillDir::open(&path).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["keep.txt", LOCK_FILE]);
        match SpillDir::open(&path) {
            Err(e @ SpillDirError::InUse { .. }) => {
                assert!(e.to_string().contains("another running plasma-store"))
            }
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(dir);
        SpillDir::open(&path).unwrap();
        assert_eq!(
            SpillDir::open(&tmp.path().join("new/deeper"))
                .unwrap()
                .file_path(SpillFile(255)),
            tmp.path().join("new/deeper/00000000000000ff.spill")
        );
    }

    #[test]
    fn the_default_limit_keeps_a_margin() {
        assert_eq!(default_limit(0), 0);
        assert_eq!(default_limit(1000), 950);
        assert_eq!(default_limit(100 << 30), (100 << 30) - (1 << 30));
    }
}
