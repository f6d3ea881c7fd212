//! Delete request and reply (protocol.md §8, DeleteRequest / DeleteReply).
//! Both carry a `count` that must equal the vector lengths.

use super::wire::{
    error_code, id_vector, table_verifier, verify_root, vt, BytesVecField, Fbb, I32VecField, Root,
};
use super::DecodeError;
use crate::{ErrorCode, ObjectId, Reply, Request};

table_verifier!(
    /// `PlasmaDeleteRequest`.
    DeleteRequestTable {
        0 "count": i32,
        1 "object_ids": BytesVecField,
    }
);

table_verifier!(
    /// `PlasmaDeleteReply`.
    DeleteReplyTable {
        0 "count": i32,
        1 "object_ids": BytesVecField,
        2 "errors": I32VecField,
    }
);

fn count_matches(count: i32, len: usize) -> bool {
    usize::try_from(count).is_ok_and(|c| c == len)
}

fn count_of(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

pub(crate) fn decode_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    let t = verify_root::<DeleteRequestTable>(payload)?;
    let ids = t.vector_or_empty(1)?;
    if !count_matches(t.i32(0)?, ids.len()) {
        return Err(DecodeError::LengthMismatch("count"));
    }
    Ok(Request::Delete { ids: ids.ids()? })
}

pub(crate) fn encode_request(fbb: &mut Fbb, scratch: &mut Vec<u32>, ids: &[ObjectId]) -> Root {
    let vec = id_vector(fbb, scratch, ids);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(1), vec);
    fbb.push_slot(vt(0), count_of(ids.len()), 0);
    fbb.end_table(start)
}

pub(crate) fn decode_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<DeleteReplyTable>(payload)?;
    let ids = t.required_vector(1, "object_ids")?;
    let errors = t.required_vector(2, "errors")?;
    if errors.len() != ids.len() {
        return Err(DecodeError::LengthMismatch("errors"));
    }
    if !count_matches(t.i32(0)?, ids.len()) {
        return Err(DecodeError::LengthMismatch("count"));
    }
    Ok(Reply::Delete {
        ids: ids.ids()?,
        errors: (0..errors.len())
            .map(|i| errors.i32(i).and_then(error_code))
            .collect::<Result<_, _>>()?,
    })
}

pub(crate) fn encode_reply(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    ids: &[ObjectId],
    errors: &[ErrorCode],
) -> Root {
    let errors = fbb.create_vector_from_iter(errors.iter().map(|e| e.as_i32()));
    let vec = id_vector(fbb, scratch, ids);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(2), errors);
    fbb.push_slot_always(vt(1), vec);
    fbb.push_slot(vt(0), count_of(ids.len()), 0);
    fbb.end_table(start)
}
