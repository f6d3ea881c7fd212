//! The file behind the arena: a memfd (default) or an unlinked file in `-d`,
//! sized and fully allocated at start-up so that no access can SIGBUS later.
//!
//! Choice of file:
//! * `-d /dev/shm` (the default) without `-h`: a sealable memfd on tmpfs;
//! * `-h` with the default directory: a `MFD_HUGETLB` memfd;
//! * any other `-d` (e.g. a hugetlbfs mount): an unnamed file in that directory.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{fallocate, fcntl, FallocateFlags, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::statvfs::statvfs;
use nix::unistd::ftruncate;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// The arena length is a multiple of this (keeps 2 MiB huge pages happy).
pub const REGION_GRANULE: u64 = 2 * MIB;
/// The directory whose choice means "use a memfd".
pub const DEFAULT_SHM_DIR: &str = "/dev/shm";

const MEMFD_NAME: &CStr = c"plasma-arena";

/// What the arena's backing file must look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackingOptions {
    /// The byte budget (`-m`).
    pub capacity: u64,
    /// Where backing files go (`-d`); `/dev/shm` selects a memfd.
    pub dir: PathBuf,
    /// Back the arena with huge pages (`-h`).
    pub huge_pages: bool,
}

/// Why the backing file could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackingError {
    /// `-m` is so large that the arena length overflows.
    #[error("-m {capacity} is too large: the arena length would overflow")]
    TooLarge {
        /// The requested budget.
        capacity: u64,
    },
    /// The filesystem holding the arena has too little free space.
    #[error(
        "not enough free space in {}: the arena needs {needed} bytes but only {available} are free",
        dir.display()
    )]
    NoSpace {
        /// The filesystem checked.
        dir: PathBuf,
        /// Bytes the arena needs.
        needed: u64,
        /// Bytes free.
        available: u64,
    },
    /// Huge pages were asked for but too few are free.
    #[error(
        "not enough free huge pages: the arena needs {needed} bytes but only {available} bytes \
         of huge pages are free (see HugePages_Free in /proc/meminfo)"
    )]
    NoHugePages {
        /// Bytes the arena needs.
        needed: u64,
        /// Bytes of free huge pages.
        available: u64,
    },
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Io {
        /// The operation, with its object.
        op: String,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err(op: impl Into<String>, source: impl Into<io::Error>) -> BackingError {
    BackingError::Io {
        op: op.into(),
        source: source.into(),
    }
}

/// The created file: its descriptor and its length.
#[derive(Debug)]
pub struct Backing {
    /// The descriptor passed to clients and mapped by the store.
    pub fd: OwnedFd,
    /// File length in bytes (= the allocator region).
    pub len: u64,
}

/// Allocator region for a budget: `capacity + max(capacity / 16, 1 MiB)`
/// rounded up to `granule`. `None` on overflow.
pub fn region_len(capacity: u64, granule: u64) -> Option<u64> {
    let slack = (capacity / 16).max(MIB);
    let raw = capacity.checked_add(slack)?;
    round_up(raw, granule.max(1))
}

fn round_up(n: u64, granule: u64) -> Option<u64> {
    Some(n.checked_add(granule - 1)? / granule * granule)
}

/// Creates, sizes and fully allocates the backing file.
pub fn create(opts: &BackingOptions) -> Result<Backing, BackingError> {
    let use_memfd = opts.dir == Path::new(DEFAULT_SHM_DIR);
    let granule = if opts.huge_pages {
        hugepage_size().map_or(REGION_GRANULE, |s| s.max(REGION_GRANULE))
    } else {
        REGION_GRANULE
    };
    let len = region_len(opts.capacity, granule).ok_or(BackingError::TooLarge {
        capacity: opts.capacity,
    })?;
    let off_len = i64::try_from(len).map_err(|_| BackingError::TooLarge {
        capacity: opts.capacity,
    })?;
    if use_memfd && opts.huge_pages {
        check_free_hugepages(len)?;
    } else {
        check_free_space(&opts.dir, len)?;
    }
    let (fd, sealable) = if use_memfd {
        open_memfd(opts.huge_pages)?
    } else {
        (open_unnamed_file(&opts.dir)?, false)
    };
    ftruncate(&fd, off_len).map_err(|e| io_err(format!("ftruncate of the arena to {len}"), e))?;
    match fallocate(fd.as_raw_fd(), FallocateFlags::empty(), 0, off_len) {
        Ok(()) => {}
        Err(Errno::ENOSPC) if opts.huge_pages => {
            return Err(BackingError::NoHugePages {
                needed: len,
                available: free_hugepage_bytes().unwrap_or(0),
            })
        }
        Err(Errno::ENOSPC) => {
            return Err(BackingError::NoSpace {
                dir: opts.dir.clone(),
                needed: len,
                available: free_bytes(&opts.dir).unwrap_or(0),
            })
        }
        Err(e) => return Err(io_err(format!("fallocate of {len} arena bytes"), e)),
    }
    if sealable {
        let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
        fcntl(fd.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
            .map_err(|e| io_err("sealing the arena memfd", e))?;
    }
    Ok(Backing { fd, len })
}

/// A small shared segment for our `direct` capability (the directory, a
/// hold table): a sealable memfd of `len` bytes, fully allocated (a client
/// touching it can never meet SIGBUS) and sealed against shrinking and
/// growing. Not yet sealed against adding seals: the directory gets
/// `F_SEAL_FUTURE_WRITE` once the store has mapped it
/// ([`seal_future_write`]).
pub fn create_segment(name: &CStr, len: u64) -> Result<OwnedFd, BackingError> {
    let fd = memfd_create(
        name,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(|e| io_err("memfd_create for a shared segment", e))?;
    let off_len = i64::try_from(len).map_err(|_| BackingError::TooLarge { capacity: len })?;
    ftruncate(&fd, off_len).map_err(|e| io_err(format!("ftruncate of a segment to {len}"), e))?;
    fallocate(fd.as_raw_fd(), FallocateFlags::empty(), 0, off_len)
        .map_err(|e| io_err(format!("fallocate of {len} segment bytes"), e))?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW),
    )
    .map_err(|e| io_err("sealing a segment's size", e))?;
    Ok(fd)
}

/// Forbids every writable mapping made from now on (and `write(2)`), then
/// any further seal: after this only mappings that exist already (the
/// store's) can write the segment.
pub fn seal_future_write(fd: &OwnedFd) -> Result<(), BackingError> {
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_FUTURE_WRITE | SealFlag::F_SEAL_SEAL),
    )
    .map_err(|e| io_err("sealing the directory against writers", e))?;
    Ok(())
}

