//! `ObjectInfo` tables and the notification channel's messages
//! (protocol.md §5.4, §9): an 8-byte little-endian length, then a
//! `PlasmaNotification` table (slot 0: `[ObjectInfo]`), no frame header.

use super::wire::{
    digest, offset_vector, table_verifier, verify_root, vt, BytesField, Fbb, Root, TableReader,
    TableVecField,
};
use super::DecodeError;
use crate::{ObjectInfo, Residence};

table_verifier!(
    /// `ObjectInfo`.
    ObjectInfoTable {
        0 "object_id": BytesField,
        1 "data_size": i64,
        2 "metadata_size": i64,
        3 "ref_count": i32,
        4 "create_time": i64,
        5 "construct_duration": i64,
        6 "digest": BytesField,
        7 "is_deletion": bool,
        8 "residence": u8,
    }
);

table_verifier!(
    /// `PlasmaNotification`.
    NotificationTable { 0 "object_info": TableVecField<ObjectInfoTable> }
);

/// Reads one `ObjectInfo`. The digest may be absent (deletions) unless
/// `digest_required` (List replies, where the client dereferences it); an
/// empty digest means "unsealed" and reads as `None`.
pub(crate) fn decode_object_info(
    t: TableReader<'_>,
    digest_required: bool,
) -> Result<ObjectInfo, DecodeError> {
    let digest = match t.bytes(6)? {
        None if digest_required => return Err(DecodeError::MissingField("digest")),
        None => None,
        Some([]) => None,
        Some(bytes) => Some(digest(bytes)?),
    };
    let residence = t.u8(8)?;
    Ok(ObjectInfo {
        object_id: t.id(0, "object_id")?,
        data_size: t.i64(1)?,
        metadata_size: t.i64(2)?,
        ref_count: t.i32(3)?,
        create_time: t.i64(4)?,
        construct_duration: t.i64(5)?,
        digest,
        is_deletion: t.bool(7)?,
        residence: Residence::from_u8(residence).ok_or(DecodeError::BadResidence(residence))?,
    })
}

/// Where an `ObjectInfo` is written; the two real writers differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InfoUse {
    /// A ListReply entry: the digest is always written (empty when `None`),
    /// and its string is created before the id's.
    List,
    /// A notification entry: deletions without a digest carry no digest
    /// field; the id string is created first.
    Notification,
}

/// Writes one `ObjectInfo` table.
pub(crate) fn encode_object_info(fbb: &mut Fbb, info: &ObjectInfo, usage: InfoUse) -> Root {
    let write_digest = |fbb: &mut Fbb| match &info.digest {
        Some(d) => Some(fbb.create_byte_string(d)),
        None if usage == InfoUse::List || !info.is_deletion => Some(fbb.create_byte_string(&[])),
        None => None,
    };
    let (id, digest) = match usage {
        InfoUse::List => {
            let digest = write_digest(fbb);
            (fbb.create_byte_string(info.object_id.as_bytes()), digest)
        }
        InfoUse::Notification => {
            let id = fbb.create_byte_string(info.object_id.as_bytes());
            (id, write_digest(fbb))
        }
    };
    let start = fbb.start_table();
    fbb.push_slot(vt(5), info.construct_duration, 0);
    fbb.push_slot(vt(4), info.create_time, 0);
    fbb.push_slot(vt(2), info.metadata_size, 0);
    fbb.push_slot(vt(1), info.data_size, 0);
    if let Some(digest) = digest {
        fbb.push_slot_always(vt(6), digest);
    }
    fbb.push_slot(vt(3), info.ref_count, 0);
    fbb.push_slot_always(vt(0), id);
    fbb.push_slot(vt(7), info.is_deletion, false);
    // Ours (§15): written only for objects not in memory, so that every
    // frame of a store that does not spill stays Plasma 11's, byte for byte.
    fbb.push_slot(vt(8), info.residence.as_u8(), 0);
    fbb.end_table(start)
}

/// Writes the vector of `ObjectInfo` tables for `infos`.
pub(crate) fn encode_object_infos(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    infos: &[ObjectInfo],
    usage: InfoUse,
) -> flatbuffers::WIPOffset<
    flatbuffers::Vector<'static, flatbuffers::ForwardsUOffset<flatbuffers::TableFinishedWIPOffset>>,
> {
    scratch.clear();
    for info in infos {
        scratch.push(encode_object_info(fbb, info, usage).value());
    }
    offset_vector(fbb, scratch)
}

/// Builds a `PlasmaNotification` table for `infos`.
pub(crate) fn encode(fbb: &mut Fbb, scratch: &mut Vec<u32>, infos: &[ObjectInfo]) -> Root {
    let vec = encode_object_infos(fbb, scratch, infos, InfoUse::Notification);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(0), vec);
    fbb.end_table(start)
}

/// Decodes one notification message from the start of `buf`: an 8-byte
/// little-endian length N, then N bytes of `PlasmaNotification`.
///
/// `Ok(None)` means more bytes are needed; on `Ok(Some((infos, consumed)))`
/// the message occupied `buf[..consumed]`.
pub fn decode_notification(
    buf: &[u8],
    max_len: u64,
) -> Result<Option<(Vec<ObjectInfo>, usize)>, DecodeError> {
    let Some(prefix) = buf.get(..8).and_then(|p| <[u8; 8]>::try_from(p).ok()) else {
        return Ok(None);
    };
    let len = i64::from_le_bytes(prefix);
    let len = u64::try_from(len).map_err(|_| DecodeError::NegativeLength(len))?;
    if len > max_len {
        return Err(DecodeError::TooLong { len, max: max_len });
    }
    let total = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(8))
        .ok_or(DecodeError::TooLong { len, max: max_len })?;
    let Some(body) = buf.get(8..total) else {
        return Ok(None);
    };
    let t = verify_root::<NotificationTable>(body)?;
    let v = t.required_vector(0, "object_info")?;
    let infos = (0..v.len())
        .map(|i| decode_object_info(v.table(i)?, false))
        .collect::<Result<_, _>>()?;
    Ok(Some((infos, total)))
}
