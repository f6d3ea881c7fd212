//! One socket to the store: framing, fd reception, segment table, holds.
//!
//! Three locks, each held briefly and never across user code:
//! * `exchange` is held from writing a request until its reply (and the fd
//!   messages after it) has been read, so replies pair with requests;
//! * `writer` is held only while one frame is written, so a ReleaseRequest
//!   (which has no reply) never waits for another thread's pending reply;
//! * `holds` guards the hold table (see `holds.rs` for why a Release is
//!   written while it is held).
//!
//! Lock order: `exchange` → `writer`, `holds` → `writer`; `exchange` and
//! `holds` are never held together, and nothing is taken under `writer`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::MsgFlags;
use plasma_protocol::{
    decode_reply, fd, parse_frame, Encoder, ErrorCode, MessageType, ObjectId, ObjectSpec, Reply,
    Request, DEFAULT_MAX_FRAME_LEN,
};

use crate::buffer::{ObjectBuffer, ReleaseHook};
use crate::direct::{Direct, Nudge};
use crate::error::{CallError, ProtocolError};
use crate::holds::{HoldTable, ReleaseDecision};
use crate::lock;
use crate::mapping::{Extent, Mapping, View};
use crate::segments::{FileRegistry, MapError};

/// Smallest free space offered to one `recvmsg`.
const MIN_READ: usize = 64 * 1024;
/// The receive buffer is shrunk back after a reply larger than this.
const KEEP_BUFFER: usize = 1 << 20;

/// State shared by all connections of one `Client`.
#[derive(Debug)]
pub(crate) struct Context {
    /// Segment files mapped by any of the client's connections.
    pub(crate) files: FileRegistry,
    /// Set once a connection saw the store go away; every later call fails
    /// fast with `Disconnected`.
    pub(crate) dead: AtomicBool,
    /// Longest wait for a quick reply (`None`: forever).
    pub(crate) request_timeout: Option<Duration>,
    /// How long a wait for a reply polls before it sleeps.
    pub(crate) spin: Duration,
}

impl Context {
    pub(crate) fn new(request_timeout: Option<Duration>, spin: Duration) -> Self {
        Self {
            files: FileRegistry::default(),
            dead: AtomicBool::new(false),
            request_timeout: request_timeout.filter(|d| !d.is_zero()),
            spin,
        }
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
}

/// How long a request may wait for its reply.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// The store answers at once: `request_timeout`.
    Quick,
    /// A get the store may hold for this long: that plus `request_timeout`.
    For(Duration),
    /// A get without timeout: forever.
    Forever,
}

const OPEN: u8 = 0;
/// The store closed the socket (or the write side broke).
const DISCONNECTED: u8 = 1;
/// Abandoned after a timeout, protocol error or I/O error: the byte stream
/// can no longer be trusted to be in step. Nothing is written to it again;
/// the socket stays open (keeping this connection's holds in the store)
/// until the last buffer using it is gone.
const POISONED: u8 = 2;

struct Writer {
    encoder: Encoder,
    frame: Vec<u8>,
}

struct Exchange {
    encoder: Encoder,
    frame: Vec<u8>,
    inbuf: Vec<u8>,
    filled: usize,
    fds: VecDeque<OwnedFd>,
    /// Segment id -> mapping; never forgotten while the connection lives
    /// (protocol.md §6: the store sends each segment's fd once).
    segments: HashMap<i32, Arc<Mapping>>,
    read_timeout: Option<Duration>,
}

impl Exchange {
    fn consume(&mut self, n: usize) {
        self.inbuf.copy_within(n..self.filled, 0);
        self.filled -= n;
    }
}

/// A decoded reply plus the mappings of the segments it announced.
pub(crate) struct Answer {
    pub(crate) reply: Reply,
    segments: Vec<(i32, Arc<Mapping>)>,
    /// Descriptors that followed the arena's (an AttachReply's directory
    /// and hold table, see [`trailing_fds`]).
    pub(crate) extra_fds: Vec<OwnedFd>,
}

