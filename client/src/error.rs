//! Error types: one enum per operation, each keeping the store's own answer
//! (`ObjectExists`, `StoreFull`, ...) apart from the failures any call can
//! meet (`Disconnected`, `Timeout`, `Protocol`, `Io`).

use std::path::PathBuf;
use std::sync::Arc;

use plasma_protocol::{DecodeError, ErrorCode, FrameError, MessageType, ObjectId};

use crate::mapping::ExtentError;
use crate::segments::MapError;

/// The store sent something this client cannot make sense of. The
/// connection it came on is not used again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame header was invalid.
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    /// A payload could not be decoded.
    #[error("undecodable message: {0}")]
    Decode(#[from] DecodeError),
    /// The reply's type is not the one the request calls for.
    #[error("expected a {expected:?}, got a {got:?}")]
    UnexpectedReply {
        /// What the request calls for.
        expected: MessageType,
        /// What arrived.
        got: MessageType,
    },
    /// The reply names a different object than the request.
    #[error("reply is about object {got}, request was about {expected}")]
    WrongObject {
        /// Id in the request.
        expected: ObjectId,
        /// Id in the reply.
        got: ObjectId,
    },
    /// The reply's content contradicts the request (counts, ids, sizes).
    #[error("reply does not match the request: {0}")]
    Mismatch(&'static str),
    /// An error code the operation does not define.
    #[error("store answered with error code {0:?}, which this operation does not define")]
    UnexpectedCode(ErrorCode),
    /// A value out of range (negative size, capacity, ...).
    #[error("store sent an out-of-range {0}")]
    OutOfRange(&'static str),
    /// An object lives in a segment whose fd never arrived.
    #[error("object refers to segment {0}, which this connection never received")]
    UnknownSegment(i32),
    /// A segment fd could not be mapped.
    #[error(transparent)]
    Map(#[from] MapError),
    /// An object's extent lies outside its segment.
    #[error("object extent is invalid: {0}")]
    Extent(#[from] ExtentError),
    /// A data byte arrived where an fd message was expected.
    #[error("expected a file descriptor message, got plain bytes")]
    MissingFd,
    /// Bytes or fds arrived that no request asked for.
    #[error("store sent {bytes} unsolicited bytes and {fds} unsolicited fds")]
    Unsolicited {
        /// Stray bytes.
        bytes: usize,
        /// Stray fds.
        fds: usize,
    },
    /// One failure of a connection that several waiting calls share (the
    /// [`AsyncClient`](crate::AsyncClient)'s), reported to each of them.
    #[error(transparent)]
    Shared(Arc<ProtocolError>),
}

/// What can go wrong on one connection, whatever the operation.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("store disconnected")]
    Disconnected,
    #[error("timed out waiting for the store")]
    Timeout,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        source: std::io::Error,
    },
}

/// `From<CallError>` for an operation's error enum: every enum below has the
/// four shared variants (`Disconnected`, `Timeout`, `Protocol`, `Io`).
macro_rules! impl_from_call_error {
    ($name:ident) => {
        impl From<CallError> for $name {
            fn from(e: CallError) -> Self {
                match e {
                    CallError::Disconnected => Self::Disconnected,
                    CallError::Timeout => Self::Timeout,
                    CallError::Protocol(p) => Self::Protocol(p),
                    CallError::Io { op, source } => Self::Io { op, source },
                }
            }
        }
    };
}
pub(crate) use impl_from_call_error;

/// Why [`Client::connect`](crate::Client::connect) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Nothing accepted the connection, even after the configured retries.
    #[error("cannot connect to {path:?} after {attempts} attempts: {source}")]
    Unavailable {
        /// Socket path.
        path: PathBuf,
        /// Connection attempts made.
        attempts: u32,
        /// The last attempt's error.
        source: std::io::Error,
    },
    /// The store closed the connection during the handshake.
    #[error("store disconnected")]
    Disconnected,
    /// The handshake took longer than `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(ConnectError);

/// Why [`Client::create`](crate::Client::create) or
/// [`Client::create_and_seal`](crate::Client::create_and_seal) failed.
///
/// ```no_run
/// # fn f(client: plasma_client::Client, id: plasma_client::ObjectId) -> Result<(), plasma_client::CreateError> {
/// use plasma_client::CreateError;
/// match client.create_and_seal(id, b"data", b"") {
///     Ok(()) | Err(CreateError::ObjectExists) => {} // someone else put it first
///     Err(CreateError::StoreFull) => eprintln!("no room even after eviction"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// An object with this id already exists (in any state).
    #[error("object already exists")]
    ObjectExists,
    /// The store could not make room, even after evicting.
    #[error("store is full")]
    StoreFull,
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(CreateError);

/// Why [`ObjectBuilder::seal`](crate::ObjectBuilder::seal) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Another object with this id was created meanwhile. Only a small
    /// object built in this client's memory (see
    /// `ClientOptions::put_inline_max`) meets it at seal rather than at
    /// create.
    #[error("object already exists")]
    ObjectExists,
    /// The store could not make room, even after evicting (small objects
    /// built in this client's memory, as for `ObjectExists`).
    #[error("store is full")]
    StoreFull,
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(SealError);

/// Why a get ([`Client::try_get`](crate::Client::try_get),
/// [`get_timeout`](crate::Client::get_timeout), [`get`](crate::Client::get))
/// failed. Objects that are merely absent are not an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GetError {
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// [`AsyncClient::shutdown`](crate::AsyncClient::shutdown) was called
    /// while this (async) get waited.
    #[error("the async client's waiting machinery was shut down")]
    Shutdown,
    /// No answer within the get's own timeout plus
    /// `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(GetError);

/// Why [`Client::contains`](crate::Client::contains) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainsError {
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(ContainsError);

/// Why [`Client::delete`](crate::Client::delete) failed as a whole.
/// Per-object outcomes are in [`DeleteOutcome`](crate::DeleteOutcome).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeleteError {
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(DeleteError);

/// Why [`Client::list`](crate::Client::list) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(ListError);

/// Why [`Client::evict`](crate::Client::evict) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvictError {
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(EvictError);

/// Why [`Client::subscribe`](crate::Client::subscribe) or reading the next
/// notification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer (or no notification) within the allowed time.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store sent something undecodable.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(SubscribeError);

/// Why [`Client::debug_string`](crate::Client::debug_string) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DebugStringError {
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(DebugStringError);

impl From<DebugStringError> for ConnectError {
    fn from(e: DebugStringError) -> Self {
        match e {
            DebugStringError::Disconnected => Self::Disconnected,
            DebugStringError::Timeout => Self::Timeout,
            DebugStringError::Protocol(p) => Self::Protocol(p),
            DebugStringError::Io { op, source } => Self::Io { op, source },
        }
    }
}

/// Why [`Client::set_options`](crate::Client::set_options) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetOptionsError {
    /// The store refused the output memory quota (it was granted before
    /// on this connection, or the store cannot spare that much); the name
    /// is set anyway.
    #[error("the store refused the output memory quota")]
    Refused,
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(SetOptionsError);

/// Why [`Client::verify`](crate::Client::verify) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The object is not in the store (or not sealed).
    #[error("object not found")]
    NotFound,
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(VerifyError);

impl From<GetError> for VerifyError {
    fn from(e: GetError) -> Self {
        match e {
            GetError::Disconnected | GetError::Shutdown => Self::Disconnected,
            GetError::Timeout => Self::Timeout,
            GetError::Protocol(p) => Self::Protocol(p),
            GetError::Io { op, source } => Self::Io { op, source },
        }
    }
}

impl From<ListError> for VerifyError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Disconnected => Self::Disconnected,
            ListError::Timeout => Self::Timeout,
            ListError::Protocol(p) => Self::Protocol(p),
            ListError::Io { op, source } => Self::Io { op, source },
        }
    }
}

