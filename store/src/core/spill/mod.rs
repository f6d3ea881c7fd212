//! Spilling to disk (issue 14; docs/design.md, "Spilling"): with a spill
//! directory, an object leaving memory under pressure is written to a file
//! instead of dropped, and a Get, Contains or Await brings it back.
//!
//! The core does no I/O: it asks for each write, read and removal with an
//! [`Effect::Disk`](super::Effect::Disk), and the event loop reports the end
//! of each write and read with [`Store::spill_done`](super::Store::spill_done)
//! and [`Store::restore_done`](super::Store::restore_done). Until then:
//!
//! * a **spilling** object keeps its extent, and stays readable: a Get takes
//!   it from memory at once. If someone still holds it when the write ends,
//!   the spill is abandoned (the object stays in memory, the file goes);
//!   otherwise the extent is freed and the object is **spilled**;
//! * a **restoring** object has a fresh extent that no client knows of; the
//!   requests that asked for it wait (one read, however many ask), and are
//!   answered when the read has ended: with the object, or, if the file was
//!   missing or corrupt, as for an object that is gone;
//! * a create that needs memory the writes under way will free is
//!   *deferred* ([`Handled::Deferred`](super::Handled::Deferred)): the loop
//!   keeps its frame and hands it in again after an
//!   [`Effect::Resume`](super::Effect::Resume).
//!
//! Failures are per object: a write that fails (the disk full, or the byte
//! limit of the directory reached) drops the object as eviction without
//! spilling would, with a deletion notification; a read that fails loses
//! the object, with a deletion notification too.

mod read;
mod write;

use std::collections::{HashMap, VecDeque};
use std::fmt;

use plasma_protocol::ObjectId;

use super::allocator::Extent;
use super::ClientId;

/// A spill file, named by the store: `<16 hex digits>.spill` in the spill
/// directory. Numbers are never reused while the store runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpillFile(pub u64);

impl fmt::Display for SpillFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Disk work the loop performs off the event loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOp {
    /// Copy the `len` bytes at `offset` (an object's data then metadata,
    /// sealed) into `file`; report with [`super::Store::spill_done`] and the
    /// CRC-32 of the bytes written.
    Write {
        /// The file to create.
        file: SpillFile,
        /// Where the object starts in the arena.
        offset: u64,
        /// Data plus metadata bytes.
        len: u64,
    },
    /// Copy `file` into the `len` bytes at `offset`, checking that it is
    /// `len` bytes long and that their CRC-32 is `crc`; report with
    /// [`super::Store::restore_done`].
    Read {
        /// The file to read.
        file: SpillFile,
        /// Where the object goes in the arena.
        offset: u64,
        /// Data plus metadata bytes.
        len: u64,
        /// CRC-32 of the bytes written.
        crc: u32,
    },
    /// Remove `file`; nothing to report.
    Remove {
        /// The file to remove.
        file: SpillFile,
    },
}

/// Why a spill write failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpillError {
    /// The filesystem is full: the object is dropped, one log line per
    /// episode (see [`Notice::SpillDiskFull`]).
    NoSpace,
    /// Any other failure (the loop logs it): the object is dropped.
    Io,
}

/// Why a restore failed; the object is lost either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// The file is gone.
    Missing,
    /// The file's length or CRC-32 is not what was written.
    Corrupt,
    /// Reading failed.
    Io,
}

/// Something for the log that only the core can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// An object leaving memory could not be spilled for lack of room on
    /// disk and was dropped; others may follow without a line of their own
    /// until a spill succeeds again.
    SpillDiskFull {
        /// The first object dropped.
        id: ObjectId,
        /// The byte limit of the spill directory, when it (and not the
        /// filesystem) was reached.
        limit: Option<u64>,
    },
    /// Writing `file` failed for another reason than a full disk: the
    /// object was dropped, or, if held, stays in memory.
    SpillFailed {
        /// The object.
        id: ObjectId,
        /// Its file.
        file: SpillFile,
        /// Whether it was dropped.
        dropped: bool,
    },
    /// Reading `file` back failed: the object is lost (its requests were
    /// answered as for an absent object, subscribers told of a deletion).
    RestoreFailed {
        /// The object.
        id: ObjectId,
        /// Its file.
        file: SpillFile,
        /// Why.
        error: RestoreError,
    },
}

/// What spilling has done since the store started, and what is on disk
/// now: the figures a StatsReply carries, kept as they happen.
pub use plasma_protocol::SpillStats;

/// Where a spilled object's bytes are.
#[derive(Clone, Copy, Debug)]
pub(super) struct Record {
    pub file: SpillFile,
    /// CRC-32 of the file's bytes (valid once the write has ended).
    pub crc: u32,
    /// A restore waits in [`SpillBook::queue`] for memory.
    pub queued: bool,
}

/// Which way a job moves bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    Write,
    Read,
}

/// A write or read under way.
#[derive(Clone, Copy, Debug)]
pub(super) struct Job {
    pub direction: Direction,
    /// The object, or `None` once it was deleted: the extent then waits for
    /// the job's end to be freed.
    pub slot: Option<u32>,
    pub extent: Extent,
    pub size: u64,
}

