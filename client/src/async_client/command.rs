//! The messages handles send to the driver task, and what the driver
//! remembers about each request it has written (replies come back strictly
//! in request order: the protocol has no request ids).

use plasma_protocol::{Digest, MessageType, ObjectId, Reply};
use tokio::sync::oneshot;

use super::builder::AsyncObjectBuilder;
use super::future::Waiter;
use super::AsyncStats;
use crate::error::{AsFutureError, CallError, CreateError, SealError};
use crate::mapping::ViewMut;
use crate::ObjectBuffer;

/// A reply channel.
pub(crate) type ReplyTo<T> = oneshot::Sender<T>;

/// One message to the driver. Every variant is cheap to drop: dropping a
/// reply sender makes the caller see `Disconnected`, dropping a `Waiter`
/// resolves its future with `Disconnected`, dropping a `ViewMut` is safe.
pub(crate) enum Command {
    /// A request the caller encoded whose reply it interprets itself.
    Call {
        frame: Vec<u8>,
        expected: MessageType,
        reply: ReplyTo<Result<Reply, CallError>>,
    },
    /// CreateRequest; the driver turns the reply into a builder.
    Create {
        id: ObjectId,
        data_size: u64,
        metadata: Vec<u8>,
        digest: bool,
        reply: ReplyTo<Result<AsyncObjectBuilder, CreateError>>,
    },
    /// SealRequest for a builder's object; the driver owns its view while
    /// the request is in flight and turns it into a buffer.
    Seal {
        id: ObjectId,
        digest: Digest,
        view: ViewMut,
        data_len: usize,
        reply: ReplyTo<Result<ObjectBuffer, SealError>>,
    },
    /// GetRequest with timeout 0 (nothing ever waits on the request
    /// connection).
    Get {
        ids: Vec<ObjectId>,
        reply: ReplyTo<Result<Vec<Option<ObjectBuffer>>, CallError>>,
    },
    /// The last buffer of an object was dropped.
    Release(ObjectId),
    /// An unsealed builder was dropped.
    Abort(ObjectId),
    /// A future waits for this id (see `router.rs`).
    Register(ObjectId, Waiter),
    /// A future waiting for this id was dropped.
    Cancel(ObjectId),
    /// Set up the notification channel now.
    Init(ReplyTo<Result<(), AsFutureError>>),
    /// Fail every waiting future with `Shutdown`, close the channel.
    Shutdown(ReplyTo<()>),
    /// Report the waiting machinery's counters.
    Stats(ReplyTo<AsyncStats>),
    /// The store serves our Await addition: wait through it from now on.
    UsePushes,
}

/// A request written to the store whose reply has not been read yet.
pub(crate) enum Expect {
    Reply {
        expected: MessageType,
        reply: ReplyTo<Result<Reply, CallError>>,
    },
    Create {
        id: ObjectId,
        data_size: u64,
        metadata: Vec<u8>,
        digest: bool,
        reply: ReplyTo<Result<AsyncObjectBuilder, CreateError>>,
    },
    Seal {
        id: ObjectId,
        view: ViewMut,
        data_len: usize,
        reply: ReplyTo<Result<ObjectBuffer, SealError>>,
    },
    /// A caller's `try_get`.
    Get {
        ids: Vec<ObjectId>,
        distinct: Vec<ObjectId>,
        reply: ReplyTo<Result<Vec<Option<ObjectBuffer>>, CallError>>,
    },
    /// The router's check or fetch of awaited ids (each once), written as
    /// the driver's `seq`-th release-or-fetch frame.
    Fetch {
        ids: Vec<ObjectId>,
        seq: u64,
    },
    Abort {
        id: ObjectId,
    },
    /// Our UnawaitRequest (its reply names the registrations it removed).
    Unawait,
}

impl Expect {
    /// The reply type this request calls for.
    pub(crate) fn expected(&self) -> MessageType {
        match self {
            Expect::Reply { expected, .. } => *expected,
            Expect::Create { .. } => MessageType::CreateReply,
            Expect::Seal { .. } => MessageType::SealReply,
            Expect::Get { .. } | Expect::Fetch { .. } => MessageType::GetReply,
            Expect::Abort { .. } => MessageType::AbortReply,
            Expect::Unawait => MessageType::UnawaitReply,
        }
    }

    /// Tells the caller (if any) that the request failed with `err`.
    pub(crate) fn fail(self, err: CallError) {
        match self {
            Expect::Reply { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Expect::Create { reply, .. } => {
                let _ = reply.send(Err(err.into()));
            }
            Expect::Seal { reply, .. } => {
                let _ = reply.send(Err(err.into()));
            }
            Expect::Get { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Expect::Fetch { .. } | Expect::Abort { .. } | Expect::Unawait => {}
        }
    }
}
