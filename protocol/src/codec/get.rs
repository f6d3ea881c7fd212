//! Get request and reply (protocol.md §8, GetRequest / GetReply).

use super::object::CudaHandleTable;
use super::wire::{
    id_vector, spec_vector, table_verifier, verify_root, vt, BytesVecField, Fbb, I32VecField,
    I64VecField, Root, SpecVecField, TableVecField,
};
use super::DecodeError;
use crate::{ObjectId, ObjectSpec, Reply, Request};

table_verifier!(
    /// `PlasmaGetRequest`.
    GetRequestTable {
        0 "object_ids": BytesVecField,
        1 "timeout_ms": i64,
    }
);

table_verifier!(
    /// `PlasmaGetReply`.
    GetReplyTable {
        0 "object_ids": BytesVecField,
        1 "plasma_objects": SpecVecField,
        2 "store_fds": I32VecField,
        3 "mmap_sizes": I64VecField,
        4 "handles": TableVecField<CudaHandleTable>,
    }
);

pub(crate) fn decode_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    let t = verify_root::<GetRequestTable>(payload)?;
    Ok(Request::Get {
        ids: t.vector_or_empty(0)?.ids()?,
        timeout_ms: t.i64(1)?,
    })
}

pub(crate) fn encode_request(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    ids: &[ObjectId],
    timeout_ms: i64,
) -> Root {
    let ids = id_vector(fbb, scratch, ids);
    let start = fbb.start_table();
    fbb.push_slot(vt(1), timeout_ms, 0);
    fbb.push_slot_always(vt(0), ids);
    fbb.end_table(start)
}

pub(crate) fn decode_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<GetReplyTable>(payload)?;
    let ids = t.required_vector(0, "object_ids")?;
    let specs = t.required_vector(1, "plasma_objects")?;
    let fds = t.required_vector(2, "store_fds")?;
    let sizes = t.required_vector(3, "mmap_sizes")?;
    if specs.len() != ids.len() {
        return Err(DecodeError::LengthMismatch("plasma_objects"));
    }
    if sizes.len() != fds.len() {
        return Err(DecodeError::LengthMismatch("mmap_sizes"));
    }
    Ok(Reply::Get {
        ids: ids.ids()?,
        objects: (0..specs.len())
            .map(|i| specs.spec(i))
            .collect::<Result<_, _>>()?,
        store_fds: (0..fds.len())
            .map(|i| fds.i32(i))
            .collect::<Result<_, _>>()?,
        mmap_sizes: (0..sizes.len())
            .map(|i| sizes.i64(i))
            .collect::<Result<_, _>>()?,
    })
}

pub(crate) fn encode_reply(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    ids: &[ObjectId],
    objects: &[ObjectSpec],
    store_fds: &[i32],
    mmap_sizes: &[i64],
) -> Root {
    // Creation order of the Arrow 11 store (its arguments are evaluated
    // right to left): handles, mmap_sizes, store_fds, objects, ids.
    let handles = super::wire::offset_vector::<CudaHandleTable>(fbb, &[]);
    let mmap_sizes = fbb.create_vector(mmap_sizes);
    let store_fds = fbb.create_vector(store_fds);
    let objects = spec_vector(fbb, objects);
    let ids = id_vector(fbb, scratch, ids);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(4), handles);
    fbb.push_slot_always(vt(3), mmap_sizes);
    fbb.push_slot_always(vt(2), store_fds);
    fbb.push_slot_always(vt(1), objects);
    fbb.push_slot_always(vt(0), ids);
    fbb.end_table(start)
}
