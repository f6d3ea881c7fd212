//! CreateAndSealBatch request (protocol.md §8); its reply is error-only and
//! lives with the other error-only replies in `object.rs`.

use super::wire::{
    bytes_vector, digest, id_vector, table_verifier, verify_root, vt, BytesVecField, Fbb, Root,
};
use super::DecodeError;
use crate::{Digest, ObjectId, Request};

table_verifier!(
    /// `PlasmaCreateAndSealBatchRequest`.
    BatchRequestTable {
        0 "object_ids": BytesVecField,
        1 "evict_if_full": bool,
        2 "data": BytesVecField,
        3 "metadata": BytesVecField,
        4 "digest": BytesVecField,
    }
);

pub(crate) fn decode_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    let t = verify_root::<BatchRequestTable>(payload)?;
    let ids = t.vector_or_empty(0)?;
    let data = t.vector_or_empty(2)?;
    let metadata = t.vector_or_empty(3)?;
    let digests = t.vector_or_empty(4)?;
    let n = ids.len();
    for (v, name) in [(data, "data"), (metadata, "metadata"), (digests, "digest")] {
        if v.len() != n {
            return Err(DecodeError::LengthMismatch(name));
        }
    }
    Ok(Request::CreateAndSealBatch {
        ids: ids.ids()?,
        evict_if_full: t.bool(1)?,
        data: (0..n).map(|i| data.bytes(i)).collect::<Result<_, _>>()?,
        metadata: (0..n)
            .map(|i| metadata.bytes(i))
            .collect::<Result<_, _>>()?,
        digests: (0..n)
            .map(|i| digests.bytes(i).and_then(digest))
            .collect::<Result<_, _>>()?,
    })
}

pub(crate) fn encode_request(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    ids: &[ObjectId],
    evict_if_full: bool,
    data: &[&[u8]],
    metadata: &[&[u8]],
    digests: &[Digest],
) -> Root {
    let digests = bytes_vector(fbb, scratch, digests.iter().map(|d| &d[..]));
    let metadata = bytes_vector(fbb, scratch, metadata.iter().copied());
    let data = bytes_vector(fbb, scratch, data.iter().copied());
    let ids = id_vector(fbb, scratch, ids);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(4), digests);
    fbb.push_slot_always(vt(3), metadata);
    fbb.push_slot_always(vt(2), data);
    fbb.push_slot_always(vt(0), ids);
    fbb.push_slot(vt(1), evict_if_full, false);
    fbb.end_table(start)
}
