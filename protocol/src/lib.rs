//! Arrow Plasma 11's wire protocol, as bytes: object ids, the message model,
//! the flatbuffers codec, frame and notification framing, and fd passing.
//!
//! This crate knows bytes, not sockets: decoding takes a byte slice and says
//! "need more bytes" with `Ok(None)`. The one exception is [`fd`], the small
//! module that moves file descriptors with `SCM_RIGHTS`.

mod codec;
pub mod direct;
pub mod extensions;
pub mod fd;
mod frame;
mod id;
mod message;
mod stats;

pub use codec::{
    decode_notification, decode_reply, decode_request, BuiltFrame, DecodeError, Encoder,
    ListReplyWriter,
};
pub use frame::{frame_header, parse_frame, Frame, FrameError, DEFAULT_MAX_FRAME_LEN, HEADER_LEN};
pub use id::{ObjectId, OBJECT_ID_LEN};
pub use message::{
    Digest, ErrorCode, MessageType, ObjectInfo, ObjectSpec, PutHold, Reply, Request, Residence,
    DIGEST_LEN, EXTENSIONS_MARKER, PUT_HOLD_BY_SOCKET,
};
pub use stats::{SpillStats, StoreStats, Tally};