/// Why an [`AsFuture`](crate::AsFuture) (or another wait of the
/// [`AsyncClient`](crate::AsyncClient): `as_futures`, `wait`) ended without
/// its object. Cheap to clone: one failure is reported to every waiter.
///
/// ```no_run
/// # async fn f(client: plasma_client::AsyncClient, id: plasma_client::ObjectId) {
/// use plasma_client::AsFutureError;
/// match client.as_future(id).await {
///     Ok(buf) => println!("{} bytes", buf.data().len()),
///     Err(AsFutureError::Shutdown) => println!("cancelled by shutdown()"),
///     Err(e) => eprintln!("store trouble: {e}"),
/// }
/// # }
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsFutureError {
    /// [`AsyncClient::shutdown`](crate::AsyncClient::shutdown) cancelled the
    /// wait.
    #[error("the async client's waiting machinery was shut down")]
    Shutdown,
    /// The store is gone, the client's connection failed earlier (an
    /// [`AsyncClient`](crate::AsyncClient) does not reconnect), or the
    /// client's runtime shut down its I/O task.
    #[error("store disconnected")]
    Disconnected,
    /// The store sent something this client cannot make sense of; the
    /// connection was dropped.
    #[error("protocol error: {0}")]
    Protocol(Arc<ProtocolError>),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
}

impl From<CallError> for AsFutureError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Disconnected | CallError::Timeout => Self::Disconnected,
            CallError::Protocol(p) => Self::Protocol(Arc::new(p)),
            CallError::Io { op, source } => Self::Io {
                op,
                source: Arc::new(source),
            },
        }
    }
}

impl From<AsFutureError> for CallError {
    fn from(e: AsFutureError) -> Self {
        match e {
            AsFutureError::Shutdown | AsFutureError::Disconnected => Self::Disconnected,
            AsFutureError::Protocol(p) => Self::Protocol(ProtocolError::Shared(p)),
            AsFutureError::Io { op, source } => Self::Io {
                op,
                source: std::io::Error::new(source.kind(), source),
            },
        }
    }
}

impl From<GetError> for AsFutureError {
    fn from(e: GetError) -> Self {
        match e {
            GetError::Shutdown => Self::Shutdown,
            GetError::Disconnected | GetError::Timeout => Self::Disconnected,
            GetError::Protocol(p) => Self::Protocol(Arc::new(p)),
            GetError::Io { op, source } => Self::Io {
                op,
                source: Arc::new(source),
            },
        }
    }
}

impl From<AsFutureError> for GetError {
    fn from(e: AsFutureError) -> Self {
        match e {
            AsFutureError::Shutdown => Self::Shutdown,
            other => CallError::from(other).into(),
        }
    }
}
