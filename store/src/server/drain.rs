//! The graceful stop (SIGTERM, SIGINT, [`Shutdown`](super::Shutdown)):
//! stop accepting, answer the requests that already arrived whole, let
//! every peer read the replies and notifications it is owed, and close each
//! connection as soon as it has: a client waiting in a Get and a subscriber
//! see a clean end of stream, not a hang. Bounded by the drain timeout,
//! after which whatever is left is closed; a second signal ends it at once.

use std::io;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::Events;

use super::event_loop::{sub_token, EventLoop, LISTENER, SIGNALS, WAKER};
use super::quarantine::Watched;
use super::slices::NOTES_PER_TURN;
use super::systemd::{self, NotifyState};
use super::ServerError;
use crate::core::ClientId;

impl EventLoop {
    /// Runs the drain; returns when every connection is closed or the
    /// drain timeout has passed.
    pub(super) fn drain(&mut self) -> Result<(), ServerError> {
        let deadline = Instant::now() + self.limits.drain_timeout;
        if self.observer.systemd {
            let status = format!("STATUS=draining {} connections", self.conns.len());
            systemd::notify(&[NotifyState::Stopping, NotifyState::Custom(&status)]);
        }
        self.listener.stop_accepting(self.poll.registry());
        // Frames already received whole are owed their answer; nothing more
        // is read.
        let ids: Vec<ClientId> = self.conns.keys().copied().collect();
        for id in ids {
            let mut budget = usize::MAX;
            self.handle_frames(id, &mut budget);
            self.drop_doomed();
        }
        let mut events = Events::with_capacity(256);
        loop {
            // Long replies and queued notifications are owed too; they go
            // out a slice per round, as in the main loop.
            if self.slices.pending() {
                self.advance_jobs();
                self.deliver_notes(NOTES_PER_TURN, false);
                self.drop_doomed();
            }
            if !self.slices.pending() {
                self.close_drained();
            }
            if self.conns.is_empty() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    connections = self.conns.len(),
                    "closing connections whose peers did not read what they were owed within {} ms",
                    self.limits.drain_timeout.as_millis()
                );
                return Ok(());
            }
            let wait = if self.slices.pending() {
                std::time::Duration::ZERO
            } else {
                left
            };
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ServerError::Io {
                        op: "polling",
                        source,
                    })
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => {}
                    WAKER => self.answer_snapshot_requests(),
                    SIGNALS => {
                        if self.take_signals() {
                            tracing::info!("second signal: stopping without draining");
                            return Ok(());
                        }
                    }
                    // A peer process exited: its quarantine no longer
                    // matters, the store is going.
                    token if Watched::owner_of(token).is_some() => {}
                    token => {
                        let id = (token.0 >> 1) as ClientId;
                        if token == sub_token(id) {
                            self.flush_subscriber(id, None);
                        } else {
                            self.flush_connection(id, None);
                        }
                    }
                }
            }
            self.drop_doomed();
        }
    }

    /// Closes every connection (and its notification socket) that has
    /// nothing left to send. The core is not told: the store is going.
    fn close_drained(&mut self) {
        let done: Vec<ClientId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.output.queued() + c.subscriber.as_ref().map(|s| s.queued()).unwrap_or(0) == 0
            })
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let Some(mut conn) = self.conns.remove(&id) else {
                continue;
            };
            let registry = self.poll.registry();
            let _ = registry.deregister(&mut conn.stream);
            if let Some(sub) = conn.subscriber.take() {
                let _ = registry.deregister(&mut SourceFd(&sub.raw_fd()));
            }
            self.ready.remove(&id);
            tracing::debug!(client = id, "drained and closed");
        }
    }
}
