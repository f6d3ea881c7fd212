//! What each reply means: the checks and error mapping that the blocking
//! [`Client`](crate::Client) and the [`AsyncClient`](crate::AsyncClient)
//! share. Pure functions of the request's arguments and the decoded reply.

use std::sync::Arc;

use plasma_protocol::{ErrorCode, MessageType, ObjectId, ObjectInfo, ObjectSpec, PutHold, Reply};

use crate::client::DeleteOutcome;
use crate::connection::{object_extent, unexpected, Answer};
use crate::error::{
    ContainsError, CreateError, DebugStringError, DeleteError, EvictError, ListError,
    ProtocolError, SealError, SetOptionsError,
};
use crate::mapping::{Extent, Mapping, View, ViewMut, ViewMutError};

/// The store's verdict on a CreateRequest: `Ok` when it created the object
/// (which the caller must then check with [`created_view`]).
pub(crate) fn create_verdict(reply: &Reply) -> Result<(), CreateError> {
    let Reply::Create { error, .. } = reply else {
        return Err(unexpected(MessageType::CreateReply, reply).into());
    };
    match error {
        ErrorCode::Ok => Ok(()),
        ErrorCode::ObjectExists => Err(CreateError::ObjectExists),
        ErrorCode::OutOfMemory => Err(CreateError::StoreFull),
        other => Err(CreateError::Protocol(ProtocolError::UnexpectedCode(*other))),
    }
}

/// The view of an object the store pushed (our ObjectReady), and its data
/// length.
pub(crate) fn pushed_view(answer: &Answer) -> Result<(ObjectId, View, usize), ProtocolError> {
    let Reply::ObjectReady { id, object, .. } = &answer.reply else {
        return Err(ProtocolError::Mismatch("not an ObjectReady"));
    };
    if Some(object.metadata_offset) != object.data_offset.checked_add(object.data_size) {
        return Err(ProtocolError::Mismatch(
            "pushed object's metadata does not follow its data",
        ));
    }
    let (extent, data_len) = object_extent(object)?;
    let view = answer.segment(object.segment_index)?.view(extent)?;
    Ok((*id, view, data_len))
}

/// The writable view of an object the store says it created, after checking
/// that the reply describes what was asked for. On `Err` the caller aborts
/// the object (the store did create it).
pub(crate) fn created_view(
    id: ObjectId,
    data_size: u64,
    metadata_size: u64,
    answer: &Answer,
) -> Result<(ViewMut, usize), CreateError> {
    let (mapping, extent, data_len) =
        created_extent(id, data_size, metadata_size, answer).map_err(CreateError::Protocol)?;
    let view = mapping.view_mut(extent).map_err(|e| match e {
        ViewMutError::Extent(e) => CreateError::Protocol(e.into()),
        ViewMutError::Map(source) => CreateError::Io {
            op: "map the store segment writable",
            source,
        },
    })?;
    Ok((view, data_len))
}

/// The segment, extent and data length of the created object, checked
/// against the request.
fn created_extent(
    id: ObjectId,
    data_size: u64,
    metadata_size: u64,
    answer: &Answer,
) -> Result<(&Arc<Mapping>, Extent, usize), ProtocolError> {
    let Reply::Create {
        id: got, object, ..
    } = &answer.reply
    else {
        return Err(ProtocolError::Mismatch("not a create reply"));
    };
    if *got != id {
        return Err(ProtocolError::WrongObject {
            expected: id,
            got: *got,
        });
    }
    if object.data_size != data_size
        || object.metadata_size != metadata_size
        || Some(object.metadata_offset) != object.data_offset.checked_add(data_size)
    {
        return Err(ProtocolError::Mismatch(
            "created object has other sizes than requested",
        ));
    }
    let (extent, data_len) = object_extent(object)?;
    Ok((answer.segment(object.segment_index)?, extent, data_len))
}

/// What a PutReply says of the object put.
pub(crate) struct Put {
    pub(crate) object: ObjectSpec,
    pub(crate) entry: u32,
    pub(crate) gen: u64,
    pub(crate) hold: PutHold,
}

