//! The driver: the one task of an [`AsyncClient`](crate::AsyncClient) that
//! owns its sockets (the request connection and, once set up, the
//! notification channel), the hold table and the router.
//!
//! Everything that touches the store is a message to this task, handled in
//! arrival order, so a Release is always written after every request that
//! was sent before the buffer was dropped and before every request sent
//! after (one connection, one order). Requests are pipelined: the driver
//! writes them as they come and matches replies to them in order.
//!
//! A round does, without waiting: take queued commands, read replies, read
//! notifications, send one batched timeout-0 Get for every awaited id that
//! was registered or notified since the last round, write. When a round
//! finds nothing to do the task waits for a command or socket readiness,
//! after busy-polling for `spin` if configured (see `AsyncClientOptions`).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use plasma_protocol::{Encoder, ErrorCode, ObjectId, Reply, Request};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{UnboundedReceiver, WeakUnboundedSender};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::awaits::{AwaitTable, Unawaited};
use super::builder::AsyncObjectBuilder;
use super::command::{Command, Expect, ReplyTo};
use super::link::Link;
use super::router::{deliver, Router};
use super::socket::Socket;
use super::subscribe::{subscribe, Channel};
use super::wire::{Notifications, Outgoing, Replies};
use super::AsyncStats;
use crate::buffer::ReleaseHook;
use crate::connection::{
    classify_read_error, classify_write_error, distinct, locate, unexpected, Answer,
};
use crate::error::{AsFutureError, CallError, CreateError, ProtocolError, SealError};
use crate::holds::{HoldTable, ReleaseDecision};
use crate::{replies, ObjectBuffer};

/// Commands taken per round before the sockets get their turn.
const COMMANDS_PER_ROUND: usize = 4096;
/// Reads per socket per round.
const READS_PER_ROUND: usize = 8;
/// Largest number of ids in one router Get (keeps frames moderate).
const MAX_IDS_PER_GET: usize = 8192;
/// Busy rounds in a row before the task yields to others on its thread.
const ROUNDS_BEFORE_YIELD: u32 = 16;

/// State of the notification channel.
enum ChannelState {
    Off,
    /// `subscribe` runs in its own task; `done` delivers its result.
    Starting {
        task: JoinHandle<()>,
        done: oneshot::Receiver<Result<Channel, CallError>>,
        waiters: Vec<ReplyTo<Result<(), AsFutureError>>>,
    },
    Live {
        channel: Channel,
        notes: Notifications,
    },
}

/// What ended a wait for work.
enum Wake {
    Command(Option<Command>),
    Request(io::Result<()>),
    Notifications,
    Setup(Result<Result<Channel, CallError>, oneshot::error::RecvError>),
}

/// The task's state. See the module doc.
pub(crate) struct Driver {
    commands: UnboundedReceiver<Command>,
    /// To give builders and buffers a sender without keeping the channel
    /// open ourselves: the task ends when no handle, buffer, builder or
    /// future is left.
    weak: WeakUnboundedSender<Command>,
    /// The link of the buffers and builders handed out, while any lives.
    link: Weak<Link>,
    path: PathBuf,
    spin: Duration,
    stream: Socket,
    replies: Replies,
    out: Outgoing,
    encoder: Encoder,
    expects: VecDeque<Expect>,
    /// Holds counted per id; begin/finish only around callers' gets (see
    /// `send_release` for the router's fetches).
    holds: HoldTable,
    /// Release and router-fetch frames written so far.
    seq: u64,
    /// Id → router fetches of it in flight.
    fetching: HashMap<ObjectId, u32>,
    /// Id → `seq` of the last Release of it written while a fetch of it
    /// was in flight.
    released_at: HashMap<ObjectId, u64>,
    router: Router,
    /// The store serves our Await: futures wait for pushes, not for
    /// notifications (the channel stays off).
    pushes: bool,
    awaits: AwaitTable,
    channel: ChannelState,
    /// Ids to fetch in this round's router Get (deduplicated when sent).
    fetch: Vec<ObjectId>,
    /// A task was woken (reply sent, future resolved) in this round.
    woke: bool,
    stats: AsyncStats,
    /// Every sender is gone.
    closed: bool,
    /// Busy-polling: read sockets even when tokio has seen no readiness.
    polling: bool,
}

