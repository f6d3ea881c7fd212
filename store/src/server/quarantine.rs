//! Peers whose connection the store ended while their process runs.
//!
//! The process may still read the objects it held, or write the ones it
//! was creating, through its mapping of the arena: the connection is gone
//! but the mapping is not. So the core is told to keep those extents out
//! of reuse ([`Store::disconnect_live`](crate::core::Store::disconnect_live))
//! under a quarantine named here, one per process, and the loop watches the
//! process: a pidfd registered with the poller, or a `kill(pid, 0)` every
//! [`EXIT_POLL`] where there is no pidfd. When it has exited, the core is
//! told ([`Store::end_quarantine`](crate::core::Store::end_quarantine)).

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::event_loop::EventLoop;
use super::peer_exit::{self, ExitWatch};
use crate::core::{ClientId, Outcome, QuarantineId};

/// Tokens of pidfds: `QUARANTINE_TOKENS + quarantine id` (connection tokens
/// stay far below, the loop's own tokens far above).
const QUARANTINE_TOKENS: usize = 1 << (usize::BITS - 2);

/// How often processes without a pidfd are checked.
const EXIT_POLL: Duration = Duration::from_secs(1);

/// The processes the loop watches, by quarantine and by pid.
#[derive(Debug, Default)]
pub(super) struct Watched {
    by_id: HashMap<QuarantineId, (i32, ExitWatch)>,
    by_pid: HashMap<i32, QuarantineId>,
    next_id: QuarantineId,
    /// When processes without a pidfd are checked next.
    next_poll: Option<Instant>,
}

impl Watched {
    /// When the loop must wake up to check processes without a pidfd.
    pub(super) fn next_poll(&self) -> Option<Instant> {
        self.next_poll
    }

    /// The quarantine a pidfd's token belongs to.
    pub(super) fn owner_of(token: Token) -> Option<QuarantineId> {
        token
            .0
            .checked_sub(QUARANTINE_TOKENS)
            .map(|q| q as QuarantineId)
    }
}

impl EventLoop {
    /// Tells the core that `id`'s connection is over. When the store ended
    /// it (`store_ended`) and the peer process `pid` still runs, what the
    /// client held or was creating stays out of reuse until it exits.
    pub(super) fn forget_client(&mut self, id: ClientId, pid: i32, store_ended: bool) {
        let mut out = Outcome::default();
        match store_ended.then(|| self.quarantine_for(pid)).flatten() {
            Some(q) => {
                self.store.disconnect_live(id, q, &mut out);
                if self.store.is_quarantined(q) {
                    tracing::debug!(
                        client = id,
                        pid,
                        "the dropped client's memory is kept until its process exits"
                    );
                } else {
                    self.unwatch(q);
                }
            }
            None => self.store.disconnect(id, &mut out),
        }
        self.perform(out);
    }

    /// The quarantine of process `pid` (a new one if it has none yet), or
    /// `None` if the process has already exited.
    fn quarantine_for(&mut self, pid: i32) -> Option<QuarantineId> {
        if let Some(&q) = self.watched.by_pid.get(&pid) {
            return Some(q);
        }
        let watch = peer_exit::watch(pid)?;
        let q = self.watched.next_id;
        self.watched.next_id += 1;
        match &watch {
            ExitWatch::Pidfd(fd) => {
                let token = Token(QUARANTINE_TOKENS + q as usize);
                let registered = self.poll.registry().register(
                    &mut SourceFd(&fd.as_raw_fd()),
                    token,
                    Interest::READABLE,
                );
                if let Err(e) = registered {
                    tracing::warn!(pid, "cannot poll a process descriptor: {e}");
                    return None;
                }
            }
            ExitWatch::Poll(_) => {
                self.watched
                    .next_poll
                    .get_or_insert_with(|| Instant::now() + EXIT_POLL);
            }
        }
        self.watched.by_id.insert(q, (pid, watch));
        self.watched.by_pid.insert(pid, q);
        Some(q)
    }

    /// A pidfd became readable: that process has exited.
    pub(super) fn on_peer_exit(&mut self, q: QuarantineId) {
        let exited = self
            .watched
            .by_id
            .get(&q)
            .is_some_and(|(_, w)| peer_exit::has_exited(w));
        if exited {
            self.unwatch(q);
        }
    }

    /// Checks the processes watched without a pidfd, if it is time.
    pub(super) fn poll_peer_exits(&mut self, now: Instant) {
        if self.watched.next_poll.is_none_or(|t| now < t) {
            return;
        }
        let gone: Vec<QuarantineId> = self
            .watched
            .by_id
            .iter()
            .filter(|(_, (_, w))| matches!(w, ExitWatch::Poll(_)) && peer_exit::has_exited(w))
            .map(|(q, _)| *q)
            .collect();
        for q in gone {
            self.unwatch(q);
        }
        let polling = self
            .watched
            .by_id
            .values()
            .any(|(_, w)| matches!(w, ExitWatch::Poll(_)));
        self.watched.next_poll = polling.then(|| now + EXIT_POLL);
    }

    /// Ends quarantine `q`: its extents may be reused.
    fn unwatch(&mut self, q: QuarantineId) {
        if let Some((pid, watch)) = self.watched.by_id.remove(&q) {
            self.watched.by_pid.remove(&pid);
            if let ExitWatch::Pidfd(fd) = &watch {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&fd.as_raw_fd()));
                self.admission.note_freed();
            }
            tracing::debug!(pid, "process exited: its quarantined memory is free");
        }
        self.store.end_quarantine(q);
    }
}
