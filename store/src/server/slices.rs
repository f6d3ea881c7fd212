//! Work too long for one turn, done a slice per turn between other
//! clients' requests: long replies (List, GetDebugString: the core builds
//! them a bounded number of table slots at a time) and notifications (a
//! create that evicts 200,000 objects emits 200,000 messages for every
//! subscriber).
//!
//! Notifications go through one queue, in the order the core emitted them,
//! a bounded number per turn; a subscriber gets those queued after it
//! subscribed. While the queue holds a backlog, a reply may reach its
//! client before the notifications of the same request reach the
//! subscribers (each socket still sees its own messages in order).

use std::collections::{BTreeMap, VecDeque};

use plasma_protocol::ObjectInfo;

use super::event_loop::EventLoop;
use crate::core::{Audience, ClientId, LongReply, LongRequest};

/// Table slots a long reply visits per turn (1-2 ms of a List at 200,000
/// objects, measured; the worst turn stayed under 10 ms of CPU).
pub(super) const SLOTS_PER_TURN: usize = 2048;
/// Notification messages sent per turn (a few microseconds each).
pub(super) const NOTES_PER_TURN: usize = 1024;

/// Queued notifications: one message with all of `infos`, or (`each`)
/// one message per entry, `next` being the first not sent yet.
#[derive(Debug)]
struct Note {
    seq: u64,
    to: Audience,
    infos: Vec<ObjectInfo>,
    each: bool,
    next: usize,
}

/// Notifications not sent yet, and long replies in progress.
#[derive(Debug, Default)]
pub(super) struct Slices {
    notes: VecDeque<Note>,
    next_seq: u64,
    jobs: VecDeque<(ClientId, LongReply)>,
}

impl Slices {
    /// Whether anything waits for a turn.
    pub(super) fn pending(&self) -> bool {
        !self.notes.is_empty() || !self.jobs.is_empty()
    }

    /// Whether notifications are queued.
    pub(super) fn backlogged(&self) -> bool {
        !self.notes.is_empty()
    }

    /// The sequence number the next queued notification gets: a subscriber
    /// attached now receives those from it on.
    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Queues one notification message for all of `infos`, or one per
    /// entry (`each`).
    pub(super) fn push_note(&mut self, to: Audience, infos: Vec<ObjectInfo>, each: bool) {
        if infos.is_empty() && each {
            return;
        }
        self.notes.push_back(Note {
            seq: self.next_seq,
            to,
            infos,
            each,
            next: 0,
        });
        self.next_seq += 1;
    }

    /// The next message to send: its receivers, its sequence number and
    /// its entries; `None` when nothing is queued.
    fn next_message(&mut self) -> Option<(Audience, u64, Vec<ObjectInfo>)> {
        let note = self.notes.front_mut()?;
        let (to, seq) = (note.to, note.seq);
        if !note.each {
            let note = self.notes.pop_front()?;
            return Some((to, seq, note.infos));
        }
        let info = note.infos.get(note.next).cloned();
        note.next += 1;
        if note.next >= note.infos.len() {
            self.notes.pop_front();
        }
        info.map(|i| (to, seq, vec![i]))
    }
}

impl EventLoop {
    /// Starts a long reply for `to`; its later frames wait for it.
    pub(super) fn start_long(&mut self, to: ClientId, request: LongRequest) {
        let Some(conn) = self.conns.get_mut(&to) else {
            return;
        };
        conn.busy = true;
        let job = self.store.start_long(request);
        self.slices.jobs.push_back((to, job));
    }

    /// Advances every long reply by one slice; sends those that are done.
    pub(super) fn advance_jobs(&mut self) {
        for _ in 0..self.slices.jobs.len() {
            let Some((id, mut job)) = self.slices.jobs.pop_front() else {
                break;
            };
            if !self.conns.contains_key(&id) {
                continue;
            }
            let Some(frame) = self.store.advance_long(&mut job, SLOTS_PER_TURN) else {
                self.slices.jobs.push_back((id, job));
                continue;
            };
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            let before = conn.output.queued();
            conn.output.push_frame(frame);
            conn.busy = false;
            self.ready.insert(id);
            self.flush_connection(id, Some(before));
        }
    }

    /// Sends up to `limit` queued notifications. `judge`: the subscribers'
    /// queue caps judge what was queued before (off while a backlog drains,
    /// which counts as one large fresh batch, like one large reply).
    pub(super) fn deliver_notes(&mut self, limit: usize, judge: bool) {
        let mut notified: BTreeMap<ClientId, Option<u64>> = BTreeMap::new();
        for _ in 0..limit {
            let Some((to, seq, infos)) = self.slices.next_message() else {
                break;
            };
            let mut message = Vec::new();
            self.encoder.encode_notification(&infos, &mut message);
            let (everyone, only) = match to {
                Audience::Subscribers => (true, None),
                Audience::Client(id) => (false, Some(id)),
            };
            let receivers = self
                .subscribers
                .iter()
                .copied()
                .filter(|_| everyone)
                .chain(only);
            for id in receivers {
                let Some(sub) = self.conns.get_mut(&id).and_then(|c| c.subscriber.as_mut()) else {
                    continue;
                };
                if sub.since > seq {
                    continue;
                }
                notified.entry(id).or_insert(judge.then(|| sub.queued()));
                sub.push(message.clone());
            }
        }
        for (id, before) in notified {
            self.flush_subscriber(id, before);
        }
    }
}