/// Forbids further seals (a hold table stays writable for its client).
pub fn seal_seals(fd: &OwnedFd) -> Result<(), BackingError> {
    fcntl(fd.as_raw_fd(), FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SEAL))
        .map_err(|e| io_err("sealing a segment's seals", e))?;
    Ok(())
}

/// A memfd; the flag says whether it accepts seals.
fn open_memfd(huge_pages: bool) -> Result<(OwnedFd, bool), BackingError> {
    let base = MemFdCreateFlag::MFD_CLOEXEC;
    let extra = if huge_pages {
        MemFdCreateFlag::MFD_HUGETLB
    } else {
        MemFdCreateFlag::empty()
    };
    match memfd_create(
        MEMFD_NAME,
        base | extra | MemFdCreateFlag::MFD_ALLOW_SEALING,
    ) {
        Ok(fd) => Ok((fd, true)),
        // Kernels before 4.16 refuse sealing on hugetlb memfds.
        Err(Errno::EINVAL) if huge_pages => memfd_create(MEMFD_NAME, base | extra)
            .map(|fd| (fd, false))
            .map_err(|e| io_err("memfd_create with MFD_HUGETLB", e)),
        Err(e) => Err(io_err("memfd_create", e)),
    }
}

/// An unnamed file in `dir`: `O_TMPFILE`, or a fresh name unlinked at once.
fn open_unnamed_file(dir: &Path) -> Result<OwnedFd, BackingError> {
    let tmpfile = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match tmpfile {
        Ok(f) => return Ok(f.into()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
            ) => {}
        Err(e) => return Err(io_err(format!("creating a file in {}", dir.display()), e)),
    }
    let (file, path) = create_named_file(dir)?;
    std::fs::remove_file(&path).map_err(|e| io_err(format!("unlinking {}", path.display()), e))?;
    Ok(file.into())
}

fn create_named_file(dir: &Path) -> Result<(File, PathBuf), BackingError> {
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!("plasma-arena-{pid}-{nanos:09}-{attempt}"));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(format!("creating {}", path.display()), e)),
        }
    }
    Err(io_err(
        format!("creating a file in {}", dir.display()),
        io::Error::from(io::ErrorKind::AlreadyExists),
    ))
}

fn free_bytes(dir: &Path) -> Result<u64, Errno> {
    let st = statvfs(dir)?;
    Ok(st.blocks_available().saturating_mul(st.fragment_size()))
}

fn check_free_space(dir: &Path, needed: u64) -> Result<(), BackingError> {
    let available = match free_bytes(dir) {
        Ok(n) => n,
        // A memfd does not live in /dev/shm itself; without it, fallocate still checks.
        Err(Errno::ENOENT) if dir == Path::new(DEFAULT_SHM_DIR) => return Ok(()),
        Err(e) => return Err(io_err(format!("statvfs of {}", dir.display()), e)),
    };
    if available < needed {
        return Err(BackingError::NoSpace {
            dir: dir.to_path_buf(),
            needed,
            available,
        });
    }
    Ok(())
}

fn check_free_hugepages(needed: u64) -> Result<(), BackingError> {
    let available = free_hugepage_bytes().unwrap_or(0);
    if available < needed {
        return Err(BackingError::NoHugePages { needed, available });
    }
    Ok(())
}