impl Driver {
    pub(crate) fn new(
        stream: Socket,
        commands: UnboundedReceiver<Command>,
        weak: WeakUnboundedSender<Command>,
        path: PathBuf,
        spin: Duration,
    ) -> Self {
        Self {
            commands,
            weak,
            link: Weak::new(),
            path,
            spin,
            stream,
            replies: Replies::new(),
            out: Outgoing::default(),
            encoder: Encoder::new(),
            expects: VecDeque::new(),
            holds: HoldTable::default(),
            seq: 0,
            fetching: HashMap::new(),
            released_at: HashMap::new(),
            router: Router::default(),
            pushes: false,
            awaits: AwaitTable::default(),
            channel: ChannelState::Off,
            fetch: Vec::new(),
            woke: false,
            stats: AsyncStats::default(),
            closed: false,
            polling: false,
        }
    }

    /// Runs until every handle is gone or the connection fails; on failure
    /// every pending request and future gets the error, every later call
    /// fails at once (the commands channel is closed), and nothing more is
    /// written. The socket then stays open for as long as a buffer or
    /// builder holds its [`Link`].
    pub(crate) async fn run(mut self) {
        if let Err(e) = self.serve().await {
            tracing::debug!(error = %e, "async client connection failed");
            self.fail_everything(e);
        }
    }

    async fn serve(&mut self) -> Result<(), CallError> {
        let mut last_work = Instant::now();
        let mut busy_rounds = 0u32;
        loop {
            let progressed = self.round()?;
            if self.closed {
                return Ok(());
            }
            if progressed {
                busy_rounds += 1;
                if std::mem::take(&mut self.woke) || busy_rounds >= ROUNDS_BEFORE_YIELD {
                    busy_rounds = 0;
                    // Let the tasks just woken run (on a current-thread
                    // runtime, or this worker's LIFO slot) before going on.
                    tokio::task::yield_now().await;
                }
                if !self.spin.is_zero() {
                    last_work = Instant::now();
                }
                continue;
            }
            if !self.spin.is_zero() && last_work.elapsed() < self.spin {
                self.polling = true;
                tokio::task::yield_now().await;
                continue;
            }
            self.polling = false;
            self.park().await?;
        }
    }