impl Answer {
    /// A reply, the mappings of the segments it announced and the fds that
    /// followed them.
    pub(crate) fn new(
        reply: Reply,
        segments: Vec<(i32, Arc<Mapping>)>,
        extra_fds: Vec<OwnedFd>,
    ) -> Self {
        Self {
            reply,
            segments,
            extra_fds,
        }
    }

    /// The mapping of segment `index`, which the reply must have announced.
    pub(crate) fn segment(&self, index: i32) -> Result<&Arc<Mapping>, ProtocolError> {
        self.segments
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, m)| m)
            .ok_or(ProtocolError::UnknownSegment(index))
    }
}

/// One connection to the store.
pub(crate) struct Connection {
    stream: UnixStream,
    status: AtomicU8,
    writer: Mutex<Writer>,
    exchange: Mutex<Exchange>,
    holds: Mutex<HoldTable>,
    ctx: Arc<Context>,
    /// The `direct` state, once attached (our addition).
    direct: OnceLock<Arc<Direct>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.stream.as_raw_fd())
            .field("status", &self.status.load(Ordering::Relaxed))
            .finish()
    }
}

impl Connection {
    /// Performs the Connect handshake on a fresh socket. Returns the
    /// connection and the store's capacity (`-m`).
    pub(crate) fn handshake(
        stream: UnixStream,
        ctx: &Arc<Context>,
    ) -> Result<(Arc<Self>, u64), CallError> {
        stream
            .set_write_timeout(ctx.request_timeout)
            .map_err(|source| CallError::Io {
                op: "set socket write timeout",
                source,
            })?;
        let conn = Arc::new(Self {
            stream,
            status: AtomicU8::new(OPEN),
            writer: Mutex::new(Writer {
                encoder: Encoder::new(),
                frame: Vec::new(),
            }),
            exchange: Mutex::new(Exchange {
                encoder: Encoder::new(),
                frame: Vec::new(),
                inbuf: Vec::new(),
                filled: 0,
                fds: VecDeque::new(),
                segments: HashMap::new(),
                read_timeout: None,
            }),
            holds: Mutex::new(HoldTable::default()),
            ctx: Arc::clone(ctx),
            direct: OnceLock::new(),
        });
        let answer = conn.request(&Request::Connect, Wait::Quick)?;
        let Reply::Connect { memory_capacity } = answer.reply else {
            return Err(unexpected(MessageType::ConnectReply, &answer.reply));
        };
        let capacity = u64::try_from(memory_capacity)
            .map_err(|_| ProtocolError::OutOfRange("memory capacity"))?;
        Ok((conn, capacity))
    }

    /// Asks the store for the `direct` segments (AttachRequest) and maps
    /// them. `Ok(false)` when the store could not make a hold table; the
    /// caller checked that the store offers `direct`.
    pub(crate) fn attach(&self) -> Result<bool, CallError> {
        let mut answer = self.request(&Request::Attach, Wait::Quick)?;
        let Reply::Attach {
            error, store_fd, ..
        } = answer.reply
        else {
            return Err(unexpected(MessageType::AttachReply, &answer.reply));
        };
        if error != ErrorCode::Ok {
            return Ok(false);
        }
        let arena = Arc::clone(answer.segment(store_fd)?);
        let (Some(holds), Some(directory)) = (answer.extra_fds.pop(), answer.extra_fds.pop())
        else {
            return Err(ProtocolError::MissingFd.into());
        };
        let direct = Direct::new(arena, &directory, &holds).inspect_err(|e| {
            tracing::debug!(error = %e, "direct segments unusable; going on without");
        });
        if let Ok(direct) = direct {
            let _ = self.direct.set(Arc::new(direct));
        }
        Ok(self.direct.get().is_some())
    }

