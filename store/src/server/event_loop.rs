//! The loop itself: poll, dispatch readiness, run timers, and give every
//! connection with work a bounded turn.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::UnixStream;
use mio::{Events, Interest, Poll, Token};
use plasma_protocol::Encoder;
pub(super) use signal_hook_mio::v1_0::Signals;

use super::admission::Admission;
use super::budget::{charge, InputBudget};
use super::connection::Connection;
use super::disk::DiskSide;
use super::listener::Listener;
use super::observe::Observer;
use super::peer_log::PeerLog;
use super::quarantine::Watched;
use super::shutdown::Shutdown;
use super::slices::{Slices, NOTES_PER_TURN};
use super::ServerError;
use crate::arena::{Arena, ArenaIo};
use crate::config::ServerConfig;
use crate::core::{ClientId, Clock, Outcome, Store};
use crate::disk::SpillDir;

pub(super) const LISTENER: Token = Token(usize::MAX);
pub(super) const WAKER: Token = Token(usize::MAX - 1);
pub(super) const SIGNALS: Token = Token(usize::MAX - 2);

/// Frames one connection may have handled per turn.
pub(super) const FRAMES_PER_TURN: usize = 32;
/// Bytes one connection may have read per turn.
const READ_BYTES_PER_TURN: usize = 8 << 20;
/// While its head frame waits for a pending Get, a connection is read only
/// until this much is buffered.
const BLOCKED_READ_LIMIT: usize = 1 << 20;
/// A head frame missing at most this much is waited for briefly instead of
/// slept on (`burst.rs`).
const SHORT_FRAME_REST: usize = 64 << 10;

/// The token of a client's main socket.
pub(super) fn conn_token(id: ClientId) -> Token {
    Token((id as usize) << 1)
}

/// The token of a client's notification socket.
pub(super) fn sub_token(id: ClientId) -> Token {
    Token(((id as usize) << 1) | 1)
}

/// Limits from the configuration.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub max_frame_len: u64,
    pub input_budget: u64,
    pub queue_cap: u64,
    pub subscriber_queue_cap: u64,
    pub frame_deadline: Duration,
    pub spin: Duration,
    pub drain_timeout: Duration,
}

/// How a connection's turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// More bytes are needed.
    NeedBytes,
    /// The head frame waits for this client's pending Get.
    Blocked,
    /// The frame budget is used up; more buffered work remains.
    Budget,
    /// The connection is being dropped.
    Gone,
}

/// Everything the loop owns.
pub(super) struct EventLoop {
    pub(super) poll: Poll,
    pub(super) listener: Listener,
    signals: Option<Signals>,
    shutdown: Shutdown,
    pub(super) store: Store,
    pub(super) arena: Arena,
    pub(super) conns: HashMap<ClientId, Connection>,
    next_id: ClientId,
    /// Connections with work to do without waiting for a new event.
    pub(super) ready: BTreeSet<ClientId>,
    pub(super) encoder: Encoder,
    pub(super) limits: Limits,
    /// Connections to drop once the current step is over, with the reason.
    pub(super) doomed: Vec<(ClientId, DropReason)>,
    /// The directory's descriptor, when the store offers `direct`.
    pub(super) directory: Option<std::os::fd::OwnedFd>,
    /// The connection having its turn (`burst.rs`).
    pub(super) turn: super::burst::Turn,
    /// Clients served at once (`--max-clients`).
    pub(super) max_clients: usize,
    /// Refusing and pausing state of the accept side.
    pub(super) admission: Admission,
    /// Processes whose dropped connections' memory is quarantined.
    pub(super) watched: Watched,
    /// Partly read input of all connections together.
    pub(super) budget: InputBudget,
    /// Long replies and notifications sent a slice per turn.
    pub(super) slices: Slices,
    /// Connections with a notification socket.
    pub(super) subscribers: BTreeSet<ClientId>,
    /// Bounds the log lines peers cause.
    pub(super) peer_log: PeerLog,
    /// The spill directory and its workers (`--spill-dir`).
    pub(super) disk: Option<DiskSide>,
    /// Uptime, latencies, metrics snapshots (`observe.rs`).
    pub(super) observer: Observer,
}

/// Why a connection is dropped, and how loudly to say so.
#[derive(Debug)]
pub(super) enum DropReason {
    /// The peer went away: a debug line.
    Quiet(String),
    /// The peer misbehaved or could not be served: one warn line.
    Loud(String),
}