fn read_meminfo() -> Option<HugePages> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn hugepage_size() -> Option<u64> {
    read_meminfo().map(|h| h.page_size)
}

fn free_hugepage_bytes() -> Option<u64> {
    read_meminfo().map(|h| h.free_pages.saturating_mul(h.page_size))
}

/// The huge page figures of `/proc/meminfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HugePages {
    free_pages: u64,
    page_size: u64,
}

fn parse_meminfo(text: &str) -> Option<HugePages> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    Some(HugePages {
        free_pages: field("HugePages_Free")?,
        page_size: field("Hugepagesize")?.checked_mul(1024)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_adds_a_sixteenth_or_a_mebibyte_and_rounds_to_2_mib() {
        assert_eq!(region_len(0, REGION_GRANULE), Some(2 * MIB));
        assert_eq!(region_len(1_000_000, REGION_GRANULE), Some(2 * MIB));
        assert_eq!(region_len(MIB, REGION_GRANULE), Some(2 * MIB));
        assert_eq!(region_len(MIB + 1, REGION_GRANULE), Some(4 * MIB));
        // 10^8 + 6_250_000 = 106_250_000 -> 51 * 2 MiB.
        assert_eq!(region_len(100_000_000, REGION_GRANULE), Some(51 * 2 * MIB));
        // 4 GiB + 256 MiB is already a multiple of 2 MiB.
        assert_eq!(
            region_len(4 << 30, REGION_GRANULE),
            Some((4 << 30) + (256 << 20))
        );
        assert_eq!(region_len(u64::MAX, REGION_GRANULE), None);
        assert_eq!(region_len(u64::MAX - 4 * MIB, REGION_GRANULE), None);
    }

    #[test]
    fn region_respects_a_larger_granule() {
        let gib = 1 << 30;
        assert_eq!(region_len(MIB, gib), Some(gib));
    }

    #[test]
    fn meminfo_huge_page_fields_are_parsed() {
        let text = "MemTotal: 100 kB\nHugePages_Total:      16\nHugePages_Free:       7\n\
                    HugePages_Rsvd:        0\nHugepagesize:       2048 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Some(HugePages {
                free_pages: 7,
                page_size: 2 * MIB
            })
        );
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn memfd_backing_is_sized_allocated_and_sealed() {
        let opts = BackingOptions {
            capacity: 3 * MIB,
            dir: PathBuf::from(DEFAULT_SHM_DIR),
            huge_pages: false,
        };
        let b = create(&opts).unwrap();
        // 3 MiB + 1 MiB of slack, already a multiple of 2 MiB.
        assert_eq!(b.len, 4 * MIB);
        let file = File::from(b.fd);
        assert_eq!(file.metadata().unwrap().len(), 4 * MIB);
        // Growing or shrinking a sealed memfd fails.
        assert!(file.set_len(8 * MIB).is_err());
        assert!(file.set_len(MIB).is_err());
    }

    #[test]
    fn a_directory_segment_admits_no_writer_but_its_creator() {
        use std::os::fd::AsFd;
        let fd = create_segment(c"test-segment", 8192).unwrap();
        let store = memmap2::MmapOptions::new()
            .len(8192)
            .map_raw(fd.as_raw_fd())
            .unwrap();
        seal_future_write(&fd).unwrap();
        // A later writable shared mapping is refused; a read-only one works.
        assert!(memmap2::MmapOptions::new()
            .len(8192)
            .map_raw(fd.as_raw_fd())
            .is_err());
        assert!(memmap2::MmapOptions::new()
            .len(8192)
            .map_raw_read_only(fd.as_raw_fd())
            .is_ok());
        let file = File::from(fd.as_fd().try_clone_to_owned().unwrap());
        assert!(file.set_len(4096).is_err(), "cannot shrink");
        assert!(file.set_len(16384).is_err(), "cannot grow");
        drop(store);
    }

    #[test]
    fn file_backing_in_a_directory_leaves_no_name_behind() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BackingOptions {
            capacity: MIB,
            dir: dir.path().to_path_buf(),
            huge_pages: false,
        };
        let b = create(&opts).unwrap();
        assert_eq!(b.len, 2 * MIB);
        assert_eq!(File::from(b.fd).metadata().unwrap().len(), 2 * MIB);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn too_little_space_is_refused_with_both_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        let opts = BackingOptions {
            capacity: free.saturating_mul(2).max(1 << 40),
            dir: dir.path().to_path_buf(),
            huge_pages: false,
        };
        match create(&opts) {
            Err(e @ BackingError::NoSpace { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("needs"), "{msg}");
                assert!(msg.contains("free"), "{msg}");
            }
            other => panic!("expected NoSpace, got {other:?}"),
        }
    }

    #[test]
    fn overflowing_capacity_is_refused() {
        let opts = BackingOptions {
            capacity: u64::MAX,
            dir: PathBuf::from(DEFAULT_SHM_DIR),
            huge_pages: false,
        };
        assert!(matches!(create(&opts), Err(BackingError::TooLarge { .. })));
    }
}
