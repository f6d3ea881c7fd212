//! Letting clients in: accept while there is room, refuse explicitly past
//! `--max-clients`, and wait for a free descriptor when the process has
//! none left.
//!
//! The listener is edge-triggered: an accept that fails for want of a
//! descriptor leaves the peers in the backlog and no new event comes for
//! them. So the loop remembers it is *paused* and accepts again as soon as
//! it closes a descriptor of its own (a connection or a notification socket
//! dropped), and at the latest after [`PAUSED_RETRY`] (descriptors freed
//! elsewhere, when the whole system ran out). Nothing is tried in between,
//! so a paused store sleeps like an idle one.

use std::time::{Duration, Instant};

use super::event_loop::EventLoop;
use super::listener::Accepted;

/// Longest wait between two accept attempts while paused.
pub(super) const PAUSED_RETRY: Duration = Duration::from_secs(1);

/// Admission state kept by the loop.
#[derive(Debug, Default)]
pub(super) struct Admission {
    /// Clients refused since the store last had room (0: not refusing).
    refused_in_burst: u64,
    /// Out of descriptors since this instant; accept again when one frees.
    paused_since: Option<Instant>,
    /// A descriptor of ours was closed since the last accept attempt.
    freed: bool,
}

impl Admission {
    /// When the loop must try accepting again at the latest.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.paused_since.map(|t| t + PAUSED_RETRY)
    }

    /// Notes that the loop closed one of its descriptors.
    pub(super) fn note_freed(&mut self) {
        self.freed = true;
    }
}

impl EventLoop {
    /// Accepts every pending client there is room and a descriptor for;
    /// past `max_clients`, accepts and closes each (one log line when the
    /// refusing starts, one when it ends).
    pub(super) fn accept_all(&mut self) {
        self.admission.freed = false;
        loop {
            if self.conns.len() >= self.max_clients {
                match self.listener.refuse() {
                    Ok(true) => {
                        if self.admission.refused_in_burst == 0 {
                            tracing::warn!(
                                max_clients = self.max_clients,
                                "{} clients connected, the most --max-clients allows: refusing new ones",
                                self.conns.len()
                            );
                        }
                        self.admission.refused_in_burst += 1;
                        continue;
                    }
                    Ok(false) => return,
                    Err(e) => {
                        self.pause(&format!("refusing a client failed: {e}"));
                        return;
                    }
                }
            }
            match self.listener.accept(&mut self.peer_log) {
                Ok(Accepted::Client { stream, pid }) => {
                    self.end_refusals();
                    if self.admission.paused_since.take().is_some() {
                        tracing::info!("descriptors free again: accepting clients");
                    }
                    self.add_connection(stream, pid);
                }
                Ok(Accepted::Empty) => return,
                Ok(Accepted::NoDescriptor) => {
                    self.pause("no descriptor left to accept a client with");
                    return;
                }
                Err(e) => {
                    self.pause(&format!("accepting a client failed: {e}"));
                    return;
                }
            }
        }
    }

    /// Accepts again if paused and a descriptor was freed or the retry time
    /// has come (called once per loop turn).
    pub(super) fn resume_accepting(&mut self, now: Instant) {
        let due = self.admission.retry_at().is_some_and(|t| now >= t);
        if self.admission.paused_since.is_some() && (self.admission.freed || due) {
            self.admission.paused_since = Some(now);
            self.accept_all();
        }
        if self.conns.len() < self.max_clients {
            self.end_refusals();
        }
    }

    fn pause(&mut self, why: &str) {
        if self.admission.paused_since.is_none() {
            tracing::warn!(
                clients = self.conns.len(),
                "{why}: new clients wait until a descriptor is free"
            );
        }
        self.admission.paused_since = Some(Instant::now());
    }

    fn end_refusals(&mut self) {
        let refused = std::mem::take(&mut self.admission.refused_in_burst);
        if refused > 0 {
            tracing::info!("room for clients again; {refused} refused meanwhile");
        }
    }
}
