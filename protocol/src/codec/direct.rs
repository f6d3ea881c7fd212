//! Our `direct` messages (docs/design.md, "Our protocol additions"):
//! AttachRequest/Reply, PutRequest/Reply and HoldsChanged. PutRequest uses
//! CreateAndSealRequest's slots 0–4 and PutReply CreateReply's 0–4, so the
//! shared fields read alike.

use super::wire::{push_spec, table_verifier, verify_root, vt, BytesField, Fbb, Root, SpecStruct};
use super::DecodeError;
use crate::{Digest, ErrorCode, ObjectId, ObjectSpec, PutHold, Reply, Request};

table_verifier!(
    /// `AttachReply`.
    AttachReplyTable {
        0 "error": i32,
        1 "store_fd": i32,
        2 "mmap_size": i64,
    }
);

table_verifier!(
    /// `PutRequest`.
    PutRequestTable {
        0 "object_id": BytesField,
        1 "evict_if_full": bool,
        2 "data": BytesField,
        3 "metadata": BytesField,
        4 "digest": BytesField,
        5 "slot": u32,
    }
);

table_verifier!(
    /// `PutReply`.
    PutReplyTable {
        0 "object_id": BytesField,
        1 "plasma_object": SpecStruct,
        2 "error": i32,
        3 "store_fd": i32,
        4 "mmap_size": i64,
        6 "entry": u32,
        7 "gen": u64,
        8 "held": u8,
    }
);

pub(crate) fn decode_attach_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<AttachReplyTable>(payload)?;
    Ok(Reply::Attach {
        error: t.error(0)?,
        store_fd: t.i32(1)?,
        mmap_size: t.i64(2)?,
    })
}

pub(crate) fn encode_attach_reply(
    fbb: &mut Fbb,
    error: ErrorCode,
    store_fd: i32,
    mmap_size: i64,
) -> Root {
    let start = fbb.start_table();
    fbb.push_slot(vt(2), mmap_size, 0);
    fbb.push_slot(vt(0), error.as_i32(), 0);
    fbb.push_slot(vt(1), store_fd, 0);
    fbb.end_table(start)
}

pub(crate) fn decode_put_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    let t = verify_root::<PutRequestTable>(payload)?;
    Ok(Request::Put {
        id: t.id(0, "object_id")?,
        evict_if_full: t.bool(1)?,
        data: t.bytes(2)?.unwrap_or_default(),
        metadata: t.bytes(3)?.unwrap_or_default(),
        digest: t.digest(4, "digest")?,
        slot: t.u32(5)?,
    })
}

/// The fields of a PutRequest.
pub(crate) struct PutFields<'a> {
    pub id: &'a ObjectId,
    pub evict_if_full: bool,
    pub data: &'a [u8],
    pub metadata: &'a [u8],
    pub digest: &'a Digest,
    pub slot: u32,
}

pub(crate) fn encode_put_request(fbb: &mut Fbb, p: &PutFields<'_>) -> Root {
    let digest = fbb.create_byte_string(p.digest);
    let metadata = fbb.create_byte_string(p.metadata);
    let data = fbb.create_byte_string(p.data);
    let id = fbb.create_byte_string(p.id.as_bytes());
    let start = fbb.start_table();
    fbb.push_slot_always(vt(4), digest);
    fbb.push_slot_always(vt(3), metadata);
    fbb.push_slot_always(vt(2), data);
    fbb.push_slot_always(vt(0), id);
    fbb.push_slot_always(vt(5), p.slot);
    fbb.push_slot(vt(1), p.evict_if_full, false);
    fbb.end_table(start)
}

pub(crate) fn decode_put_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<PutReplyTable>(payload)?;
    let held = t.u8(8)?;
    Ok(Reply::Put {
        id: t.id(0, "object_id")?,
        object: t.spec(1)?.unwrap_or_default(),
        error: t.error(2)?,
        store_fd: t.i32(3)?,
        mmap_size: t.i64(4)?,
        entry: t.u32(6)?,
        gen: t.u64(7)?,
        hold: PutHold::from_u8(held).ok_or(DecodeError::OutOfRange("held"))?,
    })
}

/// The fields of a PutReply.
pub(crate) struct PutReplyFields<'a> {
    pub id: &'a ObjectId,
    pub object: &'a ObjectSpec,
    pub error: ErrorCode,
    pub store_fd: i32,
    pub mmap_size: i64,
    pub entry: u32,
    pub gen: u64,
    pub hold: PutHold,
}

pub(crate) fn encode_put_reply(fbb: &mut Fbb, p: &PutReplyFields<'_>) -> Root {
    let id = fbb.create_byte_string(p.id.as_bytes());
    let start = fbb.start_table();
    fbb.push_slot(vt(7), p.gen, 0);
    fbb.push_slot(vt(4), p.mmap_size, 0);
    fbb.push_slot(vt(2), p.error.as_i32(), 0);
    push_spec(fbb, 1, p.object);
    fbb.push_slot_always(vt(0), id);
    fbb.push_slot(vt(3), p.store_fd, 0);
    fbb.push_slot(vt(6), p.entry, 0);
    fbb.push_slot(vt(8), p.hold as u8, 0);
    fbb.end_table(start)
}
