//! One-object messages: Create, CreateAndSeal, Abort, Seal, Release,
//! Contains, and the replies that carry only an error (protocol.md §8).
//!
//! Encoders add fields in the order the Arrow 11 peers do, so the bytes
//! match theirs.

use super::wire::{
    push_spec, table_verifier, verify_root, vt, BytesField, Fbb, IdTable, Root, SpecStruct,
};
use super::DecodeError;
use crate::{Digest, ErrorCode, ObjectId, ObjectSpec, Reply, Request};

table_verifier!(
    /// `PlasmaCreateRequest`.
    CreateRequestTable {
        0 "object_id": BytesField,
        1 "evict_if_full": bool,
        2 "data_size": u64,
        3 "metadata_size": u64,
        4 "device_num": i32,
    }
);

table_verifier!(
    /// `CudaHandle`.
    CudaHandleTable { 0 "handle": BytesField }
);

table_verifier!(
    /// `PlasmaCreateReply`.
    CreateReplyTable {
        0 "object_id": BytesField,
        1 "plasma_object": SpecStruct,
        2 "error": i32,
        3 "store_fd": i32,
        4 "mmap_size": i64,
        5 "ipc_handle": flatbuffers::ForwardsUOffset<CudaHandleTable>,
    }
);

table_verifier!(
    /// `PlasmaCreateAndSealRequest`.
    CreateAndSealRequestTable {
        0 "object_id": BytesField,
        1 "evict_if_full": bool,
        2 "data": BytesField,
        3 "metadata": BytesField,
        4 "digest": BytesField,
    }
);

table_verifier!(
    /// A reply whose only field is slot 0 `error`.
    ErrorTable { 0 "error": i32 }
);

table_verifier!(
    /// `PlasmaSealRequest`.
    SealRequestTable {
        0 "object_id": BytesField,
        1 "digest": BytesField,
    }
);

table_verifier!(
    /// `PlasmaSealReply`.
    SealReplyTable {
        0 "object_id": BytesField,
        1 "error": i32,
    }
);

table_verifier!(
    /// `PlasmaContainsReply`.
    ContainsReplyTable {
        0 "object_id": BytesField,
        1 "has_object": i32,
    }
);

/// A table whose slot 0 is a required `object_id` (Abort, Release,
/// Contains requests; Abort reply).
pub(crate) fn decode_id(payload: &[u8]) -> Result<ObjectId, DecodeError> {
    verify_root::<IdTable>(payload)?.id(0, "object_id")
}

pub(crate) fn decode_create_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    let t = verify_root::<CreateRequestTable>(payload)?;
    Ok(Request::Create {
        id: t.id(0, "object_id")?,
        evict_if_full: t.bool(1)?,
        data_size: t.u64(2)?,
        metadata_size: t.u64(3)?,
        device_num: t.i32(4)?,
    })
}

pub(crate) fn encode_create_request(
    fbb: &mut Fbb,
    id: &ObjectId,
    evict_if_full: bool,
    data_size: u64,
    metadata_size: u64,
    device_num: i32,
) -> Root {
    let id = fbb.create_byte_string(id.as_bytes());
    let start = fbb.start_table();
    fbb.push_slot(vt(3), metadata_size, 0);
    fbb.push_slot(vt(2), data_size, 0);
    fbb.push_slot(vt(4), device_num, 0);
    fbb.push_slot_always(vt(0), id);
    fbb.push_slot(vt(1), evict_if_full, false);
    fbb.end_table(start)
}

pub(crate) fn decode_create_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<CreateReplyTable>(payload)?;
    Ok(Reply::Create {
        id: t.id(0, "object_id")?,
        object: t
            .spec(1)?
            .ok_or(DecodeError::MissingField("plasma_object"))?,
        error: t.error(2)?,
        store_fd: t.i32(3)?,
        mmap_size: t.i64(4)?,
    })
}

/// Our ObjectReady: the CreateReply table layout, whose error must be OK.
pub(crate) fn decode_object_ready(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<CreateReplyTable>(payload)?;
    if t.error(2)? != ErrorCode::Ok {
        return Err(DecodeError::BadErrorCode(t.error(2)?.as_i32()));
    }
    Ok(Reply::ObjectReady {
        id: t.id(0, "object_id")?,
        object: t
            .spec(1)?
            .ok_or(DecodeError::MissingField("plasma_object"))?,
        store_fd: t.i32(3)?,
        mmap_size: t.i64(4)?,
    })
}

