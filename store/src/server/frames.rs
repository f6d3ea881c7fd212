//! Turning a connection's buffered bytes into core calls, strictly in order.

use std::time::Instant;

use plasma_protocol::{decode_request, parse_frame, Request};

use super::event_loop::{DropReason, EventLoop, Step};
use super::input::HeadFd;
use crate::core::{ClientId, Clock, Handled, Outcome};

impl EventLoop {
    /// Handles complete frames at the head of `id`'s input until more bytes
    /// are needed, the head frame must wait (for a pending Get, a long
    /// reply, or memory being freed by spills), the budget is spent or the
    /// connection is dropped.
    pub(super) fn handle_frames(&mut self, id: ClientId, frames_left: &mut usize) -> Step {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return Step::Gone;
            };
            if conn.doomed {
                return Step::Gone;
            }
            if conn.busy || conn.deferred {
                return Step::Blocked;
            }
            if conn.awaiting_subscriber_fd {
                match conn.input.take_head_fd() {
                    HeadFd::NoByte => {
                        conn.mark_partial(Instant::now());
                        return Step::NeedBytes;
                    }
                    HeadFd::Missing => {
                        self.doom(
                            id,
                            DropReason::Loud(
                                "the byte after SubscribeRequest carried no descriptor".into(),
                            ),
                        );
                        return Step::Gone;
                    }
                    HeadFd::Fd(fd) => {
                        conn.awaiting_subscriber_fd = false;
                        conn.partial = None;
                        if self.attach_subscriber(id, fd) {
                            self.handle_request(id, Request::Subscribe);
                        }
                        continue;
                    }
                }
            }
            if *frames_left == 0 {
                return Step::Budget;
            }
            let (frame, used) = match parse_frame(conn.input.pending(), self.limits.max_frame_len) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    if conn.input.pending().is_empty() {
                        conn.partial = None;
                    } else {
                        conn.mark_partial(Instant::now());
                    }
                    return Step::NeedBytes;
                }
                Err(e) => {
                    self.doom(id, DropReason::Loud(format!("bad frame header: {e}")));
                    return Step::Gone;
                }
            };
            conn.partial = None;
            let request = match decode_request(frame.msg_type, frame.payload) {
                Ok(r) => r,
                Err(e) => {
                    let reason = format!("undecodable frame of type {}: {e}", frame.msg_type);
                    self.doom(id, DropReason::Loud(reason));
                    return Step::Gone;
                }
            };
            if request.expects_reply() && self.store.has_pending_get(id) {
                conn.blocked = true;
                return Step::Blocked;
            }
            conn.blocked = false;
            *frames_left -= 1;
            match request {
                Request::Disconnect => {
                    self.doom(id, DropReason::Quiet("client sent DisconnectClient".into()));
                    return Step::Gone;
                }
                Request::Subscribe => {
                    conn.input.consume(used);
                    conn.awaiting_subscriber_fd = true;
                }
                Request::Attach => {
                    conn.input.consume(used);
                    self.make_hold_table(id);
                    self.handle_request(id, Request::Attach);
                }
                request => {
                    let started = Instant::now();
                    let kind = request.message_type();
                    // `request` borrows the input buffer: hand it to the core
                    // before the frame's bytes are released. A deferred one
                    // keeps its bytes, to be handed in again.
                    let mut out = Outcome::default();
                    let result = self.store.handle(id, request, &Clock::system(), &mut out);
                    let deferred = matches!(result, Ok(Handled::Deferred));
                    if let Some(conn) = self.conns.get_mut(&id) {
                        if deferred {
                            conn.deferred = true;
                        } else {
                            conn.input.consume(used);
                        }
                    }
                    self.perform(out);
                    if deferred {
                        // Timed once, when handed in for the last time.
                        return Step::Blocked;
                    }
                    self.observer.latencies.record(kind, started.elapsed());
                    if let Err(v) = result {
                        self.doom(id, DropReason::Loud(format!("protocol violation: {v}")));
                        return Step::Gone;
                    }
                }
            }
        }
    }

    /// Hands one request that borrows nothing to the core and performs the
    /// outcome; a violation drops the connection.
    fn handle_request(&mut self, id: ClientId, request: Request<'_>) {
        let started = Instant::now();
        let kind = request.message_type();
        let mut out = Outcome::default();
        let result = self.store.handle(id, request, &Clock::system(), &mut out);
        self.perform(out);
        self.observer.latencies.record(kind, started.elapsed());
        if let Err(v) = result {
            self.doom(id, DropReason::Loud(format!("protocol violation: {v}")));
        }
    }
}
