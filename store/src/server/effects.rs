//! Performing the core's outcomes (replies, fd messages, notifications),
//! flushing queues, and dropping connections.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use mio::unix::SourceFd;
use mio::Interest;

use super::event_loop::{conn_token, is_disconnect, sub_token, DropReason, EventLoop};
use super::output::{Segment, SegmentFds};
use super::slices::NOTES_PER_TURN;
use super::subscriber::Subscriber;
use crate::arena::SEGMENT_ID;
use crate::core::{ClientId, Effect, Outcome, DIRECTORY_SEGMENT, HOLDS_SEGMENT};
use plasma_protocol::Reply;

impl EventLoop {
    /// Performs `out`'s effects in order, then writes what the sockets take.
    pub(super) fn perform(&mut self, out: Outcome) {
        // Bytes each peer's queue held before this batch: what the cap judges.
        let mut replied: Vec<(ClientId, u64)> = Vec::new();
        let backlogged = self.slices.backlogged();
        for effect in out.effects {
            match effect {
                Effect::Reply { to, mut reply, fds } => {
                    if let Reply::Stats(stats) = &mut reply {
                        self.add_loop_stats(stats);
                    }
                    let Some(conn) = self.conns.get_mut(&to) else {
                        continue;
                    };
                    if !replied.iter().any(|(id, _)| *id == to) {
                        replied.push((to, conn.output.queued()));
                    }
                    let encoder = &mut self.encoder;
                    conn.output
                        .push_bytes(|buf| encoder.encode_reply(&reply, buf));
                    for segment in fds {
                        match segment {
                            SEGMENT_ID => conn.output.push_fd(Segment::Arena),
                            DIRECTORY_SEGMENT => conn.output.push_fd(Segment::Directory),
                            HOLDS_SEGMENT => conn.output.push_fd(Segment::Holds),
                            _ => tracing::error!(
                                client = to,
                                segment,
                                "reply names an unknown segment"
                            ),
                        }
                    }
                }
                Effect::Notify { to, infos } => self.slices.push_note(to, infos, false),
                Effect::NotifyEach { to, infos } => self.slices.push_note(to, infos, true),
                Effect::Long { to, request } => self.start_long(to, request),
                Effect::Disk(op) => self.submit_disk(op),
                Effect::Resume { client } => self.resume(client),
                Effect::Notice(notice) => self.log_notice(&notice, None),
            }
        }
        // Notifications first: a subscriber waiting for a seal is woken
        // before the sealer's own reply lets the sealer run on (unless a
        // backlog of earlier notifications is still draining).
        self.deliver_notes(NOTES_PER_TURN, !backlogged);
        for (id, before) in replied {
            // The connection having its turn gets its replies in one write
            // when its burst of frames is handled (`burst.rs`).
            if self.defer_flush(id, before) {
                continue;
            }
            self.flush_connection(id, Some(before));
            self.unblock_if_answered(id);
        }
    }

    /// A connection whose head frame waited for its pending Get goes on
    /// once that Get is answered.
    pub(super) fn unblock_if_answered(&mut self, id: ClientId) {
        let answered = !self.store.has_pending_get(id);
        if let Some(conn) = self.conns.get_mut(&id) {
            if conn.blocked && answered {
                conn.blocked = false;
                self.ready.insert(id);
            }
        }
    }

