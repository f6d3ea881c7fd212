//! Our `direct` capability, the client's half, shared by [`Client`] and
//! [`AsyncClient`](crate::AsyncClient) (docs/design.md, "Fewer
//! hand-overs"): gets of sealed objects through the store's directory with
//! no message, holds in this connection's hold table, and their releases.
//!
//! One [`Direct`] per attached connection: the arena, directory and hold
//! table mappings, which slots are free, and the release log's head. A
//! buffer got this way is held by a [`DirectHold`], which keeps the
//! connection (through `via`) and the mappings alive, and on release clears
//! its slot and logs it.
//!
//! [`Client`]: crate::Client

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use nix::time::{clock_gettime, ClockId};
use plasma_protocol::direct::{pack_hold, Directory, HoldRecord, HoldTable};
use plasma_protocol::{Digest, ObjectId, ObjectSpec, Request, PUT_HOLD_BY_SOCKET};

use crate::buffer::{ObjectBuffer, ReleaseHook};
use crate::connection::{object_extent, Answer};
use crate::error::ProtocolError;
use crate::lock;
use crate::mapping::{Mapping, View, WordsMap};

/// Something that can tell the store "my release log has news"
/// (HoldsChanged): the blocking client's connection, the async client's
/// link to its I/O task. It also keeps the connection open while a direct
/// hold lives (sharing contract, rule 3).
pub(crate) trait Nudge: Send + Sync + 'static {
    /// Sends HoldsChanged (best effort: a connection that failed sends
    /// nothing, and its holds end with it).
    fn nudge(&self);
}

/// The `direct` state of one attached connection.
pub(crate) struct Direct {
    arena: Arc<Mapping>,
    directory: WordsMap,
    holds: WordsMap,
    state: Mutex<Slots>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").finish_non_exhaustive()
    }
}

/// The client's own bookkeeping of its hold table.
struct Slots {
    free: Vec<u32>,
    /// Release-log records written, ever.
    head: u64,
    /// Records waiting for room in the log (oldest first).
    backlog: VecDeque<HoldRecord>,
    /// The store's log tail when HoldsChanged was last sent for the log's
    /// fill: no other is sent until the store has read it.
    nudged_at: Option<u64>,
}

/// A direct hold just taken: the object's bytes, and the slot holding them.
pub(crate) struct Taken {
    pub(crate) view: View,
    pub(crate) data_len: usize,
    pub(crate) slot: u32,
    pub(crate) entry: u32,
    pub(crate) gen: u64,
}

fn now_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| (t.tv_sec() as u64).saturating_mul(1_000_000_000) + t.tv_nsec() as u64)
        .unwrap_or(0)
}

impl Direct {
    /// Maps the directory (read-only) and the hold table (writable) the
    /// store sent after an AttachReply, over the arena mapping.
    pub(crate) fn new(
        arena: Arc<Mapping>,
        directory: &OwnedFd,
        holds: &OwnedFd,
    ) -> Result<Direct, ProtocolError> {
        let map = |fd, writable| {
            WordsMap::new(fd, writable)
                .map_err(|e| ProtocolError::Map(crate::segments::MapError::Io(e)))
        };
        let directory = map(directory, false)?;
        let holds = map(holds, true)?;
        Directory::open(directory.words())
            .map_err(|_| ProtocolError::Mismatch("directory layout"))?;
        let slots = HoldTable::open(holds.words())
            .map_err(|_| ProtocolError::Mismatch("hold table layout"))?
            .geometry()
            .slots;
        let free = (0..slots as u32).rev().collect();
        Ok(Direct {
            arena,
            directory,
            holds,
            state: Mutex::new(Slots {
                free,
                head: 0,
                backlog: VecDeque::new(),
                nudged_at: None,
            }),
        })
    }

