//! One client connection: its socket, buffered input, queued output, its
//! optional notification socket, and the small state the loop keeps for it.

use std::time::Instant;

use mio::net::UnixStream;

use super::input::InBuf;
use super::output::OutQueue;
use super::subscriber::Subscriber;

/// A connected client.
#[derive(Debug)]
pub struct Connection {
    /// The client's socket (non-blocking).
    pub stream: UnixStream,
    /// Received bytes not handled yet.
    pub input: InBuf,
    /// Replies and fd messages not sent yet.
    pub output: OutQueue,
    /// The notification socket, once the client subscribed.
    pub subscriber: Option<Subscriber>,
    /// The socket may have unread bytes (edge-triggered: cleared on
    /// `WouldBlock` only).
    pub readable: bool,
    /// The peer closed its side; handle what is buffered, then drop.
    pub eof: bool,
    /// A SubscribeRequest was handled; the next byte must carry an fd.
    pub awaiting_subscriber_fd: bool,
    /// The head frame expects a reply but this client's Get is pending.
    pub blocked: bool,
    /// Stream offset and arrival time of an incomplete head frame.
    pub partial: Option<(u64, Instant)>,
    /// Already scheduled for disconnection.
    pub doomed: bool,
    /// Registered for writable events (only while output waits).
    pub write_interest: bool,
    /// This connection's hold table (our `direct` capability), once made.
    pub holds: Option<std::os::fd::OwnedFd>,
    /// The peer's process id at connect (SO_PEERCRED).
    pub pid: i32,
    /// What its input buffer is charged against the input budget.
    pub charged: u64,
    /// A long reply is being built for it; its next frames wait.
    pub busy: bool,
    /// Its head frame was deferred by the core (a create waiting for
    /// spills to free memory): it stays in the input, and is handed in
    /// again when the core resumes the client.
    pub deferred: bool,
}

impl Connection {
    /// A fresh connection over an accepted socket.
    pub fn new(stream: UnixStream, pid: i32) -> Self {
        Connection {
            stream,
            input: InBuf::default(),
            output: OutQueue::default(),
            subscriber: None,
            readable: true,
            eof: false,
            awaiting_subscriber_fd: false,
            blocked: false,
            partial: None,
            doomed: false,
            write_interest: false,
            holds: None,
            pid,
            charged: 0,
            busy: false,
            deferred: false,
        }
    }

    /// Notes that the head frame is incomplete at `now` (keeps the first
    /// time seen for the same frame).
    pub fn mark_partial(&mut self, now: Instant) {
        let head = self.input.head_offset();
        if self.partial.map(|(pos, _)| pos) != Some(head) {
            self.partial = Some((head, now));
        }
    }
}
