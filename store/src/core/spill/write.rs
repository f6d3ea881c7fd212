//! Spilling: an evicted object's write to disk, and its end.

use plasma_protocol::ObjectId;

use super::super::table::State;
use super::super::{Effect, Outcome, Store};
use super::{Direction, DiskOp, Job, Notice, Record, SpillError, SpillFile};

impl Store {
    /// Starts spilling an evicted object (unlinked, sealed, unheld): its
    /// extent stays allocated and readable until the write has ended. False
    /// (nothing done) when the directory has no room left for it: the
    /// caller drops the object instead.
    pub(in super::super) fn start_spill(&mut self, slot: u32, out: &mut Outcome) -> bool {
        let e = self.table.get(slot);
        let (id, size) = (e.id, e.size());
        let Some(extent) = e.extent() else {
            return false;
        };
        if !self.spill.admits(size) {
            self.note_dropped(id, self.spill.limit, out);
            return false;
        }
        let file = self.spill.next_file();
        self.spill.records.insert(
            slot,
            Record {
                file,
                crc: 0,
                queued: false,
            },
        );
        self.spill.jobs.insert(
            file,
            Job {
                direction: Direction::Write,
                slot: Some(slot),
                extent,
                size,
            },
        );
        self.spill.freeing += size;
        self.spill.disk_bytes += size;
        self.spill.stats.spills_in_flight += 1;
        self.table.get_mut(slot).state = State::Spilling;
        out.effects.push(Effect::Disk(DiskOp::Write {
            file,
            offset: extent.offset,
            len: size,
        }));
        true
    }

    /// The write of `file` has ended: with the CRC-32 of the bytes written,
    /// or a failure. The object becomes spilled and its memory is freed;
    /// unless a client holds it now (the spill is abandoned: the object
    /// stays in memory), or the write failed (the object is dropped, with a
    /// deletion notification). Deferred creates are resumed and waiting
    /// restores started. A file this store is not writing is ignored.
    pub fn spill_done(
        &mut self,
        file: SpillFile,
        result: Result<u32, SpillError>,
        out: &mut Outcome,
    ) {
        let Some(job) = self.spill.jobs.get(&file).copied() else {
            return;
        };
        if job.direction != Direction::Write {
            return;
        }
        self.spill.jobs.remove(&file);
        self.spill.freeing -= job.size;
        self.spill.stats.spills_in_flight -= 1;
        let keep_file = match (job.slot, result) {
            // The object was deleted while it was being written.
            (None, _) => {
                self.free_resident(Some(job.extent), job.size, None);
                false
            }
            (Some(slot), Ok(crc)) => self.spill_written(slot, file, crc),
            (Some(slot), Err(error)) => {
                self.spill.stats.spill_failures += 1;
                self.spill.records.remove(&slot);
                // The loop removed what it had written.
                self.spill.disk_bytes -= job.size;
                let e = self.table.get_mut(slot);
                e.state = State::Sealed;
                let (id, dropped) = (e.id, e.ref_count == 0);
                match error {
                    SpillError::NoSpace if dropped => self.note_dropped(id, None, out),
                    SpillError::NoSpace => {}
                    SpillError::Io => {
                        self.spill.stats.dropped += u64::from(dropped);
                        out.effects
                            .push(Effect::Notice(Notice::SpillFailed { id, file, dropped }));
                    }
                }
                if dropped {
                    self.drop_evicted(slot, None, out);
                } else {
                    self.publish(slot);
                }
                return self.room_changed(out);
            }
        };
        if !keep_file {
            self.spill.disk_bytes -= job.size;
            out.effects.push(Effect::Disk(DiskOp::Remove { file }));
        }
        self.room_changed(out);
    }

    /// A spill write of `slot` into `file` succeeded; whether its file
    /// stays.
    fn spill_written(&mut self, slot: u32, file: SpillFile, crc: u32) -> bool {
        let e = self.table.get(slot);
        let (size, extent, held, delete) =
            (e.size(), e.extent(), e.ref_count > 0, e.delete_pending);
        if held {
            // Taken from memory while it was written: it stays there.
            self.spill.records.remove(&slot);
            self.spill.stats.spills_abandoned += 1;
            self.table.get_mut(slot).state = State::Sealed;
            self.publish(slot);
            return false;
        }
        debug_assert!(!delete, "an unheld spilling object with a pending delete");
        self.free_resident(extent, size, None);
        if let Some(r) = self.spill.records.get_mut(&slot) {
            r.crc = crc;
        }
        self.table.get_mut(slot).state = State::Spilled;
        let stats = &mut self.spill.stats;
        stats.spills += 1;
        stats.spill_bytes += size;
        stats.spilled_objects += 1;
        stats.spilled_bytes += size;
        if self.spill.full_since.is_some_and(|n| file.0 >= n) {
            self.spill.full_since = None;
        }
        true
    }

    /// An object that should have been spilled is dropped instead for lack
    /// of room on disk: the first of an episode gets a log line.
    fn note_dropped(&mut self, id: ObjectId, limit: Option<u64>, out: &mut Outcome) {
        self.spill.stats.dropped += 1;
        if self.spill.full_since.is_none() {
            self.spill.full_since = Some(self.spill.next_file);
            out.effects
                .push(Effect::Notice(Notice::SpillDiskFull { id, limit }));
        }
    }

    /// Memory or disk came free: deferred creates may try again, waiting
    /// restores start when they fit.
    pub(super) fn room_changed(&mut self, out: &mut Outcome) {
        for client in std::mem::take(&mut self.spill.deferred) {
            out.effects.push(Effect::Resume { client });
        }
        self.start_queued_restores(out);
    }
}