pub(crate) fn encode_create_reply(
    fbb: &mut Fbb,
    id: &ObjectId,
    object: &ObjectSpec,
    error: ErrorCode,
    store_fd: i32,
    mmap_size: i64,
) -> Root {
    let id = fbb.create_byte_string(id.as_bytes());
    let start = fbb.start_table();
    fbb.push_slot(vt(2), error.as_i32(), 0);
    push_spec(fbb, 1, object);
    fbb.push_slot_always(vt(0), id);
    fbb.push_slot(vt(3), store_fd, 0);
    fbb.push_slot(vt(4), mmap_size, 0);
    fbb.end_table(start)
}

pub(crate) fn decode_create_and_seal_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    let t = verify_root::<CreateAndSealRequestTable>(payload)?;
    Ok(Request::CreateAndSeal {
        id: t.id(0, "object_id")?,
        evict_if_full: t.bool(1)?,
        data: t.bytes(2)?.unwrap_or_default(),
        metadata: t.bytes(3)?.unwrap_or_default(),
        digest: t.digest(4, "digest")?,
    })
}

pub(crate) fn encode_create_and_seal_request(
    fbb: &mut Fbb,
    id: &ObjectId,
    evict_if_full: bool,
    data: &[u8],
    metadata: &[u8],
    digest: &Digest,
) -> Root {
    let digest = fbb.create_byte_string(digest);
    let metadata = fbb.create_byte_string(metadata);
    let data = fbb.create_byte_string(data);
    let id = fbb.create_byte_string(id.as_bytes());
    let start = fbb.start_table();
    fbb.push_slot_always(vt(4), digest);
    fbb.push_slot_always(vt(3), metadata);
    fbb.push_slot_always(vt(2), data);
    fbb.push_slot_always(vt(0), id);
    fbb.push_slot(vt(1), evict_if_full, false);
    fbb.end_table(start)
}

/// A reply whose only field is slot 0 `error` (CreateAndSeal, batch,
/// SetOptions).
pub(crate) fn decode_error_only(payload: &[u8]) -> Result<ErrorCode, DecodeError> {
    verify_root::<ErrorTable>(payload)?.error(0)
}

pub(crate) fn encode_error_only(fbb: &mut Fbb, error: ErrorCode) -> Root {
    let start = fbb.start_table();
    fbb.push_slot(vt(0), error.as_i32(), 0);
    fbb.end_table(start)
}

pub(crate) fn decode_seal_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    let t = verify_root::<SealRequestTable>(payload)?;
    Ok(Request::Seal {
        id: t.id(0, "object_id")?,
        digest: t.digest(1, "digest")?,
    })
}

pub(crate) fn encode_seal_request(fbb: &mut Fbb, id: &ObjectId, digest: &Digest) -> Root {
    let digest = fbb.create_byte_string(digest);
    let id = fbb.create_byte_string(id.as_bytes());
    let start = fbb.start_table();
    fbb.push_slot_always(vt(1), digest);
    fbb.push_slot_always(vt(0), id);
    fbb.end_table(start)
}

pub(crate) fn decode_seal_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<SealReplyTable>(payload)?;
    Ok(Reply::Seal {
        id: t.id(0, "object_id")?,
        error: t.error(1)?,
    })
}

pub(crate) fn encode_seal_reply(fbb: &mut Fbb, id: &ObjectId, error: ErrorCode) -> Root {
    let id = fbb.create_byte_string(id.as_bytes());
    let start = fbb.start_table();
    fbb.push_slot(vt(1), error.as_i32(), 0);
    fbb.push_slot_always(vt(0), id);
    fbb.end_table(start)
}

pub(crate) fn decode_contains_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<ContainsReplyTable>(payload)?;
    Ok(Reply::Contains {
        id: t.id(0, "object_id")?,
        has_object: t.i32(1)? != 0,
    })
}

pub(crate) fn encode_contains_reply(fbb: &mut Fbb, id: &ObjectId, has_object: bool) -> Root {
    let id = fbb.create_byte_string(id.as_bytes());
    let start = fbb.start_table();
    fbb.push_slot(vt(1), i32::from(has_object), 0);
    fbb.push_slot_always(vt(0), id);
    fbb.end_table(start)
}
