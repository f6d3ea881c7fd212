//! The flatbuffers codec: payload bytes ⇄ [`Request`] / [`Reply`] /
//! notification entries (protocol.md §5, §8, §9).
//!
//! Every decoder runs the flatbuffers verifier over the whole payload before
//! reading a single field, then applies the schema defaults and the
//! "required" rules the real peers rely on. Every encoder writes the fields
//! the pyarrow client dereferences unconditionally ("Must" in §8 / §14.1)
//! and omits scalars equal to their default, as the real peers do.

mod admin;
mod batch;
mod delete;
mod direct;
mod get;
mod list_writer;
mod notification;
mod object;
mod stats;
mod wire;

pub use list_writer::{BuiltFrame, ListReplyWriter};
pub use notification::decode_notification;

use crate::frame::{frame_header, HEADER_LEN};
use crate::{MessageType, ObjectInfo, Reply, Request};
use wire::Fbb;

/// Why a payload could not be decoded. The connection that sent it should
/// be dropped: the peer does not speak this protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The header's type number is not in the protocol's table.
    #[error("unknown message type {0}")]
    UnknownType(i64),
    /// The type is not one a client sends to the store (a reply type, or an
    /// unused one: 24–27).
    #[error("message type {0:?} is not a request")]
    NotARequest(MessageType),
    /// The type is not one the store sends to a client (a request type,
    /// type 0, ReleaseReply, or an unused one: 24–27).
    #[error("message type {0:?} is not a reply")]
    NotAReply(MessageType),
    /// The flatbuffers verifier rejected the payload.
    #[error("invalid flatbuffer: {0}")]
    Flatbuffer(#[from] flatbuffers::InvalidFlatbuffer),
    /// A payload whose length is not a multiple of 4: no flatbuffers
    /// builder produces one, so it was truncated or mangled.
    #[error("payload of {0} bytes is not a whole flatbuffer (length not a multiple of 4)")]
    UnalignedLength(usize),
    /// A field the protocol requires is absent.
    #[error("required field `{0}` is missing")]
    MissingField(&'static str),
    /// An object id that is not exactly 20 bytes.
    #[error("object id of {0} bytes, expected 20")]
    BadIdLength(usize),
    /// A digest that is not exactly 8 bytes.
    #[error("digest of {0} bytes, expected 8")]
    BadDigestLength(usize),
    /// Vectors (or a count) that must agree in length do not; names the
    /// field found inconsistent.
    #[error("field `{0}` does not match the length of its companions")]
    LengthMismatch(&'static str),
    /// A `PlasmaError` value outside 0..=5.
    #[error("unknown PlasmaError code {0}")]
    BadErrorCode(i32),
    /// A read outside the buffer after verification (cannot happen for a
    /// verified buffer; reported instead of panicking).
    #[error("offset out of bounds at byte {0}")]
    OutOfBounds(usize),
    /// An `ObjectInfo` residence value this version does not know.
    #[error("unknown residence value {0}")]
    BadResidence(u8),
    /// A field whose value is outside the range the protocol allows.
    #[error("field `{0}` has a value outside its range")]
    OutOfRange(&'static str),
    /// A notification whose length prefix is negative.
    #[error("notification length {0} is negative")]
    NegativeLength(i64),
    /// A notification longer than the receiver's limit.
    #[error("notification of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// Announced length.
        len: u64,
        /// The limit in force.
        max: u64,
    },
}

/// Decodes the payload of a client → store frame of type `msg_type`.
///
/// Type 0 decodes to [`Request::Disconnect`] whatever its payload. Inline
/// data (create-and-seal) borrows from `payload`.
pub fn decode_request(msg_type: i64, payload: &[u8]) -> Result<Request<'_>, DecodeError> {
    use MessageType as M;
    let t = MessageType::from_i64(msg_type).ok_or(DecodeError::UnknownType(msg_type))?;
    match t {
        M::DisconnectClient => Ok(Request::Disconnect),
        M::ConnectRequest => admin::decode_empty(payload, Request::Connect),
        M::CreateRequest => object::decode_create_request(payload),
        M::CreateAndSealRequest => object::decode_create_and_seal_request(payload),
        M::CreateAndSealBatchRequest => batch::decode_request(payload),
        M::AbortRequest => object::decode_id(payload).map(|id| Request::Abort { id }),
        M::SealRequest => object::decode_seal_request(payload),
        M::GetRequest => get::decode_request(payload),
        M::ReleaseRequest => object::decode_id(payload).map(|id| Request::Release { id }),
        M::DeleteRequest => delete::decode_request(payload),
        M::ContainsRequest => object::decode_id(payload).map(|id| Request::Contains { id }),
        M::ListRequest => admin::decode_empty(payload, Request::List),
        M::EvictRequest => {
            admin::decode_evict(payload).map(|num_bytes| Request::Evict { num_bytes })
        }
        M::SubscribeRequest => admin::decode_empty(payload, Request::Subscribe),
        M::SetOptionsRequest => admin::decode_set_options_request(payload),
        M::GetDebugStringRequest => admin::decode_empty(payload, Request::DebugString),
        M::RefreshLruRequest => admin::decode_refresh_request(payload),
        M::AwaitRequest => admin::decode_id_list(payload).map(|ids| Request::Await { ids }),
        M::UnawaitRequest => admin::decode_id_list(payload).map(|ids| Request::Unawait { ids }),
        M::StatsRequest => admin::decode_empty(payload, Request::Stats),
        M::AttachRequest => admin::decode_empty(payload, Request::Attach),
        M::PutRequest => direct::decode_put_request(payload),
        M::HoldsChanged => admin::decode_empty(payload, Request::HoldsChanged),
        M::ObjectReady | M::UnawaitReply | M::StatsReply | M::AttachReply | M::PutReply => {
            Err(DecodeError::NotARequest(t))
        }
        M::CreateReply
        | M::CreateAndSealReply
        | M::AbortReply
        | M::SealReply
        | M::GetReply
        | M::ReleaseReply
        | M::DeleteReply
        | M::ContainsReply
        | M::ListReply
        | M::ConnectReply
        | M::EvictReply
        | M::SetOptionsReply
        | M::GetDebugStringReply
        | M::CreateAndSealBatchReply
        | M::RefreshLruReply
        | M::UnsubscribeRequest
        | M::DataRequest
        | M::DataReply
        | M::Notification => Err(DecodeError::NotARequest(t)),
    }
}

/// Decodes the payload of a store → client frame of type `msg_type`.
pub fn decode_reply(msg_type: i64, payload: &[u8]) -> Result<Reply, DecodeError> {
    use MessageType as M;
    let t = MessageType::from_i64(msg_type).ok_or(DecodeError::UnknownType(msg_type))?;
    match t {
        M::ConnectReply => admin::decode_connect_reply(payload),
        M::CreateReply => object::decode_create_reply(payload),
        M::CreateAndSealReply => {
            object::decode_error_only(payload).map(|error| Reply::CreateAndSeal { error })
        }
        M::CreateAndSealBatchReply => {
            object::decode_error_only(payload).map(|error| Reply::CreateAndSealBatch { error })
        }
        M::AbortReply => object::decode_id(payload).map(|id| Reply::Abort { id }),
        M::SealReply => object::decode_seal_reply(payload),
        M::GetReply => get::decode_reply(payload),
        M::DeleteReply => delete::decode_reply(payload),
        M::ContainsReply => object::decode_contains_reply(payload),
        M::ListReply => admin::decode_list_reply(payload),
        M::EvictReply => admin::decode_evict(payload).map(|num_bytes| Reply::Evict { num_bytes }),
        M::SetOptionsReply => {
            object::decode_error_only(payload).map(|error| Reply::SetOptions { error })
        }
        M::GetDebugStringReply => admin::decode_debug_string_reply(payload),
        M::RefreshLruReply => admin::decode_empty(payload, Reply::RefreshLru),
        M::ObjectReady => object::decode_object_ready(payload),
        M::UnawaitReply => admin::decode_id_list(payload).map(|removed| Reply::Unawait { removed }),
        M::StatsReply => stats::decode_reply(payload),
        M::AttachReply => direct::decode_attach_reply(payload),
        M::PutReply => direct::decode_put_reply(payload),
        M::AwaitRequest
        | M::UnawaitRequest
        | M::StatsRequest
        | M::AttachRequest
        | M::PutRequest
        | M::HoldsChanged => Err(DecodeError::NotAReply(t)),
        M::DisconnectClient
        | M::CreateRequest
        | M::CreateAndSealRequest
        | M::AbortRequest
        | M::SealRequest
        | M::GetRequest
        | M::ReleaseRequest
        | M::ReleaseReply
        | M::DeleteRequest
        | M::ContainsRequest
        | M::ListRequest
        | M::ConnectRequest
        | M::EvictRequest
        | M::SubscribeRequest
        | M::UnsubscribeRequest
        | M::DataRequest
        | M::DataReply
        | M::Notification
        | M::SetOptionsRequest
        | M::GetDebugStringRequest
        | M::CreateAndSealBatchRequest
        | M::RefreshLruRequest => Err(DecodeError::NotAReply(t)),
    }
}

/// Payloads above this size do not keep their builder memory afterwards.
const KEEP_BUILDER_UP_TO: usize = 1 << 20;

/// Largest builder allocated up front (the format's limit is 2 GiB).
const MAX_PREALLOCATION: usize = 1 << 30;

/// Rough wire size of one `ObjectInfo` / one id string plus its offset.
const INFO_HINT: usize = 128;
const ID_HINT: usize = 32;

/// Approximate payload size of `req` (only large ones matter).
fn request_size_hint(req: &Request<'_>) -> usize {
    match req {
        Request::CreateAndSeal { data, metadata, .. } | Request::Put { data, metadata, .. } => {
            data.len().saturating_add(metadata.len())
        }
        Request::CreateAndSealBatch {
            data,
            metadata,
            ids,
            ..
        } => data
            .iter()
            .chain(metadata)
            .fold(ids.len().saturating_mul(4 * ID_HINT), |n, b| {
                n.saturating_add(b.len())
            }),
        Request::Get { ids, .. }
        | Request::Delete { ids }
        | Request::RefreshLru { ids }
        | Request::Await { ids }
        | Request::Unawait { ids } => ids.len().saturating_mul(ID_HINT),
        _ => 0,
    }
}

/// Approximate payload size of `reply` (only large ones matter).
fn reply_size_hint(reply: &Reply) -> usize {
    match reply {
        Reply::Get { ids, .. } => ids.len().saturating_mul(ID_HINT + 48),
        Reply::Delete { ids, .. } => ids.len().saturating_mul(ID_HINT + 4),
        Reply::List { objects } => objects.len().saturating_mul(INFO_HINT),
        Reply::DebugString { text } => text.len(),
        Reply::Unawait { removed } => removed.len().saturating_mul(ID_HINT),
        _ => 0,
    }
}

/// Encodes requests, replies and notifications, reusing one flatbuffers
/// builder (and one scratch vector) across messages.
///
/// ```
/// use plasma_protocol::{decode_reply, parse_frame, Encoder, Reply, DEFAULT_MAX_FRAME_LEN};
/// let mut enc = Encoder::new();
/// let mut out = Vec::new();
/// enc.encode_reply(&Reply::Connect { memory_capacity: 1000 }, &mut out);
/// let (frame, used) = parse_frame(&out, DEFAULT_MAX_FRAME_LEN).unwrap().unwrap();
/// assert_eq!(used, out.len());
/// let reply = decode_reply(frame.msg_type, frame.payload).unwrap();
/// assert_eq!(reply, Reply::Connect { memory_capacity: 1000 });
/// ```
///
/// A message must stay below 2 GiB (the flatbuffers format's limit); the
/// builder panics beyond that, so callers bound inline data first.
pub struct Encoder {
    fbb: Fbb,
    scratch: Vec<u32>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// A new encoder with a small builder.
    pub fn new() -> Self {
        Self {
            fbb: Fbb::with_capacity(1024),
            scratch: Vec::new(),
        }
    }

    /// Appends one complete frame (24-byte header + payload) to `out`.
    pub fn encode_request(&mut self, req: &Request<'_>, out: &mut Vec<u8>) {
        self.prepare(request_size_hint(req));
        let fbb = &mut self.fbb;
        let scratch = &mut self.scratch;
        let root = match req {
            Request::Disconnect
            | Request::Connect
            | Request::List
            | Request::Subscribe
            | Request::DebugString
            | Request::Stats
            | Request::Attach
            | Request::HoldsChanged => wire::empty_table(fbb),
            Request::Create {
                id,
                evict_if_full,
                data_size,
                metadata_size,
                device_num,
            } => object::encode_create_request(
                fbb,
                id,
                *evict_if_full,
                *data_size,
                *metadata_size,
                *device_num,
            ),
            Request::CreateAndSeal {
                id,
                evict_if_full,
                data,
                metadata,
                digest,
            } => object::encode_create_and_seal_request(
                fbb,
                id,
                *evict_if_full,
                data,
                metadata,
                digest,
            ),
            Request::CreateAndSealBatch {
                ids,
                evict_if_full,
                data,
                metadata,
                digests,
            } => batch::encode_request(fbb, scratch, ids, *evict_if_full, data, metadata, digests),
            Request::Abort { id } | Request::Release { id } | Request::Contains { id } => {
                wire::id_table(fbb, id)
            }
            Request::Seal { id, digest } => object::encode_seal_request(fbb, id, digest),
            Request::Get { ids, timeout_ms } => get::encode_request(fbb, scratch, ids, *timeout_ms),
            Request::Delete { ids } => delete::encode_request(fbb, scratch, ids),
            Request::Evict { num_bytes } => admin::encode_u64_slot0(fbb, *num_bytes),
            Request::SetOptions {
                client_name,
                output_memory_quota,
            } => admin::encode_set_options_request(fbb, client_name, *output_memory_quota),
            Request::RefreshLru { ids } | Request::Await { ids } | Request::Unawait { ids } => {
                admin::encode_refresh_request(fbb, scratch, ids)
            }
            Request::Put {
                id,
                evict_if_full,
                data,
                metadata,
                digest,
                slot,
            } => direct::encode_put_request(
                fbb,
                &direct::PutFields {
                    id,
                    evict_if_full: *evict_if_full,
                    data,
                    metadata,
                    digest,
                    slot: *slot,
                },
            ),
        };
        self.finish_frame(req.message_type().as_i64(), root, out);
    }

    /// Appends one complete frame (24-byte header + payload) to `out`.
    pub fn encode_reply(&mut self, reply: &Reply, out: &mut Vec<u8>) {
        self.prepare(reply_size_hint(reply));
        let fbb = &mut self.fbb;
        let scratch = &mut self.scratch;
        let root = match reply {
            Reply::Connect { memory_capacity } => {
                admin::encode_connect_reply(fbb, *memory_capacity)
            }
            Reply::Create {
                id,
                object,
                error,
                store_fd,
                mmap_size,
            } => object::encode_create_reply(fbb, id, object, *error, *store_fd, *mmap_size),
            Reply::CreateAndSeal { error }
            | Reply::CreateAndSealBatch { error }
            | Reply::SetOptions { error } => object::encode_error_only(fbb, *error),
            Reply::Abort { id } => wire::id_table(fbb, id),
            Reply::Seal { id, error } => object::encode_seal_reply(fbb, id, *error),
            Reply::Get {
                ids,
                objects,
                store_fds,
                mmap_sizes,
            } => get::encode_reply(fbb, scratch, ids, objects, store_fds, mmap_sizes),
            Reply::Delete { ids, errors } => delete::encode_reply(fbb, scratch, ids, errors),
            Reply::Contains { id, has_object } => {
                object::encode_contains_reply(fbb, id, *has_object)
            }
            Reply::List { objects } => admin::encode_list_reply(fbb, scratch, objects),
            Reply::Evict { num_bytes } => admin::encode_u64_slot0(fbb, *num_bytes),
            Reply::DebugString { text } => admin::encode_debug_string_reply(fbb, text),
            Reply::RefreshLru => wire::empty_table(fbb),
            Reply::ObjectReady {
                id,
                object,
                store_fd,
                mmap_size,
            } => object::encode_create_reply(
                fbb,
                id,
                object,
                crate::ErrorCode::Ok,
                *store_fd,
                *mmap_size,
            ),
            Reply::Unawait { removed } => admin::encode_refresh_request(fbb, scratch, removed),
            Reply::Stats(stats) => stats::encode_reply(fbb, stats),
            Reply::Attach {
                error,
                store_fd,
                mmap_size,
            } => direct::encode_attach_reply(fbb, *error, *store_fd, *mmap_size),
            Reply::Put {
                id,
                object,
                error,
                store_fd,
                mmap_size,
                entry,
                gen,
                hold,
            } => direct::encode_put_reply(
                fbb,
                &direct::PutReplyFields {
                    id,
                    object,
                    error: *error,
                    store_fd: *store_fd,
                    mmap_size: *mmap_size,
                    entry: *entry,
                    gen: *gen,
                    hold: *hold,
                },
            ),
        };
        self.finish_frame(reply.message_type().as_i64(), root, out);
    }

    /// Appends one notification message: 8-byte LE length + a
    /// `PlasmaNotification` table with one `ObjectInfo` per entry of `infos`.
    /// Entries with `is_deletion` carry no digest field; others carry their
    /// digest (an empty string when `None`).
    pub fn encode_notification(&mut self, infos: &[ObjectInfo], out: &mut Vec<u8>) {
        self.prepare(infos.len().saturating_mul(INFO_HINT));
        let root = notification::encode(&mut self.fbb, &mut self.scratch, infos);
        self.fbb.finish_minimal(root);
        let data = self.fbb.finished_data();
        out.reserve(8 + data.len());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
        self.trim();
    }

    fn finish_frame(&mut self, msg_type: i64, root: wire::Root, out: &mut Vec<u8>) {
        self.fbb.finish_minimal(root);
        let data = self.fbb.finished_data();
        out.reserve(HEADER_LEN + data.len());
        out.extend_from_slice(&frame_header(msg_type, data.len()));
        out.extend_from_slice(data);
        self.trim();
    }

    /// Readies the builder for a message of about `size_hint` bytes: large
    /// ones get a builder of that size up front, so it never regrows (each
    /// regrowth would copy everything written so far).
    fn prepare(&mut self, size_hint: usize) {
        if size_hint > KEEP_BUILDER_UP_TO {
            self.fbb = Fbb::with_capacity(size_hint.saturating_add(1024).min(MAX_PREALLOCATION));
        } else {
            self.fbb.reset();
        }
    }

    /// Gives back the memory of an exceptionally large message.
    fn trim(&mut self) {
        if self.fbb.finished_data().len() > KEEP_BUILDER_UP_TO {
            self.fbb = Fbb::with_capacity(1024);
        }
    }
}
