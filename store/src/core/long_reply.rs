//! Replies too long to build in one turn: List and GetDebugString walk the
//! whole table, 150 ms at 200,000 objects. [`Store::handle`] answers them
//! with an [`Effect::Long`](super::Effect::Long); the loop then calls
//! [`Store::advance_long`] once per turn, each call visiting a bounded
//! number of table slots, until it returns the finished frame.
//!
//! The frame is byte for byte the one a single pass would build over the
//! same table (the same builder calls, spread out in time). Requests of
//! other clients handled between two slices may change the table: an entry
//! appears as it was when its slice visited it.

use std::collections::HashMap;

use plasma_protocol::{BuiltFrame, Encoder, ListReplyWriter, Reply};

use super::table::ListTag;
use super::Store;

/// Which long reply a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongRequest {
    /// ListRequest.
    List,
    /// GetDebugStringRequest.
    DebugString,
}

/// A long reply in progress (see the module doc).
#[derive(Debug)]
pub struct LongReply {
    next_slot: u32,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The reply so far, and the connections holding each object through a
    /// hold-table slot (our `direct`), counted when the List arrived.
    List(ListReplyWriter, HashMap<u32, u32>),
    Debug(QuotaTally),
    Done,
}

/// What the debug text counts over the objects quota clients own.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct QuotaTally {
    pub owned: usize,
    pub pinned: usize,
    pub pinned_bytes: u64,
}

impl Store {
    /// Starts the long reply `request` asks for.
    pub fn start_long(&self, request: LongRequest) -> LongReply {
        let kind = match request {
            LongRequest::List => {
                Kind::List(ListReplyWriter::new(self.table.len()), self.slot_holders())
            }
            LongRequest::DebugString => Kind::Debug(QuotaTally::default()),
        };
        LongReply { next_slot: 0, kind }
    }

    /// Visits up to `max_slots` more table slots for `job`; returns the
    /// complete reply frame once the whole table has been visited.
    pub fn advance_long(&self, job: &mut LongReply, max_slots: usize) -> Option<BuiltFrame> {
        let from = job.next_slot;
        match &mut job.kind {
            Kind::List(writer, slot_holders) => {
                for (slot, e) in self.table.slot_range(from, max_slots) {
                    let mut info = e.list_info();
                    if let Some(&n) = slot_holders.get(&slot) {
                        let n = i32::try_from(n).unwrap_or(i32::MAX);
                        info.ref_count = info.ref_count.saturating_add(n);
                    }
                    writer.push(&info);
                }
            }
            Kind::Debug(tally) => {
                for (_, e) in self.table.slot_range(from, max_slots) {
                    if e.list == ListTag::Quota {
                        tally.owned += 1;
                        if e.ref_count > 0 {
                            tally.pinned += 1;
                            tally.pinned_bytes = tally.pinned_bytes.saturating_add(e.size());
                        }
                    }
                }
            }
            Kind::Done => return None,
        }
        let step = u32::try_from(max_slots).unwrap_or(u32::MAX);
        job.next_slot = from.saturating_add(step);
        if job.next_slot < self.table.slot_count() {
            return None;
        }
        match std::mem::replace(&mut job.kind, Kind::Done) {
            Kind::List(writer, _) => Some(writer.finish()),
            Kind::Debug(tally) => {
                let text = self.debug_text(tally);
                let mut frame = Vec::new();
                Encoder::new().encode_reply(&Reply::DebugString { text }, &mut frame);
                Some(BuiltFrame::whole(frame))
            }
            Kind::Done => None,
        }
    }
}