    /// The `direct` state, if this connection is attached.
    pub(crate) fn direct(&self) -> Option<&Arc<Direct>> {
        self.direct.get()
    }

    /// Whether requests can still be sent on this connection.
    pub(crate) fn is_usable(&self) -> bool {
        self.status.load(Ordering::Acquire) == OPEN && !self.ctx.is_dead()
    }

    /// Whether this connection was abandoned (not disconnected) and the
    /// store may still be alive.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.status.load(Ordering::Acquire) == POISONED
    }

    fn check_usable(&self) -> Result<(), CallError> {
        if self.is_usable() {
            Ok(())
        } else {
            Err(CallError::Disconnected)
        }
    }

    /// Records what an error says about the connection's state.
    fn fail(&self, e: &CallError) {
        tracing::debug!(error = %e, fd = self.stream.as_raw_fd(), "giving up store connection");
        if matches!(e, CallError::Disconnected) {
            self.status.store(DISCONNECTED, Ordering::Release);
            self.ctx.dead.store(true, Ordering::Release);
        } else {
            let _ =
                self.status
                    .compare_exchange(OPEN, POISONED, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Sends `req`, reads its reply and the fds of any new segment it
    /// announces, and maps them.
    pub(crate) fn request(&self, req: &Request<'_>, wait: Wait) -> Result<Answer, CallError> {
        self.check_usable()?;
        let mut ex = lock(&self.exchange);
        // Another thread may have failed the connection while we waited.
        self.check_usable()?;
        let result = self.exchange_locked(&mut ex, req, wait);
        // Do not keep the memory of one huge reply or inline create.
        if ex.inbuf.len() > KEEP_BUFFER && ex.filled == 0 {
            ex.inbuf = Vec::new();
        }
        if ex.frame.capacity() > KEEP_BUFFER {
            ex.frame = Vec::new();
            ex.encoder = Encoder::new(); // its builder grew as large
        }
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    fn exchange_locked(
        &self,
        ex: &mut Exchange,
        req: &Request<'_>,
        wait: Wait,
    ) -> Result<Answer, CallError> {
        ex.frame.clear();
        ex.encoder.encode_request(req, &mut ex.frame);
        {
            let _writer = lock(&self.writer);
            send_all(&self.stream, &ex.frame)?;
        }
        self.set_read_timeout(ex, wait)?;
        let reply = self.read_reply(ex)?;
        let expected = MessageType::from_i64(req.message_type().as_i64() + 1)
            .ok_or(ProtocolError::Mismatch("request has no reply"))?;
        if reply.message_type() != expected {
            return Err(unexpected(expected, &reply));
        }
        let segments = self.receive_segments(ex, &reply)?;
        let mut extra_fds = Vec::new();
        for _ in 0..trailing_fds(&reply) {
            extra_fds.push(self.take_fd(ex)?);
        }
        if ex.filled != 0 || !ex.fds.is_empty() {
            return Err(ProtocolError::Unsolicited {
                bytes: ex.filled,
                fds: ex.fds.len(),
            }
            .into());
        }
        Ok(Answer {
            reply,
            segments,
            extra_fds,
        })
    }

    fn set_read_timeout(&self, ex: &mut Exchange, wait: Wait) -> Result<(), CallError> {
        let quick = self.ctx.request_timeout;
        let wanted = match wait {
            Wait::Quick => quick,
            Wait::For(d) => quick.map(|q| q.saturating_add(d)),
            Wait::Forever => None,
        };
        if wanted != ex.read_timeout {
            self.stream
                .set_read_timeout(wanted)
                .map_err(|source| CallError::Io {
                    op: "set socket read timeout",
                    source,
                })?;
            ex.read_timeout = wanted;
        }
        Ok(())
    }

    fn read_reply(&self, ex: &mut Exchange) -> Result<Reply, CallError> {
        loop {
            let parsed = parse_frame(&ex.inbuf[..ex.filled], DEFAULT_MAX_FRAME_LEN)
                .map_err(ProtocolError::from)?;
            if let Some((frame, consumed)) = parsed {
                let reply =
                    decode_reply(frame.msg_type, frame.payload).map_err(ProtocolError::from)?;
                ex.consume(consumed);
                return Ok(reply);
            }
            self.fill(ex)?;
        }
    }

    /// One `recvmsg` into the receive buffer; fds that arrive are queued.
    fn fill(&self, ex: &mut Exchange) -> Result<(), CallError> {
        if ex.inbuf.len() - ex.filled < MIN_READ {
            let new_len = (ex.inbuf.len() * 2).max(ex.filled + MIN_READ);
            ex.inbuf.resize(new_len, 0);
        }
        let mut fds = Vec::new();
        loop {
            let readable = wait_readable(self.stream.as_fd(), ex.read_timeout, self.ctx.spin);
            if !readable.map_err(classify_read_error)? {
                return Err(CallError::Timeout);
            }
            match fd::recv_with_fds(self.stream.as_fd(), &mut ex.inbuf[ex.filled..], &mut fds) {
                Ok(n) => {
                    ex.fds.extend(fds);
                    if n == 0 {
                        return Err(CallError::Disconnected);
                    }
                    ex.filled += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(classify_read_error(e)),
            }
        }
    }

    /// Reads one fd message (1 byte + 1 fd) that follows a reply.
    fn take_fd(&self, ex: &mut Exchange) -> Result<OwnedFd, CallError> {
        loop {
            if ex.filled > 0 {
                let fd = ex.fds.pop_front().ok_or(ProtocolError::MissingFd)?;
                ex.consume(1);
                return Ok(fd);
            }
            self.fill(ex)?;
        }
    }

    /// Maps every segment a Create/Get reply announces, reading the fd of
    /// each one this connection has not seen yet, in announcement order.
    fn receive_segments(
        &self,
        ex: &mut Exchange,
        reply: &Reply,
    ) -> Result<Vec<(i32, Arc<Mapping>)>, CallError> {
        let announced = announced_segments(reply)?;
        let mut segments = Vec::with_capacity(announced.len());
        for (index, mmap_size) in announced {
            let mapping = match ex.segments.get(&index) {
                Some(m) => Arc::clone(m),
                None => {
                    let fd = self.take_fd(ex)?;
                    let m = map_segment(&self.ctx.files, fd, mmap_size)?;
                    ex.segments.insert(index, Arc::clone(&m));
                    m
                }
            };
            segments.push((index, mapping));
        }
        Ok(segments)
    }

    /// Sends `req` (which has no reply) followed by one fd message, as one
    /// unit that no other frame can interleave with.
    pub(crate) fn send_with_fd(
        &self,
        req: &Request<'_>,
        fd: BorrowedFd<'_>,
    ) -> Result<(), CallError> {
        self.check_usable()?;
        let mut w = lock(&self.writer);
        let Writer { encoder, frame } = &mut *w;
        frame.clear();
        encoder.encode_request(req, frame);
        let result = send_all(&self.stream, frame).and_then(|()| loop {
            match fd::send_fd(self.stream.as_fd(), fd) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(classify_write_error(e)),
                Ok(()) => break Ok(()),
            }
        });
        drop(w);
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    /// Counts a new holder of `id` (a successful create).
    pub(crate) fn acquire(&self, id: ObjectId) {
        lock(&self.holds).acquire(id);
    }

    /// Aborts the unsealed object `id` this connection created (best effort:
    /// if the store is gone there is nothing to abort) and forgets its holder.
    pub(crate) fn abort(&self, id: ObjectId) {
        if self.is_usable() {
            let answer = self.request(&Request::Abort { id }, Wait::Quick);
            if let Ok(Answer {
                reply: Reply::Abort { id: got },
                ..
            }) = answer
            {
                if got != id {
                    self.fail(&ProtocolError::WrongObject { expected: id, got }.into());
                }
            }
        }
        lock(&self.holds).forget(id);
    }

    /// Writes a ReleaseRequest. The caller holds the `holds` lock (see
    /// `holds.rs`: the in-flight check and this write must be atomic with
    /// respect to a Get being registered and written).
    fn send_release(&self, id: ObjectId) {
        if !self.is_usable() {
            // Store gone, or connection abandoned: its holds end when the
            // socket closes.
            return;
        }
        let mut w = lock(&self.writer);
        let Writer { encoder, frame } = &mut *w;
        frame.clear();
        encoder.encode_request(&Request::Release { id }, frame);
        let result = send_all(&self.stream, frame);
        drop(w);
        if let Err(e) = &result {
            self.fail(e);
        }
    }

    /// Gets `ids` (duplicates allowed) with the store-side `timeout_ms`.
    pub(crate) fn get(
        self: &Arc<Self>,
        ids: &[ObjectId],
        timeout_ms: i64,
        wait: Wait,
    ) -> Result<Vec<Option<ObjectBuffer>>, CallError> {
        let distinct = distinct(ids);
        // Registered before the Get is written, so a Release of one of these
        // ids that has not been written yet is deferred (holds.rs).
        lock(&self.holds).begin_get(&distinct);
        let located = self
            .request(
                &Request::Get {
                    ids: ids.to_vec(),
                    timeout_ms,
                },
                wait,
            )
            .and_then(|answer| locate(ids, &answer).map_err(CallError::from));
        let found: Vec<ObjectId> = match &located {
            Ok(views) => {
                let mut seen = HashSet::new();
                ids.iter()
                    .zip(views)
                    .filter(|(id, v)| v.is_some() && seen.insert(**id))
                    .map(|(id, _)| *id)
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        {
            // Each found id gets exactly one new holder (the buffer built
            // below); deferred releases of ids the reply did not return are
            // sent now.
            let mut holds = lock(&self.holds);
            for id in holds.finish_get(&distinct, &found) {
                self.send_release(id);
            }
        }
        let views = located?;
        let hook: Arc<dyn ReleaseHook> = self.clone();
        let mut made: HashMap<ObjectId, ObjectBuffer> = HashMap::new();
        Ok(ids
            .iter()
            .zip(views)
            .map(|(id, view)| {
                let (view, data_len) = view?;
                Some(
                    made.entry(*id)
                        .or_insert_with(|| ObjectBuffer::new(*id, view, data_len, hook.clone()))
                        .clone(),
                )
            })
            .collect())
    }
}

impl Nudge for Connection {
    fn nudge(&self) {
        if !self.is_usable() {
            return;
        }
        let mut w = lock(&self.writer);
        let Writer { encoder, frame } = &mut *w;
        frame.clear();
        encoder.encode_request(&Request::HoldsChanged, frame);
        let result = send_all(&self.stream, frame);
        drop(w);
        if let Err(e) = &result {
            self.fail(e);
        }
    }
}

impl ReleaseHook for Connection {
    fn release(&self, id: ObjectId) {
        let mut holds = lock(&self.holds);
        if holds.release(id) == ReleaseDecision::Send {
            // Written under the holds lock: see holds.rs.
            self.send_release(id);
        }
    }
}

/// Descriptors that follow a reply after those of the segments it
/// announces: the directory and the hold table after a successful
/// AttachReply (our `direct` addition).
pub(crate) fn trailing_fds(reply: &Reply) -> usize {
    match reply {
        Reply::Attach {
            error: ErrorCode::Ok,
            ..
        } => 2,
        _ => 0,
    }
}

/// The `(segment index, mmap_size)` pairs a reply announces: the segment of
/// a created, put or pushed object, the arena of an attach, or the segments
/// of a get's found objects, in the order their fds (for those new to the
/// connection) follow the reply (§6).
pub(crate) fn announced_segments(reply: &Reply) -> Result<Vec<(i32, i64)>, ProtocolError> {
    Ok(match reply {
        Reply::Put {
            error: ErrorCode::Ok,
            object,
            store_fd,
            mmap_size,
            ..
        } if object.device_num == 0 => vec![(*store_fd, *mmap_size)],
        Reply::Attach {
            error: ErrorCode::Ok,
            store_fd,
            mmap_size,
        } => vec![(*store_fd, *mmap_size)],
        Reply::Create {
            error: ErrorCode::Ok,
            object,
            store_fd,
            mmap_size,
            ..
        } if object.device_num == 0 => vec![(*store_fd, *mmap_size)],
        Reply::ObjectReady {
            object,
            store_fd,
            mmap_size,
            ..
        } if object.device_num == 0 => vec![(*store_fd, *mmap_size)],
        Reply::Get {
            store_fds,
            mmap_sizes,
            ..
        } => {
            if store_fds.len() != mmap_sizes.len() {
                return Err(ProtocolError::Mismatch(
                    "store_fds and mmap_sizes differ in length",
                ));
            }
            store_fds
                .iter()
                .copied()
                .zip(mmap_sizes.iter().copied())
                .collect()
        }
        _ => Vec::new(),
    })
}

/// Maps a segment fd received from the store (closing it).
pub(crate) fn map_segment(
    files: &FileRegistry,
    fd: OwnedFd,
    mmap_size: i64,
) -> Result<Arc<Mapping>, CallError> {
    files.map(fd, mmap_size).map_err(|e| match e {
        MapError::Io(source) => CallError::Io {
            op: "map store segment",
            source,
        },
        other => ProtocolError::Map(other).into(),
    })
}

/// The ids of a request, each once, in first-appearance order.
pub(crate) fn distinct(ids: &[ObjectId]) -> Vec<ObjectId> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// Checks a GetReply against its request and makes a view per found entry
/// (data and metadata, plus the data length). Counts no holders.
pub(crate) fn locate(
    ids: &[ObjectId],
    answer: &Answer,
) -> Result<Vec<Option<(View, usize)>>, ProtocolError> {
    let Reply::Get {
        ids: got, objects, ..
    } = &answer.reply
    else {
        return Err(ProtocolError::Mismatch("not a get reply"));
    };
    if got.as_slice() != ids || objects.len() != ids.len() {
        return Err(ProtocolError::Mismatch(
            "get reply lists other objects than requested",
        ));
    }
    objects
        .iter()
        .map(|spec| {
            if !spec.is_available() {
                return Ok(None);
            }
            let (extent, data_len) = object_extent(spec)?;
            Ok(Some((
                answer.segment(spec.segment_index)?.view(extent)?,
                data_len,
            )))
        })
        .collect()
}

/// The extent of an object (data then metadata) and its data length.
pub(crate) fn object_extent(spec: &ObjectSpec) -> Result<(Extent, usize), ProtocolError> {
    if spec.device_num != 0 {
        return Err(ProtocolError::Mismatch("object lives in device memory"));
    }
    let len = spec
        .data_size
        .checked_add(spec.metadata_size)
        .ok_or(ProtocolError::OutOfRange("object size"))?;
    let data_len =
        usize::try_from(spec.data_size).map_err(|_| ProtocolError::OutOfRange("data size"))?;
    Ok((
        Extent {
            offset: spec.data_offset,
            len,
        },
        data_len,
    ))
}

/// The error for a reply of the wrong type.
pub(crate) fn unexpected(expected: MessageType, got: &Reply) -> CallError {
    ProtocolError::UnexpectedReply {
        expected,
        got: got.message_type(),
    }
    .into()
}

/// Writes all of `bytes` with `MSG_NOSIGNAL` (the host program may not
/// ignore SIGPIPE; a dead store must give EPIPE, not kill us).
fn send_all(stream: &UnixStream, bytes: &[u8]) -> Result<(), CallError> {
    let mut sent = 0;
    while sent < bytes.len() {
        match nix::sys::socket::send(stream.as_raw_fd(), &bytes[sent..], MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => sent += n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(classify_write_error(e.into())),
        }
    }
    Ok(())
}

pub(crate) fn classify_write_error(e: std::io::Error) -> CallError {
    use std::io::ErrorKind::*;
    match e.kind() {
        BrokenPipe | ConnectionReset | NotConnected | ConnectionAborted => CallError::Disconnected,
        WouldBlock | TimedOut => CallError::Timeout,
        _ => CallError::Io {
            op: "send to store",
            source: e,
        },
    }
}

/// Sleeps until `sock` has something to read (bytes, end of stream or an
/// error); `false` when `timeout` passed first. Polls without sleeping for
/// up to `spin` first: a reply that comes within it costs no wake-up.
///
/// The wait is in `poll(POLLIN)`, never in a blocking `recv`: when the store
/// reads a request, the kernel signals write space on the sender's socket,
/// which wakes a thread blocked in `recv` on it for nothing (a cross-CPU
/// wake-up per request on a virtual machine); `poll` sleeps through it.
fn wait_readable(
    sock: BorrowedFd<'_>,
    timeout: Option<Duration>,
    spin: Duration,
) -> std::io::Result<bool> {
    if !spin.is_zero() {
        let start = std::time::Instant::now();
        loop {
            let mut fds = [PollFd::new(sock, PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::ZERO) {
                Ok(0) | Err(Errno::EINTR) => {}
                Ok(_) => return Ok(true),
                Err(e) => return Err(e.into()),
            }
            if start.elapsed() >= spin {
                break;
            }
            std::hint::spin_loop();
        }
    }
    // Whole milliseconds, rounded up so that a short wait is never "don't wait".
    let timeout = match timeout {
        None => PollTimeout::NONE,
        Some(d) => u64::try_from(d.as_nanos().div_ceil(1_000_000))
            .ok()
            .and_then(|ms| PollTimeout::try_from(ms).ok())
            .unwrap_or(PollTimeout::MAX),
    };
    loop {
        let mut fds = [PollFd::new(sock, PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) fn classify_read_error(e: std::io::Error) -> CallError {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | NotConnected | ConnectionAborted | BrokenPipe => CallError::Disconnected,
        WouldBlock | TimedOut => CallError::Timeout,
        _ => CallError::Io {
            op: "receive from store",
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keeps_first_appearance_order() {
        let a = ObjectId::from_bytes([1; 20]);
        let b = ObjectId::from_bytes([2; 20]);
        assert_eq!(distinct(&[b, a, b, a]), vec![b, a]);
    }

    #[test]
    fn object_extent_covers_data_and_metadata() {
        let spec = ObjectSpec {
            segment_index: 1,
            data_offset: 64,
            data_size: 10,
            metadata_offset: 74,
            metadata_size: 3,
            device_num: 0,
        };
        let (extent, data_len) = object_extent(&spec).unwrap();
        assert_eq!(
            extent,
            Extent {
                offset: 64,
                len: 13
            }
        );
        assert_eq!(data_len, 10);
        let huge = ObjectSpec {
            data_size: u64::MAX - 1,
            metadata_size: 2,
            ..spec
        };
        assert!(object_extent(&huge).is_err());
        let device = ObjectSpec {
            device_num: 1,
            ..spec
        };
        assert!(object_extent(&device).is_err());
    }

    #[test]
    fn write_errors_of_a_dead_peer_mean_disconnected() {
        for errno in [Errno::EPIPE, Errno::ECONNRESET] {
            assert!(matches!(
                classify_write_error(errno.into()),
                CallError::Disconnected
            ));
        }
        assert!(matches!(
            classify_read_error(Errno::EAGAIN.into()),
            CallError::Timeout
        ));
        assert!(matches!(
            classify_read_error(Errno::EBADF.into()),
            CallError::Io { .. }
        ));
    }
}