/// The spill side of the store.
#[derive(Debug, Default)]
pub(super) struct SpillBook {
    /// Bytes the spill directory may hold (`--spill-max`); `None`: spilling
    /// is off.
    pub limit: Option<u64>,
    /// Spilling, spilled and restoring objects, by slot.
    pub records: HashMap<u32, Record>,
    /// Writes and reads under way.
    pub jobs: HashMap<SpillFile, Job>,
    /// Restores waiting for memory that writes under way will free, oldest
    /// first.
    pub queue: VecDeque<u32>,
    /// Clients whose create waits for memory (see [`super::Handled`]).
    pub deferred: Vec<ClientId>,
    /// Bytes of the writes under way: memory they will free.
    pub freeing: u64,
    /// Bytes of the files that exist or are being written.
    pub disk_bytes: u64,
    /// Objects are being dropped for lack of disk: the first file number
    /// given out after the first of them. The episode ends when a spill of
    /// such a file succeeds (one started while the disk was known to be
    /// full); a write already under way when it filled says nothing new
    /// about the room left, whenever it ends.
    pub full_since: Option<u64>,
    next_file: u64,
    pub stats: SpillStats,
}

impl SpillBook {
    /// A book for a directory of `limit` bytes (`None`: spilling off).
    pub fn new(limit: Option<u64>) -> Self {
        SpillBook {
            limit,
            ..SpillBook::default()
        }
    }

    /// A new file number.
    pub fn next_file(&mut self) -> SpillFile {
        let f = SpillFile(self.next_file);
        self.next_file += 1;
        f
    }

    /// Whether `size` more bytes fit the directory's limit.
    pub fn admits(&self, size: u64) -> bool {
        self.limit
            .is_some_and(|limit| self.disk_bytes.saturating_add(size) <= limit)
    }

    /// Bytes of extents allocated but holding no sealed object in memory:
    /// those being restored, and those of deleted objects whose write or
    /// read is still under way (O(disk work under way), for Stats).
    pub fn reserved_not_sealed(&self) -> u64 {
        self.jobs
            .values()
            .filter(|j| j.slot.is_none() || j.direction == Direction::Read)
            .map(|j| j.size)
            .sum()
    }

    /// Whether writes are under way.
    pub fn writing(&self) -> bool {
        self.stats.spills_in_flight > 0
    }
}

#[cfg(any(test, feature = "invariants"))]
impl SpillBook {
    /// Panics unless the book agrees with `table`; returns the extents of
    /// jobs whose object was deleted (still allocated, in the budget).
    pub fn check(&self, table: &super::table::ObjectTable) -> Vec<Extent> {
        use super::table::{ListTag, State};
        let (mut writes, mut reads, mut freeing, mut disk) = (0u64, 0u64, 0u64, 0u64);
        let mut orphans = Vec::new();
        for (file, job) in &self.jobs {
            disk += job.size;
            match job.direction {
                Direction::Write => {
                    writes += 1;
                    freeing += job.size;
                }
                Direction::Read => reads += 1,
            }
            match job.slot {
                None => orphans.push(job.extent),
                Some(slot) => {
                    let e = table.get(slot);
                    let want = match job.direction {
                        Direction::Write => State::Spilling,
                        Direction::Read => State::Restoring,
                    };
                    assert_eq!(e.state, want, "job {file} for {:?}", e.id);
                    assert_eq!(e.extent(), Some(job.extent), "job {file} extent");
                    assert_eq!(self.records.get(&slot).map(|r| r.file), Some(*file));
                }
            }
        }
        let (mut on_disk, mut on_disk_bytes) = (0u64, 0u64);
        for (slot, e) in table.iter() {
            let record = self.records.get(&slot);
            match e.state {
                State::Spilling | State::Spilled | State::Restoring => {
                    let r = record.unwrap_or_else(|| panic!("{:?} has no spill record", e.id));
                    assert_eq!(e.list, ListTag::None, "{:?} in a list", e.id);
                    if e.state != State::Spilling {
                        assert_eq!(e.ref_count, 0, "{:?} held while not in memory", e.id);
                        on_disk += 1;
                        on_disk_bytes += e.size();
                    }
                    if e.state == State::Spilled {
                        assert!(!self.jobs.contains_key(&r.file), "spilled with a job");
                        disk += e.size();
                    }
                    assert_eq!(
                        r.queued,
                        self.queue.contains(&slot),
                        "queued flag of {:?}",
                        e.id
                    );
                    assert!(!r.queued || e.state == State::Spilled);
                }
                _ => assert!(record.is_none(), "{:?} has a spill record", e.id),
            }
        }
        assert_eq!(
            self.records.len(),
            table
                .iter()
                .filter(|(s, _)| self.records.contains_key(s))
                .count()
        );
        let mut queue = self.queue.clone().into_iter().collect::<Vec<_>>();
        queue.sort_unstable();
        queue.dedup();
        assert_eq!(queue.len(), self.queue.len(), "a restore queued twice");
        assert_eq!(self.stats.spills_in_flight, writes);
        assert_eq!(self.stats.restores_in_flight, reads);
        assert_eq!(self.freeing, freeing, "bytes being freed");
        assert_eq!(self.disk_bytes, disk, "bytes on disk");
        assert_eq!(self.stats.spilled_objects, on_disk);
        assert_eq!(self.stats.spilled_bytes, on_disk_bytes);
        if let Some(limit) = self.limit {
            assert!(self.disk_bytes <= limit, "over the spill limit");
        } else {
            assert!(self.jobs.is_empty() && self.records.is_empty());
        }
        // What waits for memory is woken by a write's end.
        assert!(self.deferred.is_empty() || writes > 0, "deferred, no write");
        assert!(
            self.queue.is_empty() || writes > 0,
            "restore queued, no write"
        );
        orphans
    }
}