impl EventLoop {
    pub(super) fn new(
        config: &ServerConfig,
        mut listener: Listener,
        store: Store,
        arena: Arena,
        shutdown: Shutdown,
        signals: Option<Signals>,
        spill: Option<(Arc<SpillDir>, ArenaIo)>,
    ) -> Result<Self, ServerError> {
        let io = |op| move |source| ServerError::Io { op, source };
        let poll = Poll::new().map_err(io("creating the poller"))?;
        poll.registry()
            .register(listener.source(), LISTENER, Interest::READABLE)
            .map_err(io("registering the listening socket"))?;
        shutdown
            .attach(poll.registry(), WAKER)
            .map_err(io("creating the shutdown waker"))?;
        let disk = match spill {
            Some((dir, arena_io)) => {
                // The spill workers' reports wake the loop through the
                // poller's one waker, as the metrics endpoint does.
                let waker = shutdown.clone();
                let wake = Arc::new(move || waker.wake());
                Some(
                    DiskSide::start(dir, &arena_io, wake)
                        .map_err(io("starting the spill workers"))?,
                )
            }
            None => None,
        };
        let mut signals = signals;
        if let Some(s) = signals.as_mut() {
            poll.registry()
                .register(s, SIGNALS, Interest::READABLE)
                .map_err(io("registering the signal pipe"))?;
        }
        Ok(EventLoop {
            poll,
            listener,
            signals,
            shutdown,
            store,
            arena,
            conns: HashMap::new(),
            next_id: 1,
            ready: BTreeSet::new(),
            encoder: Encoder::new(),
            limits: Limits {
                max_frame_len: config.max_frame_len,
                input_budget: config.input_budget,
                queue_cap: config.queue_cap,
                subscriber_queue_cap: config.subscriber_queue_cap,
                frame_deadline: config.frame_deadline,
                spin: config.spin,
                drain_timeout: config.drain_timeout,
            },
            doomed: Vec::new(),
            directory: None,
            turn: Default::default(),
            max_clients: config.max_clients.max(1),
            admission: Admission::default(),
            watched: Watched::default(),
            budget: InputBudget::default(),
            slices: Slices::default(),
            subscribers: BTreeSet::new(),
            peer_log: PeerLog::default(),
            disk,
            observer: Observer::new(),
        })
    }

