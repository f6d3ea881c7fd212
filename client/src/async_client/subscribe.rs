//! Setting up the notification channel: a connection of its own that says
//! Connect, then Subscribe with the write end of a fresh socket pair (§6),
//! then one request with a reply as a barrier.
//!
//! The barrier is what makes register-before-check sound: the store handles
//! a connection's frames in order, so once the barrier's reply is back the
//! store has attached our notification socket, and every seal it handles
//! from then on is notified to us. Only then does the driver check whether
//! the awaited objects are already sealed.
//!
//! A connection of its own (instead of the request connection) because a
//! second Subscribe on one connection breaks the real Plasma store, and the
//! channel must be set up again after `shutdown()`.

use std::os::fd::AsFd;
use std::path::Path;

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use plasma_protocol::{
    decode_reply, fd, parse_frame, Encoder, MessageType, ObjectId, Reply, Request,
    DEFAULT_MAX_FRAME_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;

use super::socket::Socket;
use crate::connection::{classify_read_error, classify_write_error, unexpected};
use crate::error::{CallError, ProtocolError};

/// A live notification channel.
pub(crate) struct Channel {
    /// The connection the store ties the subscription to; kept open (and
    /// never read) for as long as the channel is used.
    pub(crate) _conn: UnixStream,
    /// Our end of the socket pair, non-blocking.
    pub(crate) socket: Socket,
}

/// Opens a connection to `path` and subscribes on it.
pub(crate) async fn subscribe(path: &Path) -> Result<Channel, CallError> {
    let mut conn = UnixStream::connect(path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                CallError::Disconnected
            }
            _ => CallError::Io {
                op: "connect to store for notifications",
                source: e,
            },
        })?;
    let mut encoder = Encoder::new();
    let mut inbuf = Vec::new();
    let reply = round_trip(&mut conn, &mut encoder, &mut inbuf, &Request::Connect).await?;
    if !matches!(reply, Reply::Connect { .. }) {
        return Err(unexpected(MessageType::ConnectReply, &reply));
    }

    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    )
    .map_err(|e| CallError::Io {
        op: "create notification socket pair",
        source: e.into(),
    })?;
    // Both ends non-blocking: the store must never block on a slow
    // subscriber (§6), and ours is driven by readiness.

    let mut frame = Vec::new();
    encoder.encode_request(&Request::Subscribe, &mut frame);
    conn.write_all(&frame).await.map_err(classify_write_error)?;
    loop {
        conn.writable().await.map_err(classify_write_error)?;
        match conn.try_io(Interest::WRITABLE, || {
            fd::send_fd(conn.as_fd(), theirs.as_fd())
        }) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(classify_write_error(e)),
        }
    }
    drop(theirs);

    // The barrier (see the module doc).
    let id = ObjectId::random();
    let barrier = round_trip(
        &mut conn,
        &mut encoder,
        &mut inbuf,
        &Request::Contains { id },
    )
    .await?;
    if !matches!(barrier, Reply::Contains { id: got, .. } if got == id) {
        return Err(unexpected(MessageType::ContainsReply, &barrier));
    }
    let socket =
        Socket::from_std(std::os::unix::net::UnixStream::from(ours)).map_err(|source| {
            CallError::Io {
                op: "register notification socket",
                source,
            }
        })?;
    Ok(Channel {
        _conn: conn,
        socket,
    })
}

/// Writes `req` and reads its reply (which carries no fds).
async fn round_trip(
    conn: &mut UnixStream,
    encoder: &mut Encoder,
    inbuf: &mut Vec<u8>,
    req: &Request<'_>,
) -> Result<Reply, CallError> {
    let mut frame = Vec::new();
    encoder.encode_request(req, &mut frame);
    conn.write_all(&frame).await.map_err(classify_write_error)?;
    loop {
        if let Some((frame, consumed)) =
            parse_frame(inbuf, DEFAULT_MAX_FRAME_LEN).map_err(ProtocolError::from)?
        {
            let reply = decode_reply(frame.msg_type, frame.payload).map_err(ProtocolError::from)?;
            inbuf.drain(..consumed);
            return Ok(reply);
        }
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.map_err(classify_read_error)?;
        if n == 0 {
            return Err(CallError::Disconnected);
        }
        inbuf.extend_from_slice(&chunk[..n]);
    }
}
