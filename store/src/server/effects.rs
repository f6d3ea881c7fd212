//! Performing the core's outcomes (replies, fd messages, notifications),
//! flushing queues, and dropping connections.

use std::collections::BTreeSet;
use std::os::fd::{AsFd, OwnedFd};

use mio::unix::SourceFd;
use mio::Interest;

use super::event_loop::{is_disconnect, sub_token, DropReason, EventLoop};
use super::subscriber::Subscriber;
use crate::arena::SEGMENT_ID;
use crate::core::{Audience, ClientId, Effect, Outcome};

impl EventLoop {
    /// Performs `out`'s effects in order, then writes what the sockets take.
    pub(super) fn perform(&mut self, out: Outcome) {
        let mut replied: Vec<ClientId> = Vec::new();
        let mut notified: BTreeSet<ClientId> = BTreeSet::new();
        for effect in out.effects {
            match effect {
                Effect::Reply { to, reply, fds } => {
                    let Some(conn) = self.conns.get_mut(&to) else {
                        continue;
                    };
                    let encoder = &mut self.encoder;
                    conn.output
                        .push_bytes(|buf| encoder.encode_reply(&reply, buf));
                    for segment in fds {
                        if segment == SEGMENT_ID {
                            conn.output.push_arena_fd();
                        } else {
                            tracing::error!(client = to, segment, "reply names an unknown segment");
                        }
                    }
                    if !replied.contains(&to) {
                        replied.push(to);
                    }
                }
                Effect::Notify { to, infos } => {
                    let mut message = Vec::new();
                    self.encoder.encode_notification(&infos, &mut message);
                    match to {
                        Audience::Subscribers => {
                            for (id, conn) in self.conns.iter_mut() {
                                if let Some(sub) = conn.subscriber.as_mut() {
                                    sub.push(message.clone());
                                    notified.insert(*id);
                                }
                            }
                        }
                        Audience::Client(id) => {
                            if let Some(sub) =
                                self.conns.get_mut(&id).and_then(|c| c.subscriber.as_mut())
                            {
                                sub.push(message);
                                notified.insert(id);
                            }
                        }
                    }
                }
            }
        }
        for id in replied {
            self.flush_connection(id);
            let answered = !self.store.has_pending_get(id);
            if let Some(conn) = self.conns.get_mut(&id) {
                if conn.blocked && answered {
                    conn.blocked = false;
                    self.ready.insert(id);
                }
            }
        }
        for id in notified {
            self.flush_subscriber(id);
        }
    }

    /// Writes `id`'s queued output; drops the connection if the peer is gone
    /// or the queue outgrew its cap.
    pub(super) fn flush_connection(&mut self, id: ClientId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let problem = match conn.output.flush(conn.stream.as_fd(), self.arena.fd()) {
            Ok(()) if conn.output.queued() > self.limits.queue_cap => {
                Some(DropReason::Loud(format!(
                    "{} bytes of replies queued, over the cap of {}: the client does not read",
                    conn.output.queued(),
                    self.limits.queue_cap
                )))
            }
            Ok(()) => None,
            Err(e) if is_disconnect(&e) => Some(DropReason::Quiet(format!("client gone: {e}"))),
            Err(e) => Some(DropReason::Loud(format!(
                "writing to the client failed: {e}"
            ))),
        };
        if let Some(reason) = problem {
            self.doom(id, reason);
        }
    }

    /// Writes `id`'s queued notifications; closes the notification socket if
    /// its reader is gone or the queue outgrew its cap. The connection stays.
    pub(super) fn flush_subscriber(&mut self, id: ClientId) {
        let Some(sub) = self.conns.get_mut(&id).and_then(|c| c.subscriber.as_mut()) else {
            return;
        };
        let problem = match sub.flush() {
            Ok(()) if sub.queued() > self.limits.queue_cap => Some(DropReason::Loud(format!(
                "{} bytes of notifications queued, over the cap of {}: the subscriber does not read",
                sub.queued(),
                self.limits.queue_cap
            ))),
            Ok(()) => None,
            Err(e) if is_disconnect(&e) => Some(DropReason::Quiet(format!("subscriber gone: {e}"))),
            Err(e) => Some(DropReason::Loud(format!("writing a notification failed: {e}"))),
        };
        if let Some(reason) = problem {
            self.close_subscriber(id, reason);
        }
    }

    /// Installs `fd` as `id`'s notification socket, replacing (closing) any
    /// earlier one. `false` when the descriptor is unusable (the connection
    /// is then dropped).
    pub(super) fn attach_subscriber(&mut self, id: ClientId, fd: OwnedFd) -> bool {
        let sub = match Subscriber::new(fd) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("unusable notification descriptor: {e}");
                self.doom(id, DropReason::Loud(reason));
                return false;
            }
        };
        let registered = self.poll.registry().register(
            &mut SourceFd(&sub.raw_fd()),
            sub_token(id),
            Interest::WRITABLE,
        );
        if let Err(e) = registered {
            let reason = format!("cannot poll the notification descriptor: {e}");
            self.doom(id, DropReason::Loud(reason));
            return false;
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        if let Some(old) = conn.subscriber.replace(sub) {
            tracing::info!(
                client = id,
                "second subscribe: the new socket replaces the old one"
            );
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
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&sub.raw_fd()));
        match reason {
            DropReason::Quiet(r) => {
                tracing::debug!(client = id, "closing notification socket: {r}")
            }
            DropReason::Loud(r) => tracing::warn!(client = id, "closing notification socket: {r}"),
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
            match reason {
                DropReason::Quiet(r) => tracing::debug!(client = id, "dropping connection: {r}"),
                DropReason::Loud(r) => tracing::warn!(client = id, "dropping connection: {r}"),
            }
            let registry = self.poll.registry();
            let _ = registry.deregister(&mut conn.stream);
            if let Some(sub) = conn.subscriber.take() {
                let _ = registry.deregister(&mut SourceFd(&sub.raw_fd()));
            }
            self.ready.remove(&id);
            let mut out = Outcome::default();
            self.store.disconnect(id, &mut out);
            self.perform(out);
        }
    }
}