    /// Runs until a shutdown or a signal.
    pub(super) fn run(&mut self) -> Result<(), ServerError> {
        let mut events = Events::with_capacity(256);
        let mut last_activity = Instant::now();
        let result = loop {
            if self.shutdown.is_triggered() {
                break Ok(());
            }
            let timeout = spin_timeout(self.poll_timeout(), last_activity, self.limits.spin);
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    break Err(ServerError::Io {
                        op: "polling",
                        source,
                    })
                }
            }
            if !events.is_empty() {
                last_activity = Instant::now();
            }
            let mut stop = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    // A shutdown, the spill workers' reports, or the
                    // metrics endpoint asking for a snapshot.
                    WAKER => {
                        self.take_disk_reports();
                        self.answer_snapshot_requests();
                    }
                    SIGNALS => stop |= self.take_signals(),
                    token => match Watched::owner_of(token) {
                        Some(q) => self.on_peer_exit(q),
                        None => self.dispatch(token, event),
                    },
                }
            }
            self.drop_doomed();
            if stop {
                break Ok(());
            }
            self.expire_gets();
            self.expire_partial_frames();
            self.serve_ready();
            self.advance_jobs();
            self.deliver_notes(NOTES_PER_TURN, false);
            self.drop_doomed();
            let now = Instant::now();
            self.peer_log.tick(now);
            self.tick_disk_log(now);
            self.poll_peer_exits(now);
            self.resume_accepting(now);
        };
        let result = result.and_then(|()| self.drain());
        self.shutdown.detach();
        self.stop_disk();
        result
    }

    pub(super) fn take_signals(&mut self) -> bool {
        let Some(signals) = self.signals.as_mut() else {
            return false;
        };
        let mut stop = false;
        for sig in signals.pending() {
            tracing::info!(signal = sig, "signal received, shutting down");
            stop = true;
        }
        stop
    }

    /// Zero when some connection has buffered work, else until the next
    /// Get deadline or partial-frame deadline, else forever.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() || !self.doomed.is_empty() || self.slices.pending() {
            return Some(Duration::ZERO);
        }
        let partial = self
            .conns
            .values()
            .filter_map(|c| c.partial.map(|(_, t)| t + self.limits.frame_deadline))
            .min();
        let next = [
            self.store.next_deadline(),
            partial,
            self.admission.retry_at(),
            self.watched.next_poll(),
            self.peer_log.report_at(),
            self.disk_log_report_at(),
        ]
        .into_iter()
        .flatten()
        .min();
        next.map(|t| t.saturating_duration_since(Instant::now()))
    }

    pub(super) fn add_connection(&mut self, mut stream: UnixStream, pid: i32) {
        let id = self.next_id;
        self.next_id += 1;
        // Writable interest is added only while output waits (see
        // `flush_connection`).
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut stream, conn_token(id), Interest::READABLE)
        {
            if self.peer_log.admit(Instant::now()) {
                tracing::warn!("registering a new connection failed: {e}");
            }
            return;
        }
        self.conns.insert(id, Connection::new(stream, pid));
        self.store.connect(id);
        self.ready.insert(id);
        tracing::debug!(client = id, pid, "client connected");
    }

    fn dispatch(&mut self, token: Token, event: &mio::event::Event) {
        let id = (token.0 >> 1) as ClientId;
        if token.0 & 1 == 1 {
            self.flush_subscriber(id, None);
            return;
        }
        if !self.conns.contains_key(&id) {
            return;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            if let Some(c) = self.conns.get_mut(&id) {
                c.readable = true;
            }
            self.ready.insert(id);
        }
        if event.is_writable() || event.is_write_closed() {
            self.flush_connection(id, None);
        }
    }

    fn expire_gets(&mut self) {
        let now = Instant::now();
        if self.store.next_deadline().is_some_and(|d| d <= now) {
            let mut out = Outcome::default();
            self.store.expire(&Clock::system(), &mut out);
            self.perform(out);
            self.drop_doomed();
        }
    }

    fn expire_partial_frames(&mut self) {
        let now = Instant::now();
        let deadline = self.limits.frame_deadline;
        let late: Vec<ClientId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.partial.is_some_and(|(_, t)| now >= t + deadline))
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.doom(
                id,
                DropReason::Loud(format!(
                    "a frame did not complete within {} ms",
                    deadline.as_millis()
                )),
            );
        }
        self.drop_doomed();
    }

    /// Gives each connection with buffered work or unread bytes one turn.
    fn serve_ready(&mut self) {
        let ids: Vec<ClientId> = self.ready.iter().copied().collect();
        for id in ids {
            self.serve(id);
            self.recharge(id);
            self.drop_doomed();
        }
        for id in self.budget.take_woken() {
            if self.conns.contains_key(&id) {
                self.ready.insert(id);
            }
        }
    }

    /// Brings `id`'s charge against the input budget up to date.
    fn recharge(&mut self, id: ClientId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            // Frames handled: the reservation shrinks to what is left
            // (never grows here: growing is admitted before reads).
            let now = charge(conn.input.footprint()).min(conn.charged);
            self.budget.recharge(conn.charged, now);
            conn.charged = now;
        }
    }

    /// One turn: handle frames, read more when they run out, within budgets;
    /// the turn's replies go out in one write per burst (`burst.rs`).
    fn serve(&mut self, id: ClientId) {
        self.begin_turn(id);
        self.serve_turn(id);
        self.end_turn();
    }

    fn serve_turn(&mut self, id: ClientId) {
        let mut frames_left = FRAMES_PER_TURN;
        let mut read_left = READ_BYTES_PER_TURN;
        let mut waited = false;
        loop {
            let step = self.handle_frames(id, &mut frames_left);
            let Some(conn) = self.conns.get_mut(&id) else {
                self.ready.remove(&id);
                return;
            };
            match step {
                Step::Gone => return,
                Step::Budget => return,
                Step::NeedBytes | Step::Blocked => {}
            }
            if conn.eof {
                let reason = if conn.input.pending().is_empty() || step == Step::Blocked {
                    "client disconnected"
                } else {
                    "client disconnected in the middle of a frame"
                };
                self.doom(id, DropReason::Quiet(reason.into()));
                return;
            }
            let over_limit =
                step == Step::Blocked && conn.input.pending().len() > BLOCKED_READ_LIMIT;
            // A frame under way (a few bytes short) is waited for briefly,
            // once per turn, rather than slept on.
            let under_way = step == Step::NeedBytes
                && !conn.input.pending().is_empty()
                && conn
                    .input
                    .head_frame_missing()
                    .is_none_or(|m| m <= SHORT_FRAME_REST);
            if !conn.readable && under_way && !waited {
                waited = true;
                self.flush_turn();
                match self.wait_for_rest(id) {
                    Ok((n, drained)) if n > 0 => {
                        read_left = read_left.saturating_sub(n);
                        if let Some(conn) = self.conns.get_mut(&id) {
                            conn.readable = !drained;
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.doom(
                            id,
                            DropReason::Loud(format!("reading from the client failed: {e}")),
                        );
                        return;
                    }
                }
                if self.conns.get(&id).is_some_and(|c| c.eof) {
                    continue;
                }
            }
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if !conn.readable || over_limit {
                // Revisited on the next readable event, or when unblocked.
                self.ready.remove(&id);
                return;
            }
            if read_left == 0 {
                return;
            }
            // Before reading more: the replies to what was handled so far.
            self.flush_turn();
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if conn.doomed {
                return;
            }
            let want = conn.input.head_frame_missing().unwrap_or(0);
            let Some(read) = self.read_charged(id, want) else {
                // Read again when another connection's frame is done.
                self.budget.wait(id);
                self.ready.remove(&id);
                return;
            };
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            match read {
                Ok((0, _)) => conn.eof = true,
                Ok((n, drained)) => {
                    read_left = read_left.saturating_sub(n);
                    if drained {
                        // The next bytes raise a new event; no read for
                        // EAGAIN now.
                        conn.readable = false;
                        conn.input.shrink_when_idle();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.readable = false;
                    conn.input.shrink_when_idle();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_disconnect(&e) => conn.eof = true,
                Err(e) => {
                    self.doom(
                        id,
                        DropReason::Loud(format!("reading from the client failed: {e}")),
                    );
                    return;
                }
            }
        }
    }
}

impl EventLoop {
    /// One read from `id`'s socket of up to what its head frame lacks,
    /// within the input budget: `None` if the budget cannot take the
    /// buffer the read may need (the connection then waits its turn).
    pub(super) fn read_charged(
        &mut self,
        id: ClientId,
        want: usize,
    ) -> Option<io::Result<(usize, bool)>> {
        let conn = self.conns.get_mut(&id)?;
        let wanted = charge(
            conn.input
                .allocated_after_read(want)
                .max(conn.input.footprint()),
        );
        if !self
            .budget
            .admits(conn.charged, wanted, self.limits.input_budget)
        {
            return None;
        }
        let sock = std::os::fd::AsFd::as_fd(&conn.stream);
        let read = conn.input.read_from(sock, want);
        // The read may have brought the header of a large frame.
        let reserved = charge(conn.input.footprint());
        let admitted = self
            .budget
            .admits(conn.charged, reserved, self.limits.input_budget);
        let now = if admitted {
            reserved
        } else {
            charge(conn.input.allocated())
        };
        self.budget.recharge(conn.charged, now);
        conn.charged = now;
        Some(read)
    }
}

/// Errors that just mean the peer went away.
pub(super) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::NotConnected
    )
}

