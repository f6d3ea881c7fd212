//! Store-wide messages: Connect, List, Evict, Subscribe, SetOptions,
//! GetDebugString, RefreshLRU, and the empty tables (protocol.md §8).

use super::notification::{decode_object_info, encode_object_infos, InfoUse, ObjectInfoTable};
use super::wire::{
    id_vector, table_verifier, verify_root, vt, BytesField, BytesVecField, EmptyTable, Fbb, Root,
    TableVecField,
};
use super::DecodeError;
use crate::{ObjectId, ObjectInfo, Reply, Request};

table_verifier!(
    /// A table whose only field is slot 0, an 8-byte integer
    /// (ConnectReply `memory_capacity`, Evict `num_bytes`).
    Int64Table { 0 "slot0": u64 }
);

table_verifier!(
    /// `PlasmaListReply`.
    ListReplyTable { 0 "objects": TableVecField<ObjectInfoTable> }
);

table_verifier!(
    /// `PlasmaSetOptionsRequest`.
    SetOptionsRequestTable {
        0 "client_name": BytesField,
        1 "output_memory_quota": i64,
    }
);

table_verifier!(
    /// `PlasmaGetDebugStringReply`.
    DebugStringReplyTable { 0 "debug_string": BytesField }
);

table_verifier!(
    /// `PlasmaRefreshLRURequest`.
    RefreshRequestTable { 0 "object_ids": BytesVecField }
);

/// Verifies an empty table and returns `value`.
pub(crate) fn decode_empty<T>(payload: &[u8], value: T) -> Result<T, DecodeError> {
    verify_root::<EmptyTable>(payload)?;
    Ok(value)
}

pub(crate) fn decode_connect_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<Int64Table>(payload)?;
    Ok(Reply::Connect {
        memory_capacity: t.i64(0)?,
    })
}

pub(crate) fn encode_connect_reply(fbb: &mut Fbb, memory_capacity: i64) -> Root {
    let start = fbb.start_table();
    fbb.push_slot(vt(0), memory_capacity, 0);
    fbb.end_table(start)
}

/// EvictRequest and EvictReply: slot 0 `num_bytes`.
pub(crate) fn decode_evict(payload: &[u8]) -> Result<u64, DecodeError> {
    verify_root::<Int64Table>(payload)?.u64(0)
}

pub(crate) fn encode_u64_slot0(fbb: &mut Fbb, value: u64) -> Root {
    let start = fbb.start_table();
    fbb.push_slot(vt(0), value, 0);
    fbb.end_table(start)
}

pub(crate) fn decode_list_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<ListReplyTable>(payload)?;
    let v = t.required_vector(0, "objects")?;
    let objects = (0..v.len())
        .map(|i| decode_object_info(v.table(i)?, true))
        .collect::<Result<_, _>>()?;
    Ok(Reply::List { objects })
}

pub(crate) fn encode_list_reply(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    objects: &[ObjectInfo],
) -> Root {
    let vec = encode_object_infos(fbb, scratch, objects, InfoUse::List);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(0), vec);
    fbb.end_table(start)
}

pub(crate) fn decode_set_options_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    let t = verify_root::<SetOptionsRequestTable>(payload)?;
    let name = t.bytes(0)?.unwrap_or_default();
    Ok(Request::SetOptions {
        client_name: String::from_utf8_lossy(name).into_owned(),
        output_memory_quota: t.i64(1)?,
    })
}

pub(crate) fn encode_set_options_request(
    fbb: &mut Fbb,
    client_name: &str,
    output_memory_quota: i64,
) -> Root {
    let name = fbb.create_string(client_name);
    let start = fbb.start_table();
    fbb.push_slot(vt(1), output_memory_quota, 0);
    fbb.push_slot_always(vt(0), name);
    fbb.end_table(start)
}

pub(crate) fn decode_debug_string_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<DebugStringReplyTable>(payload)?;
    let text = t
        .bytes(0)?
        .ok_or(DecodeError::MissingField("debug_string"))?;
    Ok(Reply::DebugString {
        text: String::from_utf8_lossy(text).into_owned(),
    })
}

pub(crate) fn encode_debug_string_reply(fbb: &mut Fbb, text: &str) -> Root {
    let text = fbb.create_string(text);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(0), text);
    fbb.end_table(start)
}

pub(crate) fn decode_refresh_request(payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    decode_id_list(payload).map(|ids| Request::RefreshLru { ids })
}

/// A table whose only field is slot 0, a vector of ids (RefreshLRURequest,
/// and our Await/Unawait messages).
pub(crate) fn decode_id_list(payload: &[u8]) -> Result<Vec<ObjectId>, DecodeError> {
    let t = verify_root::<RefreshRequestTable>(payload)?;
    t.vector_or_empty(0)?.ids()
}

/// Encodes a table of one id vector in slot 0 (see [`decode_id_list`]).
pub(crate) fn encode_refresh_request(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    ids: &[ObjectId],
) -> Root {
    let vec = id_vector(fbb, scratch, ids);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(0), vec);
    fbb.end_table(start)
}
