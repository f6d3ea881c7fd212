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
/// let sliced = w.finish();
/// let mut whole = Vec::new();
/// Encoder::new().encode_reply(&Reply::List { objects }, &mut whole);
/// assert_eq!(sliced.as_slice(), &whole[..]);
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

    /// The complete frame (header and payload). The builder's own buffer
    /// becomes the frame's: no copy of a reply that may be tens of MB.
    pub fn finish(mut self) -> BuiltFrame {
        let vec =
            offset_vector::<flatbuffers::TableFinishedWIPOffset>(&mut self.fbb, &self.offsets);
        let start = self.fbb.start_table();
        self.fbb.push_slot_always(vt(0), vec);
        let root = self.fbb.end_table(start);
        self.fbb.finish_minimal(root);
        let header = frame_header(
            MessageType::ListReply.as_i64(),
            self.fbb.finished_data().len(),
        );
        let (mut bytes, head) = self.fbb.collapse();
        match head.checked_sub(HEADER_LEN) {
            // The builder fills its buffer from the back: there is usually
            // room for the header in front of the payload.
            Some(start) => {
                bytes[start..head].copy_from_slice(&header);
                BuiltFrame { bytes, start }
            }
            None => {
                let mut frame = Vec::with_capacity(HEADER_LEN + bytes.len() - head);
                frame.extend_from_slice(&header);
                frame.extend_from_slice(&bytes[head..]);
                BuiltFrame {
                    bytes: frame,
                    start: 0,
                }
            }
        }
    }
}

/// A complete frame at the end of a buffer: `bytes[start..]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltFrame {
    /// The buffer; the frame is its tail.
    pub bytes: Vec<u8>,
    /// Where the frame starts in `bytes`.
    pub start: usize,
}

impl BuiltFrame {
    /// A frame that is the whole of `bytes`.
    pub fn whole(bytes: Vec<u8>) -> Self {
        BuiltFrame { bytes, start: 0 }
    }

    /// The frame's bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(self.start..).unwrap_or_default()
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
            let sliced = w.finish();
            assert_eq!(sliced.as_slice(), &whole[..], "{count} entries");
        }
    }
}
