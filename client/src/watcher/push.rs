//! The push connection of a [`Watcher`](super::Watcher): our Await
//! addition (docs/design.md, "Our protocol additions") over one
//! non-blocking socket that the caller's event loop watches.
//!
//! The loop side (`PushChannel`, `&mut`, one thread at a time) reads
//! pushes and Unawait replies; the state a buffer's release needs (the
//! hold table, the await table, the frames not yet written) is shared
//! with every buffer behind one mutex (`Shared`), because a buffer may be
//! dropped on any thread. Frames of both go through one queue in one
//! order. Nothing is dropped, and no user code runs, while that mutex is
//! held: a buffer made under it is handed out only after it is released.
//!
//! A Release may have to wait for room in the socket; it then waits in
//! `poll(2)` under the mutex. That is bounded: the store reads every
//! connection whatever it has queued for it.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use plasma_protocol::{Encoder, MessageType, ObjectId, Reply, Request};

use crate::async_client::awaits::{AwaitTable, Unawaited};
use crate::async_client::wire::{Outgoing, Replies};
use crate::buffer::ReleaseHook;
use crate::connection::{classify_read_error, classify_write_error, unexpected};
use crate::error::{CallError, ConnectError, ProtocolError};
use crate::holds::{HoldTable, ReleaseDecision};
use crate::{lock, replies, ObjectBuffer};

/// Largest number of ids in one Await or Unawait frame.
const MAX_IDS_PER_FRAME: usize = 8192;
/// Reads per `read` call, so one busy connection cannot hold the caller's
/// loop for long.
const READS_PER_CALL: usize = 16;

/// What buffers and the loop share (see the module doc).
struct State {
    holds: HoldTable,
    awaits: AwaitTable,
    out: Outgoing,
    encoder: Encoder,
    /// Unawait replies still to come, in order.
    unawaits_pending: usize,
    /// The connection failed: nothing is written any more.
    broken: bool,
}

pub(super) struct Shared {
    socket: UnixStream,
    state: Mutex<State>,
}

impl Shared {
    /// Writes every queued frame, waiting for room if need be (buffers'
    /// releases and `close`). Marks the connection broken on failure.
    fn write_all(&self, state: &mut State) {
        while !state.broken && !state.out.is_empty() {
            match state.out.write_to(self.socket.as_fd()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLOUT)];
                    match poll(&mut fds, PollTimeout::NONE) {
                        Ok(_) | Err(Errno::EINTR) => {}
                        Err(_) => state.broken = true,
                    }
                }
                Err(_) => state.broken = true,
            }
        }
    }
}

impl ReleaseHook for Shared {
    fn release(&self, id: ObjectId) {
        let mut state = lock(&self.state);
        let push_may_come = state.awaits.push_may_come(&id);
        if state.holds.release_unless_pushed(id, push_may_come) == ReleaseDecision::Send {
            let State { encoder, out, .. } = &mut *state;
            encoder.encode_request(&Request::Release { id }, out.frames());
            self.write_all(&mut state);
        }
    }
}

/// The loop side of the push connection.
pub(super) struct PushChannel {
    shared: Arc<Shared>,
    replies: Replies,
}