/// The outcome of a PutRequest for `id` of `data_len` + `metadata_len`
/// bytes: the object as stored and how it is held, or why not.
pub(crate) fn put_result(
    id: ObjectId,
    data_len: usize,
    metadata_len: usize,
    reply: &Reply,
) -> Result<Put, SealError> {
    let Reply::Put {
        id: got,
        object,
        error,
        entry,
        gen,
        hold,
        ..
    } = reply
    else {
        return Err(SealError::Protocol(ProtocolError::UnexpectedReply {
            expected: MessageType::PutReply,
            got: reply.message_type(),
        }));
    };
    let protocol = SealError::Protocol;
    if *got != id {
        return Err(protocol(ProtocolError::WrongObject {
            expected: id,
            got: *got,
        }));
    }
    match error {
        ErrorCode::Ok => {}
        ErrorCode::ObjectExists => return Err(SealError::ObjectExists),
        ErrorCode::OutOfMemory => return Err(SealError::StoreFull),
        other => return Err(protocol(ProtocolError::UnexpectedCode(*other))),
    }
    if *hold == PutHold::None
        || object.data_size != data_len as u64
        || object.metadata_size != metadata_len as u64
    {
        return Err(protocol(ProtocolError::Mismatch(
            "put reply describes another object than was sent",
        )));
    }
    Ok(Put {
        object: *object,
        entry: *entry,
        gen: *gen,
        hold: *hold,
    })
}

/// The outcome of a CreateAndSealRequest.
pub(crate) fn create_and_seal_result(reply: Reply) -> Result<(), CreateError> {
    match reply {
        Reply::CreateAndSeal {
            error: ErrorCode::Ok,
        } => Ok(()),
        Reply::CreateAndSeal {
            error: ErrorCode::ObjectExists,
        } => Err(CreateError::ObjectExists),
        Reply::CreateAndSeal {
            error: ErrorCode::OutOfMemory,
        } => Err(CreateError::StoreFull),
        Reply::CreateAndSeal { error } => {
            Err(CreateError::Protocol(ProtocolError::UnexpectedCode(error)))
        }
        other => Err(unexpected(MessageType::CreateAndSealReply, &other).into()),
    }
}

/// The outcome of a ContainsRequest for `id`.
pub(crate) fn contains_result(id: ObjectId, reply: Reply) -> Result<bool, ContainsError> {
    match reply {
        Reply::Contains {
            id: got,
            has_object,
        } if got == id => Ok(has_object),
        Reply::Contains { id: got, .. } => {
            Err(ContainsError::Protocol(ProtocolError::WrongObject {
                expected: id,
                got,
            }))
        }
        other => Err(unexpected(MessageType::ContainsReply, &other).into()),
    }
}

/// The per-object outcomes of a DeleteRequest for `ids`.
pub(crate) fn delete_result(
    ids: &[ObjectId],
    reply: Reply,
) -> Result<Vec<DeleteOutcome>, DeleteError> {
    let Reply::Delete { ids: got, errors } = reply else {
        return Err(unexpected(MessageType::DeleteReply, &reply).into());
    };
    if got != ids || errors.len() != ids.len() {
        return Err(DeleteError::Protocol(ProtocolError::Mismatch(
            "delete reply lists other objects than requested",
        )));
    }
    errors
        .into_iter()
        .map(|code| match code {
            ErrorCode::Ok => Ok(DeleteOutcome::Deleted),
            ErrorCode::ObjectNotFound => Ok(DeleteOutcome::NotFound),
            ErrorCode::ObjectNotSealed => Ok(DeleteOutcome::NotSealed),
            ErrorCode::ObjectInUse => Ok(DeleteOutcome::InUse),
            other => Err(DeleteError::Protocol(ProtocolError::UnexpectedCode(other))),
        })
        .collect()
}

/// The objects of a ListReply.
pub(crate) fn list_result(reply: Reply) -> Result<Vec<ObjectInfo>, ListError> {
    match reply {
        Reply::List { objects } => Ok(objects),
        other => Err(unexpected(MessageType::ListReply, &other).into()),
    }
}