    fn dir(&self) -> Option<Directory<'_>> {
        Directory::open(self.directory.words()).ok()
    }

    fn table(&self) -> Option<HoldTable<'_>> {
        HoldTable::open(self.holds.words()).ok()
    }

    /// Takes a direct hold on `id` if the directory has it: claim a slot,
    /// then re-check the entry's generation (the hold protocol). `Err(true)`
    /// when a claim had to be abandoned and the store should be told;
    /// `Err(false)` for a plain miss.
    pub(crate) fn take(&self, id: &ObjectId) -> Result<Taken, bool> {
        let dir = self.dir().ok_or(false)?;
        let table = self.table().ok_or(false)?;
        let snap = dir.lookup(id).ok_or(false)?;
        let slot = lock(&self.state).free.pop().ok_or(false)?;
        table.claim(slot as usize, pack_hold(snap.entry, snap.gen));
        if dir.gen(snap.entry) != Some(snap.gen) {
            // Retired meanwhile; the store may have pinned it for this very
            // claim, so the abandonment is logged like a release.
            return Err(self.release(slot, snap.entry, snap.gen));
        }
        let spec = ObjectSpec {
            segment_index: 0,
            data_offset: snap.data_offset,
            data_size: snap.data_size,
            metadata_offset: snap.data_offset.saturating_add(snap.data_size),
            metadata_size: snap.metadata_size,
            device_num: 0,
        };
        match self.view(&spec) {
            Ok((view, data_len)) => Ok(Taken {
                view,
                data_len,
                slot,
                entry: snap.entry,
                gen: snap.gen,
            }),
            Err(_) => Err(self.release(slot, snap.entry, snap.gen)),
        }
    }

    /// A bounds-checked read view of the object `spec` describes.
    pub(crate) fn view(&self, spec: &ObjectSpec) -> Result<(View, usize), ProtocolError> {
        let (extent, data_len) = object_extent(spec)?;
        Ok((self.arena.view(extent)?, data_len))
    }

    /// A free slot for a put's hold (`None`: all taken; hold through the
    /// socket then).
    pub(crate) fn reserve_slot(&self) -> Option<u32> {
        lock(&self.state).free.pop()
    }

    /// Gives back a slot the store did not use.
    pub(crate) fn unreserve_slot(&self, slot: u32) {
        lock(&self.state).free.push(slot);
    }

    /// Ends the hold in `slot` on `(entry, gen)`: clears the slot and logs
    /// the release. True when the store must be told now (HoldsChanged):
    /// the object was retired while held (the store waits for this), or the
    /// log is half full.
    pub(crate) fn release(&self, slot: u32, entry: u32, gen: u64) -> bool {
        let Some(table) = self.table() else {
            return false;
        };
        table.clear(slot as usize);
        let retired = self.dir().and_then(|d| d.gen(entry)) != Some(gen);
        let mut st = lock(&self.state);
        st.free.push(slot);
        st.backlog.push_back(HoldRecord {
            hold: pack_hold(entry, gen),
            stamp_ns: now_ns(),
        });
        let Slots {
            head,
            backlog,
            nudged_at,
            ..
        } = &mut *st;
        while let Some(&r) = backlog.front() {
            if !table.log_push(head, r) {
                break;
            }
            backlog.pop_front();
        }
        let log = table.geometry().log as u64;
        let filling = table.log_len(*head) >= log / 2 || !backlog.is_empty();
        let tail = head.wrapping_sub(table.log_len(*head));
        let told = *nudged_at == Some(tail);
        if retired || (filling && !told) {
            *nudged_at = Some(tail);
            true
        } else {
            false
        }
    }
}

/// The PutRequest of a local builder's `bytes` (`data_len` bytes of data,
/// then the metadata), naming `slot` of the hold table, or none (a hold
/// through the socket) when every slot is taken.
pub(crate) fn put_request(
    id: ObjectId,
    bytes: &[u8],
    data_len: usize,
    digest: Digest,
    slot: Option<u32>,
) -> Request<'_> {
    let (data, metadata) = bytes.split_at(data_len.min(bytes.len()));
    Request::Put {
        id,
        evict_if_full: true,
        data,
        metadata,
        digest,
        slot: slot.unwrap_or(PUT_HOLD_BY_SOCKET),
    }
}

/// The read view of the object a PutReply describes, from the segment the
/// reply announced.
pub(crate) fn put_view(
    answer: &Answer,
    object: &ObjectSpec,
) -> Result<(View, usize), ProtocolError> {
    let (extent, data_len) = object_extent(object)?;
    Ok((
        answer.segment(object.segment_index)?.view(extent)?,
        data_len,
    ))
}

/// A direct hold of one buffer family: released by clearing its slot.
pub(crate) struct DirectHold<N: Nudge> {
    direct: Arc<Direct>,
    via: Arc<N>,
    slot: u32,
    entry: u32,
    gen: u64,
}

impl<N: Nudge> ReleaseHook for DirectHold<N> {
    fn release(&self, _id: ObjectId) {
        if self.direct.release(self.slot, self.entry, self.gen) {
            self.via.nudge();
        }
    }
}

impl<N: Nudge> DirectHold<N> {
    /// A buffer for `id` over a hold just taken.
    pub(crate) fn buffer(
        direct: &Arc<Direct>,
        via: &Arc<N>,
        id: ObjectId,
        t: Taken,
    ) -> ObjectBuffer {
        let hook = Arc::new(DirectHold {
            direct: Arc::clone(direct),
            via: Arc::clone(via),
            slot: t.slot,
            entry: t.entry,
            gen: t.gen,
        });
        ObjectBuffer::new(id, t.view, t.data_len, hook)
    }
}

/// Direct gets of `ids` (duplicates allowed): one buffer per distinct id
/// the directory has (clones for repeats), `None` elsewhere. Tells the
/// store if a claim had to be abandoned.
pub(crate) fn take_all<N: Nudge>(
    direct: &Arc<Direct>,
    via: &Arc<N>,
    ids: &[ObjectId],
) -> Vec<Option<ObjectBuffer>> {
    let mut made: Vec<(ObjectId, Option<ObjectBuffer>)> = Vec::with_capacity(ids.len());
    let mut nudge = false;
    let out = ids
        .iter()
        .map(|id| {
            if let Some((_, b)) = made.iter().find(|(i, _)| i == id) {
                return b.clone();
            }
            let b = match direct.take(id) {
                Ok(t) => Some(DirectHold::buffer(direct, via, *id, t)),
                Err(tell) => {
                    nudge |= tell;
                    None
                }
            };
            made.push((*id, b.clone()));
            b
        })
        .collect();
    if nudge {
        via.nudge();
    }
    out
}