    /// Writes `id`'s queued output; drops the connection if the peer is gone
    /// or does not read. `before` is what was queued before new output was
    /// added (`None` for a flush on a writable event: the peer is reading).
    pub(super) fn flush_connection(&mut self, id: ClientId, before: Option<u64>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let fds = SegmentFds {
            arena: self.arena.fd(),
            directory: self.directory.as_ref().map(|d| d.as_fd()),
            holds: conn.holds.as_ref().map(|h| h.as_fd()),
        };
        let result = conn.output.flush(conn.stream.as_fd(), fds);
        let waiting = conn.output.queued() > 0;
        let stale = unread_old_output(before, conn.output.queued());
        let problem = match result {
            Ok(()) if stale > self.limits.queue_cap => Some(DropReason::Loud(format!(
                "{} bytes of replies queued, over the cap of {}: the client does not read",
                conn.output.queued(),
                self.limits.queue_cap
            ))),
            Ok(()) => None,
            Err(e) if is_disconnect(&e) => Some(DropReason::Quiet(format!("client gone: {e}"))),
            Err(e) => Some(DropReason::Loud(format!(
                "writing to the client failed: {e}"
            ))),
        };
        if let Some(reason) = problem {
            self.doom(id, reason);
            return;
        }
        // Writable events are asked for only while output waits: with the
        // interest registered, every message the peer reads would wake
        // this loop (the kernel signals write space per consumed message),
        // a cross-CPU wake-up per reply for nothing.
        if conn.write_interest != waiting {
            let registry = self.poll.registry();
            let interest = if waiting {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            match registry.reregister(&mut conn.stream, conn_token(id), interest) {
                Ok(()) => conn.write_interest = waiting,
                Err(e) => self.doom(
                    id,
                    DropReason::Loud(format!("cannot poll the client's socket: {e}")),
                ),
            }
        }
    }

    /// Writes `id`'s queued notifications; closes the notification socket if
    /// its reader is gone or does not read (as for `flush_connection`). The
    /// connection stays.
    pub(super) fn flush_subscriber(&mut self, id: ClientId, before: Option<u64>) {
        let Some(sub) = self.conns.get_mut(&id).and_then(|c| c.subscriber.as_mut()) else {
            return;
        };
        let result = sub.flush();
        let waiting = sub.queued() > 0;
        let stale = unread_old_output(before, sub.queued());
        let problem = match result {
            Ok(()) if stale > self.limits.subscriber_queue_cap => Some(DropReason::Loud(format!(
                "{} bytes of notifications queued, over the cap of {}: the subscriber does not read",
                sub.queued(),
                self.limits.subscriber_queue_cap
            ))),
            Ok(()) => None,
            Err(e) if is_disconnect(&e) => Some(DropReason::Quiet(format!("subscriber gone: {e}"))),
            Err(e) => Some(DropReason::Loud(format!("writing a notification failed: {e}"))),
        };
        if let Some(reason) = problem {
            self.close_subscriber(id, reason);
            return;
        }
        if sub.write_interest != waiting {
            let interest = if waiting {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let registry = self.poll.registry();
            match registry.reregister(&mut SourceFd(&sub.raw_fd()), sub_token(id), interest) {
                Ok(()) => sub.write_interest = waiting,
                Err(e) => self.close_subscriber(
                    id,
                    DropReason::Loud(format!("cannot poll the notification descriptor: {e}")),
                ),
            }
        }
    }

    /// Installs `fd` as `id`'s notification socket, replacing (closing) any
    /// earlier one. `false` when the descriptor is unusable (the connection
    /// is then dropped).
    pub(super) fn attach_subscriber(&mut self, id: ClientId, fd: OwnedFd) -> bool {
        let sub = match Subscriber::new(fd, self.slices.next_seq()) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("unusable notification descriptor: {e}");
                self.doom(id, DropReason::Loud(reason));
                return false;
            }
        };
        // READABLE only (hang-ups are reported whatever the interest);
        // writable interest is added only while a backlog waits.
        let registered = self.poll.registry().register(
            &mut SourceFd(&sub.raw_fd()),
            sub_token(id),
            Interest::READABLE,
        );
        if let Err(e) = registered {
            let reason = format!("cannot poll the notification descriptor: {e}");
            self.doom(id, DropReason::Loud(reason));
            return false;
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        self.subscribers.insert(id);
        if let Some(old) = conn.subscriber.replace(sub) {
            if self.peer_log.admit(Instant::now()) {
                tracing::info!(
                    client = id,
                    "second subscribe: the new socket replaces the old one"
                );
            }
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&old.raw_fd()));
        }
        true
    }

    fn close_subscriber(&mut self, id: ClientId, reason: DropReason) {
        let Some(sub) = self.conns.get_mut(&id).and_then(|c| c.subscriber.take()) else {
            return;
        };
        self.subscribers.remove(&id);
        self.admission.note_freed();
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&sub.raw_fd()));
        match reason {
            DropReason::Quiet(r) => {
                tracing::debug!(client = id, "closing notification socket: {r}")
            }
            DropReason::Loud(r) if self.peer_log.admit(Instant::now()) => {
                tracing::warn!(client = id, "closing notification socket: {r}")
            }
            DropReason::Loud(r) => {
                tracing::debug!(client = id, "closing notification socket: {r}")
            }
        }
    }

    /// Schedules `id` to be dropped once the current step is over.
    pub(super) fn doom(&mut self, id: ClientId, reason: DropReason) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if !conn.doomed {
                conn.doomed = true;
                self.doomed.push((id, reason));
            }
        }
    }

    /// Drops every scheduled connection: the core forgets the client (which
    /// may produce effects for others), the sockets are closed.
    pub(super) fn drop_doomed(&mut self) {
        while let Some((id, reason)) = self.doomed.pop() {
            let Some(mut conn) = self.conns.remove(&id) else {
                continue;
            };
            self.admission.note_freed();
            self.subscribers.remove(&id);
            self.budget.recharge(conn.charged, 0);
            let pid = conn.pid;
            // Loud: the store ends the connection, its peer did not.
            let store_ended = matches!(reason, DropReason::Loud(_));
            match reason {
                DropReason::Quiet(r) => {
                    tracing::debug!(client = id, pid, "dropping connection: {r}")
                }
                DropReason::Loud(r) if self.peer_log.admit(Instant::now()) => {
                    tracing::warn!(client = id, pid, "dropping connection: {r}")
                }
                DropReason::Loud(r) => {
                    tracing::debug!(client = id, pid, "dropping connection: {r}")
                }
            }
            let registry = self.poll.registry();
            let _ = registry.deregister(&mut conn.stream);
            if let Some(sub) = conn.subscriber.take() {
                let _ = registry.deregister(&mut SourceFd(&sub.raw_fd()));
            }
            self.ready.remove(&id);
            drop(conn);
            self.forget_client(id, pid, store_ended);
        }
    }
}

/// How much of the output that was queued before new output was added is
/// still unwritten after a flush (queues are FIFO, so it is the front).
///
/// The queue cap judges only this: a peer is cut off for not reading what it
/// was sent earlier, never for the size of one fresh reply (a List of
/// millions of objects may exceed any cap and is fine if the peer reads it).
/// A flush on a writable event (`before == None`) means the peer is reading.
fn unread_old_output(before: Option<u64>, queued_now: u64) -> u64 {
    before.map_or(0, |before| before.min(queued_now))
}

#[cfg(test)]
mod cap_tests {
    use super::unread_old_output;

    #[test]
    fn one_large_fresh_reply_is_not_stale() {
        assert_eq!(unread_old_output(Some(0), 10 << 20), 0);
    }

    #[test]
    fn output_left_from_before_stays_counted_until_written() {
        assert_eq!(unread_old_output(Some(5000), 9000), 5000);
        assert_eq!(unread_old_output(Some(5000), 3000), 3000);
    }

    #[test]
    fn a_flush_on_a_writable_event_never_counts() {
        assert_eq!(unread_old_output(None, u64::MAX), 0);
    }
}
