//! Restoring: bringing a spilled object back into memory for the requests
//! that ask for it, and forgetting a spilled object that is deleted.

use plasma_protocol::ObjectId;

use super::super::space::Room;
use super::super::table::State;
use super::super::{Effect, Outcome, Store};
use super::{Direction, DiskOp, Job, Notice, RestoreError, SpillFile};

impl Store {
    /// A request wants spilled object `slot`: start (or join) its restore.
    /// True when it will be readable once the restore has ended (the read
    /// is under way, or waits for memory that writes under way will free);
    /// false when there is no memory for it now (everything else is held):
    /// the caller answers as for an object that is not available.
    pub(in super::super) fn bring_back(&mut self, slot: u32, out: &mut Outcome) -> bool {
        match self.table.get(slot).state {
            State::Restoring => true,
            State::Spilled if self.spill.records.get(&slot).is_some_and(|r| r.queued) => true,
            State::Spilled => self.try_restore(slot, out),
            _ => false,
        }
    }

    /// Whether a request waiting for `id` waits for its restore.
    pub(in super::super) fn restore_pending(&self, id: &ObjectId) -> bool {
        self.table
            .find(id)
            .is_some_and(|slot| match self.table.get(slot).state {
                State::Restoring => true,
                State::Spilled => self.spill.records.get(&slot).is_some_and(|r| r.queued),
                _ => false,
            })
    }

    /// Allocates memory for spilled `slot` (which may spill others, never
    /// objects being restored: they are in no list) and starts the read, or
    /// queues it when that memory is being freed.
    fn try_restore(&mut self, slot: u32, out: &mut Outcome) -> bool {
        let size = self.table.get(slot).size();
        let Some(record) = self.spill.records.get(&slot).copied() else {
            return false;
        };
        match self.reserve(size, true, out) {
            Room::Got(extent) => {
                self.spill.jobs.insert(
                    record.file,
                    Job {
                        direction: Direction::Read,
                        slot: Some(slot),
                        extent,
                        size,
                    },
                );
                self.spill.stats.restores_in_flight += 1;
                let e = self.table.get_mut(slot);
                e.offset = extent.offset;
                e.state = State::Restoring;
                out.effects.push(Effect::Disk(DiskOp::Read {
                    file: record.file,
                    offset: extent.offset,
                    len: size,
                    crc: record.crc,
                }));
                true
            }
            Room::Wait => {
                if let Some(r) = self.spill.records.get_mut(&slot) {
                    r.queued = true;
                }
                self.spill.queue.push_back(slot);
                true
            }
            Room::Full => false,
        }
    }

    /// Starts the restores that waited for memory, oldest first; one that
    /// still cannot have memory answers its requests as not available.
    pub(super) fn start_queued_restores(&mut self, out: &mut Outcome) {
        for slot in std::mem::take(&mut self.spill.queue) {
            if let Some(r) = self.spill.records.get_mut(&slot) {
                r.queued = false;
            }
            if !self.try_restore(slot, out) {
                let id = self.table.get(slot).id;
                self.settle_waiters(id, None, out);
            }
        }
    }

    /// The read of `file` has ended. On success the object is sealed in
    /// memory again with its own digest, sizes and times: the requests
    /// waiting for it are answered (Gets and Awaits with a hold each), its
    /// file is removed. On failure the object is lost: its requests get
    /// "not available" (a Contains: 0), subscribers a deletion. A file this
    /// store is not reading is ignored.
    pub fn restore_done(
        &mut self,
        file: SpillFile,
        result: Result<(), RestoreError>,
        out: &mut Outcome,
    ) {
        let Some(job) = self.spill.jobs.get(&file).copied() else {
            return;
        };
        if job.direction != Direction::Read {
            return;
        }
        self.spill.jobs.remove(&file);
        self.spill.stats.restores_in_flight -= 1;
        self.spill.disk_bytes -= job.size;
        out.effects.push(Effect::Disk(DiskOp::Remove { file }));
        match job.slot {
            // Deleted while it was being read.
            None => self.free_resident(Some(job.extent), job.size, None),
            Some(slot) => {
                self.spill.records.remove(&slot);
                let stats = &mut self.spill.stats;
                stats.spilled_objects -= 1;
                stats.spilled_bytes -= job.size;
                let id = self.table.get(slot).id;
                match result {
                    Ok(()) => {
                        stats.restores += 1;
                        stats.restore_bytes += job.size;
                        self.table.get_mut(slot).state = State::Sealed;
                        self.publish(slot);
                        self.settle_waiters(id, Some(slot), out);
                        self.push_awaited(slot, out);
                        self.on_unreferenced(slot, out);
                    }
                    Err(error) => {
                        stats.restore_failures += 1;
                        out.effects
                            .push(Effect::Notice(Notice::RestoreFailed { id, file, error }));
                        self.free_resident(Some(job.extent), job.size, None);
                        self.table.remove(slot);
                        self.settle_waiters(id, None, out);
                        self.notify_deletion(id, out);
                    }
                }
            }
        }
        self.room_changed(out);
    }

    /// Forgets the spill side of `slot`, whose object is being deleted (the
    /// caller removes its entry, then answers the requests waiting for its
    /// restore if this says so): a write or read under way keeps the
    /// extent until it ends; a spilled object's file goes now.
    pub(in super::super) fn forget_spilled(&mut self, slot: u32, out: &mut Outcome) -> bool {
        let e = self.table.get(slot);
        let (size, state) = (e.size(), e.state);
        let Some(record) = self.spill.records.remove(&slot) else {
            return false;
        };
        if state != State::Spilling {
            self.spill.stats.spilled_objects -= 1;
            self.spill.stats.spilled_bytes -= size;
        }
        match state {
            State::Spilling | State::Restoring => {
                if let Some(job) = self.spill.jobs.get_mut(&record.file) {
                    job.slot = None;
                }
            }
            _ => {
                if record.queued {
                    self.spill.queue.retain(|&s| s != slot);
                }
                self.spill.disk_bytes -= size;
                out.effects
                    .push(Effect::Disk(DiskOp::Remove { file: record.file }));
            }
        }
        state != State::Spilling
    }
}
