//! The messages handles, buffers, builders and futures send to the driver
//! task (`driver/commands.rs` says what each does), and the [`Link`] that
//! buffers and builders send theirs through.
//!
//! A `Link` is the async twin of the blocking client's `Arc<Connection>`
//! in its views (`connection.rs`): there a failed connection is only given
//! up and its socket closes with the last view; here the driver stops on
//! failure, and the views' [`Tether`] keeps the socket, and so the store's
//! holds and our unsealed objects, until the last view is gone.

use std::sync::Arc;

use plasma_protocol::{Digest, MessageType, ObjectId, Reply};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::builder::AsyncObjectBuilder;
use super::future::Waiter;
use super::socket::Tether;
use super::AsyncStats;
use crate::buffer::ReleaseHook;
use crate::direct::{Direct, Nudge};
use crate::error::{AsFutureError, CallError, CreateError, SealError};
use crate::mapping::ViewMut;
use crate::ObjectBuffer;

/// A reply channel.
pub(crate) type ReplyTo<T> = oneshot::Sender<T>;

/// What an attach answers: the `direct` state and a link for its holds,
/// or nothing if the store could not make a hold table.
pub(crate) type Attached = Option<(Arc<Direct>, Arc<Link>)>;

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
    /// Ask the store for the `direct` segments (AttachRequest); the answer
    /// is the client's `direct` state and a link for direct holds, or
    /// `None` if the store could not make a hold table.
    Attach(ReplyTo<Result<Attached, CallError>>),
    /// PutRequest for a local builder's bytes (`data_len` of data, then the
    /// metadata).
    Put {
        id: ObjectId,
        bytes: Vec<u8>,
        data_len: usize,
        digest: Digest,
        reply: ReplyTo<Result<ObjectBuffer, SealError>>,
    },
    /// The release log has news for the store (HoldsChanged).
    HoldsChanged,
}

/// A view's hold on its connection. One per driver at a time, shared by
/// every buffer and builder it hands out.
pub(crate) struct Link {
    commands: UnboundedSender<Command>,
    _socket: Tether,
}

impl Link {
    pub(crate) fn new(commands: UnboundedSender<Command>, socket: Tether) -> Self {
        Self {
            commands,
            _socket: socket,
        }
    }

    /// Hands `cmd` to the driver; if the driver has stopped, the command is
    /// dropped (its reply sender tells the caller `Disconnected`), and
    /// nothing is written.
    pub(crate) fn send(&self, cmd: Command) {
        let _ = self.commands.send(cmd);
    }
}

impl Nudge for Link {
    fn nudge(&self) {
        self.send(Command::HoldsChanged);
    }
}

impl ReleaseHook for Link {
    fn release(&self, id: ObjectId) {
        self.send(Command::Release(id));
    }
}
