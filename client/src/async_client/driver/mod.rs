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
//!
//! One file a job; each adds an `impl Driver` block for its part:
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the task's state, the round and the wait between rounds, the end |
//! | `commands.rs` | what each [`Command`] from a handle, buffer, builder or future does |
//! | `pairing.rs` | the requests written ([`Expect`](pairing::Expect)) and the reply that answers each |
//! | `fetches.rs` | the router's Gets of awaited objects, with notifications (Plasma 11) |
//! | `pushes.rs` | the router's Awaits and the objects the store pushes (our addition) |
//! | `direct.rs` | attaching, Puts of local builders, HoldsChanged (our `direct` addition) |
//! | `channel.rs` | the notification channel: set up, live, lost, stopped |

mod channel;
mod commands;
mod direct;
mod fetches;
mod pairing;
mod pushes;

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use plasma_protocol::{Encoder, ObjectId, Request};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{UnboundedReceiver, WeakUnboundedSender};

use super::awaits::AwaitTable;
use super::command::{Command, Link};
use super::router::{deliver, Router};
use super::socket::Socket;
use super::wire::{Outgoing, Replies};
use super::AsyncStats;
use crate::buffer::ReleaseHook;
use crate::connection::{classify_read_error, classify_write_error};
use crate::error::{AsFutureError, CallError};
use crate::holds::{HoldTable, ReleaseDecision};
use crate::mapping::View;
use crate::ObjectBuffer;
use channel::{ChannelEvent, NotificationChannel};
use fetches::Fetches;
use pairing::Expect;

/// Commands taken per round before the sockets get their turn.
const COMMANDS_PER_ROUND: usize = 4096;
/// Reads per socket per round.
const READS_PER_ROUND: usize = 8;
/// Largest number of ids in one router Get, Await or Unawait (keeps frames
/// moderate).
const MAX_IDS_PER_GET: usize = 8192;
/// Busy rounds in a row before the task yields to others on its thread.
const ROUNDS_BEFORE_YIELD: u32 = 16;

/// What ended a wait for work.
enum Wake {
    Command(Option<Command>),
    Request(io::Result<()>),
    Channel(ChannelEvent),
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
    spin: Duration,
    stream: Socket,
    replies: Replies,
    out: Outgoing,
    encoder: Encoder,
    /// The requests written whose replies have not been read, in order.
    expects: VecDeque<Expect>,
    /// Holds counted per id; begin/finish only around callers' gets (see
    /// `fetches.rs` for the router's).
    holds: HoldTable,
    router: Router,
    fetches: Fetches,
    /// The store serves our Await: futures wait for pushes, not for
    /// notifications (the channel stays off).
    pushes: bool,
    awaits: AwaitTable,
    channel: NotificationChannel,
    /// A task was woken (reply sent, future resolved) in this round.
    woke: bool,
    stats: AsyncStats,
    /// Every sender is gone.
    closed: bool,
    /// Busy-polling: read sockets even when tokio has seen no readiness.
    polling: bool,
    /// The `direct` state, once attached (our addition).
    direct: Option<Arc<crate::direct::Direct>>,
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
            spin,
            stream,
            replies: Replies::new(),
            out: Outgoing::default(),
            encoder: Encoder::new(),
            expects: VecDeque::new(),
            holds: HoldTable::default(),
            router: Router::default(),
            fetches: Fetches::default(),
            pushes: false,
            awaits: AwaitTable::default(),
            channel: NotificationChannel::new(path),
            woke: false,
            stats: AsyncStats::default(),
            closed: false,
            polling: false,
            direct: None,
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
        if let Some(setup) = self.channel.setup_done() {
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
            event = self.channel.event() => Wake::Channel(event),
        };
        match wake {
            Wake::Command(Some(cmd)) => self.handle(cmd),
            Wake::Command(None) => self.closed = true,
            Wake::Request(result) => result.map_err(classify_read_error)?,
            Wake::Channel(ChannelEvent::Readable) => {}
            Wake::Channel(ChannelEvent::SetUp(result)) => self.on_setup(result),
        }
        Ok(())
    }

    /// Queues a request that has no reply.
    fn encode(&mut self, req: &Request<'_>) {
        self.encoder.encode_request(req, self.out.frames());
    }

    /// Queues a request whose reply `expect` is waiting for.
    fn send(&mut self, req: &Request<'_>, expect: Expect) {
        self.encode(req);
        self.expects.push_back(expect);
    }

    /// Queues a Release of `id`. Every Release goes through here: the
    /// router's fetches must know of it (`fetches.rs`).
    fn send_release(&mut self, id: ObjectId) {
        self.fetches.released(id);
        self.encode(&Request::Release { id });
    }

    /// Queues an Abort of `id`, an unsealed object this client created.
    fn send_abort(&mut self, id: ObjectId) {
        self.send(&Request::Abort { id }, Expect::Abort { id });
    }

    /// Writes what is queued, as far as the socket takes it now.
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

    /// Hands the object `id` (`view`, whose holder was just counted) to
    /// every future waiting for it. If none waits any more (a redundant
    /// fetch, a cancelled wait), drops that holder now, in order, rather
    /// than through a buffer whose Release would queue behind later
    /// commands.
    fn resolve_waiters(&mut self, id: ObjectId, view: View, data_len: usize) {
        let waiters = self.router.take(&id);
        match self.hook() {
            Some(hook) if !waiters.is_empty() => {
                // Handed over whole: the driver keeps no clone (see
                // `pairing.rs`, `on_got`).
                deliver(waiters, ObjectBuffer::new(id, view, data_len, hook));
            }
            _ => {
                if self.holds.release(id) == ReleaseDecision::Send {
                    self.send_release(id);
                }
            }
        }
    }

    /// The request connection failed: every request waiting for a reply and
    /// every waiting future gets the error.
    fn fail_everything(&mut self, err: CallError) {
        let err = AsFutureError::from(err);
        self.stop_channel(&err);
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
