//! A ListReply built a slice at a time, so that a store can answer a List
//! of millions of objects between other clients' requests.

use super::notification::{encode_object_info, InfoUse};
use super::wire::{offset_vector, vt, Fbb};
use crate::{frame_header, MessageType, ObjectInfo, HEADER_LEN};

/// Builds one `ListReply` frame from entries pushed in any number of
/// slices. The frame's bytes are exactly those of
/// [`Encoder::encode_reply`](super::Encoder::encode_reply) for
/// `Reply::List` with the same entries in the same order: the same
/// builder calls, only spread out in time.
///
/// ```
/// use plasma_protocol::{Encoder, ListReplyWriter, ObjectInfo, Reply};
/// let objects = vec![ObjectInfo::default(); 3];
/// let mut w = ListReplyWriter::new(objects.len());
/// w.push(&objects[0]);
/// w.push(&objects[1]); // ... other work in between ...
/// w.push(&objects[2]);
/// let mut sliced = Vec::new();
/// w.finish(&mut sliced);
/// let mut whole = Vec::new();
/// Encoder::new().encode_reply(&Reply::List { objects }, &mut whole);
/// assert_eq!(sliced, whole);
/// ```
pub struct ListReplyWriter {
    fbb: Fbb,
    offsets: Vec<u32>,
}

impl std::fmt::Debug for ListReplyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListReplyWriter")
            .field("entries", &self.offsets.len())
            .finish_non_exhaustive()
    }
}

impl ListReplyWriter {
    /// A writer with room for about `expected` entries.
    pub fn new(expected: usize) -> Self {
        let capacity = expected
            .saturating_mul(super::INFO_HINT)
            .saturating_add(1024)
            .min(super::MAX_PREALLOCATION);
        ListReplyWriter {
            fbb: Fbb::with_capacity(capacity),
            offsets: Vec::with_capacity(expected),
        }
    }

    /// Appends one entry.
    pub fn push(&mut self, info: &ObjectInfo) {
        let table = encode_object_info(&mut self.fbb, info, InfoUse::List);
        self.offsets.push(table.value());
    }

    /// Entries pushed so far.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether no entry was pushed.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Appends the complete frame (header and payload) to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let vec =
            offset_vector::<flatbuffers::TableFinishedWIPOffset>(&mut self.fbb, &self.offsets);
        let start = self.fbb.start_table();
        self.fbb.push_slot_always(vt(0), vec);
        let root = self.fbb.end_table(start);
        self.fbb.finish_minimal(root);
        let data = self.fbb.finished_data();
        out.reserve(HEADER_LEN + data.len());
        out.extend_from_slice(&frame_header(MessageType::ListReply.as_i64(), data.len()));
        out.extend_from_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoder, ObjectId, Reply};

    fn info(n: u8) -> ObjectInfo {
        ObjectInfo {
            object_id: ObjectId::from_bytes([n; 20]),
            data_size: i64::from(n) * 1000,
            metadata_size: i64::from(n % 3),
            ref_count: i32::from(n % 2),
            create_time: 1_700_000_000 + i64::from(n),
            construct_duration: i64::from(n % 5) - 1,
            digest: (n & 3 != 0).then_some([n; 8]),
            is_deletion: false,
        }
    }

    #[test]
    fn sliced_bytes_equal_the_whole_reply() {
        for count in [0usize, 1, 2, 7, 300] {
            let objects: Vec<ObjectInfo> = (0..count).map(|i| info(i as u8)).collect();
            let mut whole = Vec::new();
            Encoder::new().encode_reply(
                &Reply::List {
                    objects: objects.clone(),
                },
                &mut whole,
            );
            let mut w = ListReplyWriter::new(count / 2);
            for chunk in objects.chunks(3) {
                for o in chunk {
                    w.push(o);
                }
            }
            assert_eq!(w.len(), count);
            let mut sliced = Vec::new();
            w.finish(&mut sliced);
            assert_eq!(sliced, whole, "{count} entries");
        }
    }
}