/// The poll timeout while spinning: zero until `spin` has passed since the
/// last event, so a request that follows a reply within that window is read
/// by a loop that is still awake (no sleep, no cross-CPU wake-up), then
/// whatever the loop would otherwise wait for.
fn spin_timeout(
    timeout: Option<Duration>,
    last_activity: Instant,
    spin: Duration,
) -> Option<Duration> {
    if !spin.is_zero() && last_activity.elapsed() < spin {
        Some(Duration::ZERO)
    } else {
        timeout
    }
}

#[cfg(test)]
mod spin_tests {
    use super::*;

    #[test]
    fn polls_without_sleeping_right_after_activity() {
        let t = spin_timeout(None, Instant::now(), Duration::from_secs(60));
        assert_eq!(t, Some(Duration::ZERO));
    }

    #[test]
    fn sleeps_as_usual_once_the_spin_window_has_passed() {
        let long_ago = Instant::now() - Duration::from_millis(10);
        let t = spin_timeout(
            Some(Duration::from_secs(3)),
            long_ago,
            Duration::from_micros(50),
        );
        assert_eq!(t, Some(Duration::from_secs(3)));
        assert_eq!(
            spin_timeout(None, long_ago, Duration::from_micros(50)),
            None
        );
    }

    #[test]
    fn zero_spin_never_changes_the_timeout() {
        assert_eq!(spin_timeout(None, Instant::now(), Duration::ZERO), None);
    }
}
