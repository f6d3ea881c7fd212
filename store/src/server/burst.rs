//! Answering a burst of frames in one wake-up (docs/design.md,
//! "Pipelining"): while a connection has its turn, its replies are queued
//! and written with one `send` when its buffered frames run out (before the
//! loop reads from it again, and at the end of the turn) instead of one
//! `send` per reply. Replies to other connections, pushes and notifications
//! still go out at once.
//!
//! And not sleeping on a frame already under way: a peer that writes a
//! message in pieces (Plasma's C++ client writes four per message) is
//! waited for briefly, yielding the CPU, rather than left to wake the loop
//! once per piece.

use std::io;
use std::time::{Duration, Instant};

use super::event_loop::EventLoop;
use crate::core::ClientId;

/// How long a connection whose head frame has started arriving is polled
/// (yielding between polls) before the loop sleeps on it.
pub(super) const PARTIAL_FRAME_WAIT: Duration = Duration::from_micros(20);

/// The connection having its turn, and what its output queue held before
/// the turn's first reply (what the queue cap judges).
#[derive(Debug, Default)]
pub(super) struct Turn {
    serving: Option<ClientId>,
    before: Option<u64>,
}

impl EventLoop {
    /// `id`'s turn starts: its replies wait for [`EventLoop::flush_turn`].
    pub(super) fn begin_turn(&mut self, id: ClientId) {
        self.turn = Turn {
            serving: Some(id),
            before: None,
        };
    }

    /// Whether a reply to `to`, queued with `before` bytes ahead of it, is
    /// left for the end of the burst (`to` has the turn).
    pub(super) fn defer_flush(&mut self, to: ClientId, before: u64) -> bool {
        if self.turn.serving != Some(to) {
            return false;
        }
        self.turn.before = Some(self.turn.before.map_or(before, |b| b.min(before)));
        true
    }

    /// Writes what the burst queued for the connection having its turn.
    pub(super) fn flush_turn(&mut self) {
        let Some(id) = self.turn.serving else {
            return;
        };
        if let Some(before) = self.turn.before.take() {
            self.flush_connection(id, Some(before));
            self.unblock_if_answered(id);
        }
    }

    /// The turn is over.
    pub(super) fn end_turn(&mut self) {
        self.flush_turn();
        self.turn = Turn::default();
    }

    /// After a read found the socket empty while `id`'s head frame is only
    /// partly here: polls for the rest for up to [`PARTIAL_FRAME_WAIT`],
    /// yielding the CPU between polls (a writer on this CPU then finishes
    /// its frame). Returns the bytes read (0 if none came) and whether the
    /// socket is empty again.
    pub(super) fn wait_for_rest(&mut self, id: ClientId) -> io::Result<(usize, bool)> {
        let start = Instant::now();
        loop {
            std::thread::yield_now();
            let Some(want) = self.conns.get(&id).map(|c| c.input.head_frame_missing()) else {
                return Ok((0, true));
            };
            let Some(read) = self.read_charged(id, want.unwrap_or(0)) else {
                return Ok((0, true)); // over the input budget: sleep on it
            };
            match read {
                Ok((0, _)) => {
                    if let Some(conn) = self.conns.get_mut(&id) {
                        conn.eof = true;
                    }
                    return Ok((0, true));
                }
                Ok(read) => return Ok(read),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if start.elapsed() >= PARTIAL_FRAME_WAIT {
                return Ok((0, true));
            }
        }
    }
}