/// The bytes an EvictReply says were freed.
pub(crate) fn evict_result(reply: Reply) -> Result<u64, EvictError> {
    match reply {
        Reply::Evict { num_bytes } => Ok(num_bytes),
        other => Err(unexpected(MessageType::EvictReply, &other).into()),
    }
}

pub(crate) fn debug_string_result(reply: Reply) -> Result<String, DebugStringError> {
    match reply {
        Reply::DebugString { text } => Ok(text),
        other => Err(unexpected(MessageType::GetDebugStringReply, &other).into()),
    }
}

pub(crate) fn set_options_result(reply: Reply) -> Result<(), SetOptionsError> {
    match reply {
        Reply::SetOptions {
            error: ErrorCode::Ok,
        } => Ok(()),
        Reply::SetOptions {
            error: ErrorCode::OutOfMemory,
        } => Err(SetOptionsError::Refused),
        Reply::SetOptions { error } => Err(SetOptionsError::Protocol(
            ProtocolError::UnexpectedCode(error),
        )),
        other => Err(unexpected(MessageType::SetOptionsReply, &other).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 20])
    }

    #[test]
    fn create_codes_map_to_create_errors() {
        let reply = |error| Reply::Create {
            id: id(1),
            object: Default::default(),
            store_fd: 1,
            mmap_size: 0,
            error,
        };
        assert!(create_verdict(&reply(ErrorCode::Ok)).is_ok());
        assert!(matches!(
            create_verdict(&reply(ErrorCode::ObjectExists)),
            Err(CreateError::ObjectExists)
        ));
        assert!(matches!(
            create_verdict(&reply(ErrorCode::OutOfMemory)),
            Err(CreateError::StoreFull)
        ));
        assert!(matches!(
            create_verdict(&reply(ErrorCode::ObjectInUse)),
            Err(CreateError::Protocol(ProtocolError::UnexpectedCode(
                ErrorCode::ObjectInUse
            )))
        ));
        assert!(matches!(
            create_verdict(&Reply::List { objects: vec![] }),
            Err(CreateError::Protocol(ProtocolError::UnexpectedReply { .. }))
        ));
    }

    #[test]
    fn contains_checks_the_id() {
        let yes = Reply::Contains {
            id: id(1),
            has_object: true,
        };
        assert!(contains_result(id(1), yes.clone()).unwrap());
        assert!(matches!(
            contains_result(id(2), yes),
            Err(ContainsError::Protocol(ProtocolError::WrongObject { .. }))
        ));
    }

    #[test]
    fn delete_maps_each_code_and_checks_the_ids() {
        let reply = Reply::Delete {
            ids: vec![id(1), id(2), id(3), id(4)],
            errors: vec![
                ErrorCode::Ok,
                ErrorCode::ObjectNotFound,
                ErrorCode::ObjectNotSealed,
                ErrorCode::ObjectInUse,
            ],
        };
        assert_eq!(
            delete_result(&[id(1), id(2), id(3), id(4)], reply.clone()).unwrap(),
            vec![
                DeleteOutcome::Deleted,
                DeleteOutcome::NotFound,
                DeleteOutcome::NotSealed,
                DeleteOutcome::InUse
            ]
        );
        assert!(delete_result(&[id(1)], reply).is_err());
    }

    #[test]
    fn create_and_seal_list_and_evict_unwrap_their_replies() {
        assert!(create_and_seal_result(Reply::CreateAndSeal {
            error: ErrorCode::Ok
        })
        .is_ok());
        assert!(matches!(
            create_and_seal_result(Reply::CreateAndSeal {
                error: ErrorCode::OutOfMemory
            }),
            Err(CreateError::StoreFull)
        ));
        assert_eq!(evict_result(Reply::Evict { num_bytes: 7 }).unwrap(), 7);
        assert!(list_result(Reply::Evict { num_bytes: 7 }).is_err());
        assert!(list_result(Reply::List { objects: vec![] })
            .unwrap()
            .is_empty());
    }
}