    /// One pass over everything that can be done without waiting. Returns
    /// whether anything happened.
    fn round(&mut self) -> Result<bool, CallError> {
        let mut progressed = false;
        for _ in 0..COMMANDS_PER_ROUND {
            match self.commands.try_recv() {
                Ok(cmd) => {
                    self.handle(cmd);
                    progressed = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.closed = true;
                    return Ok(true);
                }
            }
        }
        let setup = match &mut self.channel {
            ChannelState::Starting { done, .. } => match done.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => None,
                Ok(result) => Some(Ok(result)),
                Err(oneshot::error::TryRecvError::Closed) => Some(Err(CallError::Disconnected)),
            },
            _ => None,
        };
        if let Some(setup) = setup {
            self.on_setup(setup);
            progressed = true;
        }
        progressed |= self.read_replies()?;
        progressed |= self.read_notifications();
        self.send_fetches();
        self.send_awaits();
        self.flush()?;
        Ok(progressed)
    }

    /// Waits for a command, request-socket readiness (read, or write while
    /// bytes are queued), notification readiness or the channel setup.
    async fn park(&mut self) -> Result<(), CallError> {
        let wake = tokio::select! {
            biased;
            cmd = self.commands.recv() => Wake::Command(cmd),
            ready = self.stream.readable() => Wake::Request(ready),
            ready = self.stream.writable() => Wake::Request(ready),
            wake = channel_event(&mut self.channel) => wake,
        };
        match wake {
            Wake::Command(Some(cmd)) => self.handle(cmd),
            Wake::Command(None) => self.closed = true,
            Wake::Request(result) => result.map_err(classify_read_error)?,
            Wake::Notifications => {}
            Wake::Setup(Ok(result)) => self.on_setup(Ok(result)),
            Wake::Setup(Err(_)) => self.on_setup(Err(CallError::Disconnected)),
        }
        Ok(())
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Call {
                frame,
                expected,
                reply,
            } => {
                self.out.frames().extend_from_slice(&frame);
                self.expects.push_back(Expect::Reply { expected, reply });
            }
            Command::Create {
                id,
                data_size,
                metadata,
                digest,
                reply,
            } => {
                self.encode(&Request::Create {
                    id,
                    evict_if_full: true,
                    data_size,
                    metadata_size: metadata.len() as u64,
                    device_num: 0,
                });
                self.expects.push_back(Expect::Create {
                    id,
                    data_size,
                    metadata,
                    digest,
                    reply,
                });
            }
            Command::Seal {
                id,
                digest,
                view,
                data_len,
                reply,
            } => {
                self.encode(&Request::Seal { id, digest });
                self.expects.push_back(Expect::Seal {
                    id,
                    view,
                    data_len,
                    reply,
                });
            }
            Command::Get { ids, reply } => {
                if ids.is_empty() {
                    let _ = reply.send(Ok(Vec::new()));
                } else {
                    self.send_get(ids, reply);
                }
            }
            Command::Release(id) => {
                // Deferred while the store may push the id with this hold.
                let push_may_come = self.awaits.push_may_come(&id);
                if self.holds.release_unless_pushed(id, push_may_come) == ReleaseDecision::Send {
                    self.send_release(id);
                }
            }
            Command::Abort(id) => self.send_abort(id),
            Command::Register(id, waiter) => {
                // The waiter is in the table before we ask the store whether
                // the object is sealed already (register-before-check): a
                // seal handled after that check is notified to us and finds
                // the waiter; one handled before it is in the check's reply.
                if self.router.register(id, waiter) {
                    if self.pushes {
                        // Checking and registering is one step in the store.
                        self.awaits.want(id);
                        return;
                    }
                    match self.channel {
                        ChannelState::Live { .. } => self.want_fetch(id),
                        ChannelState::Off => self.start_channel(),
                        // Every awaited id is checked once the channel is up.
                        ChannelState::Starting { .. } => {}
                    }
                }
            }
            Command::Cancel(id) => {
                self.router.cancel(id);
                if self.pushes && !self.router.wants(&id) {
                    self.awaits.unwant(id);
                }
            }
            Command::Init(reply) if self.pushes => {
                let _ = reply.send(Ok(()));
            }
            Command::Init(reply) => match &mut self.channel {
                ChannelState::Live { .. } => {
                    let _ = reply.send(Ok(()));
                }
                ChannelState::Starting { waiters, .. } => waiters.push(reply),
                ChannelState::Off => {
                    self.start_channel();
                    if let ChannelState::Starting { waiters, .. } = &mut self.channel {
                        waiters.push(reply);
                    }
                }
            },
            Command::Shutdown(reply) => {
                self.stop_channel(&AsFutureError::Shutdown);
                let _ = reply.send(());
            }
            Command::Stats(reply) => {
                self.stats.waiting_objects = self.router.len();
                let _ = reply.send(self.stats);
            }
            Command::UsePushes => self.pushes = true,
        }
    }

    /// This round's Await and Unawait batches (in that order: an id
    /// awaited and cancelled within one round is registered, then removed).
    fn send_awaits(&mut self) {
        let (awaits, cancels) = self.awaits.take_batches();
        for chunk in awaits.chunks(MAX_IDS_PER_GET) {
            self.stats.awaited_ids += chunk.len() as u64;
            self.encode(&Request::Await {
                ids: chunk.to_vec(),
            });
        }
        for chunk in cancels.chunks(MAX_IDS_PER_GET) {
            self.encode(&Request::Unawait {
                ids: chunk.to_vec(),
            });
            self.expects.push_back(Expect::Unawait);
        }
    }

    /// The store pushed an awaited object with a hold for us: it resolves
    /// the futures waiting for it.
    fn on_pushed(&mut self, answer: &Answer) -> Result<(), CallError> {
        let (id, view, data_len) = replies::pushed_view(answer)?;
        if !self.awaits.pushed(id) {
            return Err(ProtocolError::Mismatch("pushed an object we did not await").into());
        }
        self.stats.pushed += 1;
        // The push's hold is one new holder: a Release deferred meanwhile
        // is not sent (settle), the hold carries on.
        self.holds.acquire(id);
        self.holds.settle(id);
        let waiters = self.router.take(&id);
        match self.hook() {
            Some(hook) if !waiters.is_empty() => {
                // Handed over whole: the driver keeps no clone (`on_got`).
                deliver(waiters, ObjectBuffer::new(id, view, data_len, hook));
            }
            _ => {
                if self.holds.release(id) == ReleaseDecision::Send {
                    self.send_release(id);
                }
            }
        }
        self.woke = true;
        Ok(())
    }

    /// An Unawait reply: registrations it removed are over, or awaited
    /// again if a future wants them since.
    fn on_unawaited(&mut self, removed: &[ObjectId]) {
        for outcome in self.awaits.unawaited(removed) {
            if let Unawaited::Finished(id) = outcome {
                if self.holds.settle(id) {
                    self.send_release(id);
                }
            }
        }
    }

    fn encode(&mut self, req: &Request<'_>) {
        self.encoder.encode_request(req, self.out.frames());
    }

    /// A caller's timeout-0 Get.
    fn send_get(
        &mut self,
        ids: Vec<ObjectId>,
        reply: ReplyTo<Result<Vec<Option<ObjectBuffer>>, CallError>>,
    ) {
        let distinct = distinct(&ids);
        // A Release of these ids queued from now on waits for the reply
        // (holds.rs): the store may answer this Get from the hold it drops.
        self.holds.begin_get(&distinct);
        self.encode(&Request::Get {
            ids: ids.clone(),
            timeout_ms: 0,
        });
        self.expects.push_back(Expect::Get {
            ids,
            distinct,
            reply,
        });
    }

    /// The router's timeout-0 Get of `ids` (distinct).
    ///
    /// Unlike a caller's get it never delays a Release (a caller who drops
    /// its last buffer and then deletes the object must find it released,
    /// whatever the router has in flight). Instead, a fetch written before
    /// a Release of the same id is not trusted for that id: the store may
    /// have answered it from the hold the Release drops, so no buffer is
    /// made from it, and the id is fetched again if still awaited.
    fn send_fetch(&mut self, ids: Vec<ObjectId>) {
        self.seq += 1;
        for id in &ids {
            *self.fetching.entry(*id).or_insert(0) += 1;
        }
        self.stats.router_gets += 1;
        self.stats.router_ids += ids.len() as u64;
        self.encode(&Request::Get {
            ids: ids.clone(),
            timeout_ms: 0,
        });
        self.expects.push_back(Expect::Fetch { ids, seq: self.seq });
    }

    fn send_release(&mut self, id: ObjectId) {
        self.seq += 1;
        if self.fetching.contains_key(&id) {
            self.released_at.insert(id, self.seq);
        }
        self.encode(&Request::Release { id });
    }

    fn send_abort(&mut self, id: ObjectId) {
        self.encode(&Request::Abort { id });
        self.expects.push_back(Expect::Abort { id });
    }

    fn want_fetch(&mut self, id: ObjectId) {
        self.fetch.push(id);
    }

    /// One batched timeout-0 Get for every id registered or notified since
    /// the last round that still has a waiting future.
    fn send_fetches(&mut self) {
        if self.fetch.is_empty() || !matches!(self.channel, ChannelState::Live { .. }) {
            return;
        }
        // Taken, not cleared: the next round starts with no capacity kept.
        let mut ids = std::mem::take(&mut self.fetch);
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| self.router.wants(id));
        for chunk in ids.chunks(MAX_IDS_PER_GET) {
            self.send_fetch(chunk.to_vec());
        }
    }

    fn start_channel(&mut self) {
        let path = self.path.clone();
        let (tx, done) = oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = tx.send(subscribe(&path).await);
        });
        self.channel = ChannelState::Starting {
            task,
            done,
            waiters: Vec::new(),
        };
    }

    /// Fails every waiting future and closes (or stops setting up) the
    /// notification channel.
    fn stop_channel(&mut self, err: &AsFutureError) {
        self.router.fail_all(err);
        self.awaits.unwant_all();
        self.fetch = Vec::new();
        if let ChannelState::Starting { task, waiters, .. } =
            std::mem::replace(&mut self.channel, ChannelState::Off)
        {
            task.abort();
            for w in waiters {
                let _ = w.send(Err(err.clone()));
            }
        }
        self.woke = true;
    }

    fn on_setup(&mut self, result: Result<Result<Channel, CallError>, CallError>) {
        let ChannelState::Starting { waiters, .. } =
            std::mem::replace(&mut self.channel, ChannelState::Off)
        else {
            return;
        };
        match result.and_then(|r| r) {
            Ok(channel) => {
                self.channel = ChannelState::Live {
                    channel,
                    notes: Notifications::default(),
                };
                let ids: Vec<ObjectId> = self.router.ids().collect();
                for id in ids {
                    self.want_fetch(id);
                }
                for w in waiters {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                let err = AsFutureError::from(e);
                self.router.fail_all(&err);
                for w in waiters {
                    let _ = w.send(Err(err.clone()));
                }
            }
        }
        self.woke = true;
    }

    /// The store closed our notification channel (or sent garbage on it)
    /// while the request connection lives: set it up again, and check every
    /// awaited id again once it is up.
    fn channel_lost(&mut self) {
        self.channel = ChannelState::Off;
        if !self.router.is_empty() {
            self.start_channel();
        }
    }

    fn read_replies(&mut self) -> Result<bool, CallError> {
        let mut progressed = false;
        for _ in 0..READS_PER_ROUND {
            let replies = &mut self.replies;
            let n = self
                .stream
                .try_read(self.polling, |fd| replies.read_from(fd));
            match n {
                Ok(0) => return Err(CallError::Disconnected),
                Ok(_) => {
                    progressed = true;
                    while let Some(answer) = self.replies.next_answer()? {
                        self.on_answer(answer)?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(classify_read_error(e)),
            }
        }
        Ok(progressed)
    }

    fn read_notifications(&mut self) -> bool {
        let ChannelState::Live { channel, notes } = &mut self.channel else {
            return false;
        };
        let mut progressed = false;
        let mut lost = false;
        for _ in 0..READS_PER_ROUND {
            match channel
                .socket
                .try_read(self.polling, |fd| notes.read_from(fd))
            {
                Ok(0) => {
                    lost = true;
                    break;
                }
                Ok(_) => progressed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "reading notifications failed");
                    lost = true;
                    break;
                }
            }
        }
        let router = &self.router;
        let fetch = &mut self.fetch;
        let drained = notes.drain(|info| {
            if !info.is_deletion && router.wants(&info.object_id) {
                fetch.push(info.object_id);
            }
        });
        if let Err(e) = drained {
            tracing::debug!(error = %e, "undecodable notification");
            lost = true;
        }
        if lost {
            self.channel_lost();
            progressed = true;
        }
        progressed
    }

    fn flush(&mut self) -> Result<(), CallError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = &mut self.out;
        match self.stream.try_write(|fd| out.write_to(fd)) {
            Ok(()) => {
                if self.out.is_empty() {
                    self.stream.drained();
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(classify_write_error(e)),
        }
    }

    /// The link for new buffers and builders; `None` once no sender is left
    /// (no one could use a view then).
    fn link(&mut self) -> Option<Arc<Link>> {
        if let Some(link) = self.link.upgrade() {
            return Some(link);
        }
        let link = Arc::new(Link::new(self.weak.upgrade()?, self.stream.tether()));
        self.link = Arc::downgrade(&link);
        Some(link)
    }

    /// The release hook for new buffers (their [`Link`]).
    fn hook(&mut self) -> Option<Arc<dyn ReleaseHook>> {
        self.link().map(|link| link as Arc<dyn ReleaseHook>)
    }

    fn on_answer(&mut self, answer: Answer) -> Result<(), CallError> {
        if matches!(answer.reply, Reply::ObjectReady { .. }) {
            // Unsolicited: not the answer to any request.
            return self.on_pushed(&answer);
        }
        let expect = self
            .expects
            .pop_front()
            .ok_or(ProtocolError::Unsolicited { bytes: 1, fds: 0 })?;
        let expected = expect.expected();
        if answer.reply.message_type() != expected {
            expect.fail(unexpected(expected, &answer.reply));
            return Err(unexpected(expected, &answer.reply));
        }
        self.woke = true;
        match expect {
            Expect::Reply { reply, .. } => {
                let _ = reply.send(Ok(answer.reply));
            }
            Expect::Create {
                id,
                data_size,
                metadata,
                digest,
                reply,
            } => self.on_created(&answer, id, data_size, &metadata, digest, reply),
            Expect::Seal {
                id,
                view,
                data_len,
                reply,
            } => {
                let Reply::Seal { id: got, error } = answer.reply else {
                    return Err(ProtocolError::Mismatch("not a seal reply").into());
                };
                if got != id {
                    let err = ProtocolError::WrongObject { expected: id, got };
                    let _ = reply.send(Err(SealError::Protocol(ProtocolError::WrongObject {
                        expected: id,
                        got,
                    })));
                    return Err(err.into());
                }
                if error != ErrorCode::Ok {
                    self.send_abort(id);
                    let _ = reply.send(Err(SealError::Protocol(ProtocolError::UnexpectedCode(
                        error,
                    ))));
                } else if let Some(hook) = self.hook() {
                    // The creator's hold now belongs to the buffer.
                    let buf = ObjectBuffer::new(id, view.into_view(), data_len, hook);
                    let _ = reply.send(Ok(buf));
                }
            }
            Expect::Get {
                ids,
                distinct,
                reply,
            } => self.on_got(&answer, &ids, &distinct, reply)?,
            Expect::Fetch { ids, seq } => self.on_fetched(&answer, &ids, seq)?,
            Expect::Abort { id } => {
                let Reply::Abort { id: got } = answer.reply else {
                    return Err(ProtocolError::Mismatch("not an abort reply").into());
                };
                if got != id {
                    return Err(ProtocolError::WrongObject { expected: id, got }.into());
                }
                self.holds.forget(id);
            }
            Expect::Unawait => {
                let Reply::Unawait { removed } = answer.reply else {
                    return Err(ProtocolError::Mismatch("not an unawait reply").into());
                };
                self.on_unawaited(&removed);
            }
        }
        Ok(())
    }

    fn on_created(
        &mut self,
        answer: &Answer,
        id: ObjectId,
        data_size: u64,
        metadata: &[u8],
        digest: bool,
        reply: ReplyTo<Result<AsyncObjectBuilder, CreateError>>,
    ) {
        if let Err(e) = replies::create_verdict(&answer.reply) {
            let _ = reply.send(Err(e));
            return;
        }
        match replies::created_view(id, data_size, metadata.len() as u64, answer) {
            Ok((view, data_len)) => match self.link() {
                Some(link) => {
                    self.holds.acquire(id);
                    // If the caller is gone, the builder is dropped here and
                    // aborts the object.
                    let builder =
                        AsyncObjectBuilder::new(id, view, data_len, metadata, digest, link);
                    let _ = reply.send(Ok(builder));
                }
                None => self.send_abort(id),
            },
            Err(e) => {
                self.send_abort(id);
                let _ = reply.send(Err(e));
            }
        }
    }

    fn on_got(
        &mut self,
        answer: &Answer,
        ids: &[ObjectId],
        distinct: &[ObjectId],
        reply: ReplyTo<Result<Vec<Option<ObjectBuffer>>, CallError>>,
    ) -> Result<(), CallError> {
        let views = locate(ids, answer)?;
        let hook = self.hook();
        let mut made: HashMap<ObjectId, ObjectBuffer> = HashMap::new();
        let mut found = Vec::new();
        let mut out: Vec<Option<ObjectBuffer>> = Vec::with_capacity(ids.len());
        for (id, view) in ids.iter().zip(views) {
            let buf = match (view, &hook) {
                (Some((view, data_len)), Some(hook)) => Some(
                    made.entry(*id)
                        .or_insert_with(|| {
                            found.push(*id);
                            ObjectBuffer::new(*id, view, data_len, Arc::clone(hook))
                        })
                        .clone(),
                ),
                _ => None,
            };
            out.push(buf);
        }
        // The driver must not keep a clone of a buffer it hands out: the
        // receiver's drop of its last clone has to be the one that queues
        // the Release, or the Release could follow the receiver's next
        // request instead of preceding it.
        drop(made);
        // Each found id got exactly one new holder (its buffer above).
        let awaits = &self.awaits;
        let deferred = self
            .holds
            .finish_get_unless_pushed(distinct, &found, |id| awaits.push_may_come(id));
        for id in deferred {
            self.send_release(id);
        }
        let _ = reply.send(Ok(out));
        Ok(())
    }

    /// A router fetch came back (see `send_fetch`): every trusted object
    /// found resolves its waiting futures.
    fn on_fetched(&mut self, answer: &Answer, ids: &[ObjectId], seq: u64) -> Result<(), CallError> {
        let views = locate(ids, answer)?;
        let hook = self.hook();
        for (id, view) in ids.iter().zip(views) {
            let trusted = !matches!(self.released_at.get(id), Some(at) if *at > seq);
            match self.fetching.get_mut(id) {
                Some(n) if *n > 1 => *n -= 1,
                _ => {
                    self.fetching.remove(id);
                    self.released_at.remove(id);
                }
            }
            let Some((view, data_len)) = view else {
                continue;
            };
            if !trusted {
                if self.router.wants(id) {
                    self.want_fetch(*id);
                }
                continue;
            }
            self.holds.acquire(*id);
            let waiters = self.router.take(id);
            match &hook {
                Some(hook) if !waiters.is_empty() => {
                    let buf = ObjectBuffer::new(*id, view, data_len, Arc::clone(hook));
                    // Handed over whole: the driver keeps no clone (see
                    // `on_got`).
                    deliver(waiters, buf);
                }
                _ => {
                    // Nobody to give it to (a redundant fetch): drop the
                    // holder now, in order, rather than through a buffer
                    // whose Release would queue behind later commands.
                    if self.holds.release(*id) == ReleaseDecision::Send {
                        self.send_release(*id);
                    }
                }
            }
        }
        if self.fetching.is_empty() && self.fetching.capacity() > 1024 {
            self.fetching = HashMap::new();
        }
        Ok(())
    }

    /// The request connection failed: every request waiting for a reply and
    /// every waiting future gets the error.
    fn fail_everything(&mut self, err: CallError) {
        let err = AsFutureError::from(err);
        self.stop_channel(&err);
        self.channel = ChannelState::Off;
        for expect in self.expects.drain(..) {
            expect.fail(CallError::from(err.clone()));
        }
        self.commands.close();
        while let Ok(cmd) = self.commands.try_recv() {
            if let Command::Register(_, waiter) = cmd {
                waiter.fail(&err);
            }
        }
    }
}

/// Waits for the notification channel: readable while live, the setup
/// result while starting, never while off.
async fn channel_event(state: &mut ChannelState) -> Wake {
    match state {
        ChannelState::Live { channel, .. } => {
            let _ = channel.socket.readable().await;
            Wake::Notifications
        }
        ChannelState::Starting { done, .. } => Wake::Setup(done.await),
        ChannelState::Off => std::future::pending().await,
    }
}