impl PushChannel {
    /// Opens a second connection to the store at `path` (which must offer
    /// our Await addition) and performs the Connect handshake, blocking.
    pub(super) fn connect(path: &Path) -> Result<Self, ConnectError> {
        let socket = UnixStream::connect(path).map_err(|source| ConnectError::Unavailable {
            path: path.to_path_buf(),
            attempts: 1,
            source,
        })?;
        let io = |op| move |source| ConnectError::Io { op, source };
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io("set handshake timeout"))?;
        let mut replies = Replies::new();
        let mut frame = Vec::new();
        Encoder::new().encode_request(&Request::Connect, &mut frame);
        let mut out = Outgoing::default();
        out.frames().extend_from_slice(&frame);
        out.write_to(socket.as_fd())
            .map_err(|e| ConnectError::from(classify_write_error(e)))?;
        let answer = loop {
            if let Some(answer) = replies.next_answer()? {
                break answer;
            }
            match replies.read_from(socket.as_fd()) {
                Ok(0) => return Err(ConnectError::Disconnected),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(classify_read_error(e).into()),
            }
        };
        if !matches!(answer.reply, Reply::Connect { .. }) {
            return Err(unexpected(MessageType::ConnectReply, &answer.reply).into());
        }
        socket
            .set_nonblocking(true)
            .map_err(io("make the push connection non-blocking"))?;
        Ok(Self {
            shared: Arc::new(Shared {
                socket,
                state: Mutex::new(State {
                    holds: HoldTable::default(),
                    awaits: AwaitTable::default(),
                    out: Outgoing::default(),
                    encoder: Encoder::new(),
                    unawaits_pending: 0,
                    broken: false,
                }),
            }),
            replies,
        })
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.shared.socket.as_fd()
    }

    /// The first waiter of `id` came: register it with the next flush.
    pub(super) fn want(&mut self, id: ObjectId) {
        lock(&self.shared.state).awaits.want(id);
    }

    /// The last waiter of `id` is gone: unregister it with the next flush.
    pub(super) fn unwant(&mut self, id: ObjectId) {
        lock(&self.shared.state).awaits.unwant(id);
    }

    /// Queues this round's Await and Unawait frames and writes what the
    /// socket takes now. `Ok(true)`: bytes are left, call again once the
    /// socket is writable.
    pub(super) fn flush(&mut self) -> Result<bool, CallError> {
        let mut state = lock(&self.shared.state);
        if state.broken {
            return Err(CallError::Disconnected);
        }
        let (awaits, cancels) = state.awaits.take_batches();
        let State {
            encoder,
            out,
            unawaits_pending,
            ..
        } = &mut *state;
        for chunk in awaits.chunks(MAX_IDS_PER_FRAME) {
            encoder.encode_request(
                &Request::Await {
                    ids: chunk.to_vec(),
                },
                out.frames(),
            );
        }
        for chunk in cancels.chunks(MAX_IDS_PER_FRAME) {
            encoder.encode_request(
                &Request::Unawait {
                    ids: chunk.to_vec(),
                },
                out.frames(),
            );
            *unawaits_pending += 1;
        }
        match state.out.write_to(self.shared.socket.as_fd()) {
            Ok(()) => Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(true),
            Err(e) => {
                state.broken = true;
                Err(classify_write_error(e))
            }
        }
    }

    /// Reads what has arrived without waiting and appends each pushed
    /// object to `out`. `Err(Disconnected)` once the store closed the
    /// connection.
    pub(super) fn read(&mut self, out: &mut Vec<ObjectBuffer>) -> Result<(), CallError> {
        let result = self.read_inner(out);
        if result.is_err() {
            lock(&self.shared.state).broken = true;
        }
        result
    }

    fn read_inner(&mut self, out: &mut Vec<ObjectBuffer>) -> Result<(), CallError> {
        for _ in 0..READS_PER_CALL {
            let n = match self.replies.read_from(self.shared.socket.as_fd()) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(classify_read_error(e)),
            };
            if n == 0 {
                return Err(CallError::Disconnected);
            }
            while let Some(answer) = self.replies.next_answer()? {
                match &answer.reply {
                    Reply::ObjectReady { .. } => {
                        let (id, view, data_len) = replies::pushed_view(&answer)?;
                        let mut state = lock(&self.shared.state);
                        if !state.awaits.pushed(id) {
                            return Err(ProtocolError::Mismatch(
                                "pushed an object we did not await",
                            )
                            .into());
                        }
                        // The push's hold is one new holder; a Release
                        // deferred meanwhile is not sent, the hold carries on.
                        state.holds.acquire(id);
                        state.holds.settle(id);
                        drop(state);
                        let hook: Arc<dyn ReleaseHook> = self.shared.clone();
                        out.push(ObjectBuffer::new(id, view, data_len, hook));
                    }
                    Reply::Unawait { removed } => {
                        let mut state = lock(&self.shared.state);
                        if state.unawaits_pending == 0 {
                            return Err(ProtocolError::Unsolicited { bytes: 1, fds: 0 }.into());
                        }
                        state.unawaits_pending -= 1;
                        let mut released = false;
                        for outcome in state.awaits.unawaited(removed) {
                            if let Unawaited::Finished(id) = outcome {
                                if state.holds.settle(id) {
                                    let State { encoder, out, .. } = &mut *state;
                                    encoder.encode_request(&Request::Release { id }, out.frames());
                                    released = true;
                                }
                            }
                        }
                        if released {
                            self.shared.write_all(&mut state);
                        }
                    }
                    other => return Err(unexpected(MessageType::UnawaitReply, other)),
                }
            }
        }
        Ok(())
    }

    /// Ends every registration (best effort; the store also ends them when
    /// the connection closes, which happens once no buffer of it is left).
    pub(super) fn close(&mut self) {
        let mut state = lock(&self.shared.state);
        state.awaits.unwant_all();
        let (_, cancels) = state.awaits.take_batches();
        let State { encoder, out, .. } = &mut *state;
        for chunk in cancels.chunks(MAX_IDS_PER_FRAME) {
            encoder.encode_request(
                &Request::Unawait {
                    ids: chunk.to_vec(),
                },
                out.frames(),
            );
        }
        self.shared.write_all(&mut state);
        // The socket stays open (unread) while buffers of it live: their
        // holds are this connection's.
    }
}
