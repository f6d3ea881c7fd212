//! Which ids this client has registered with the store's Await (our
//! protocol addition, used when the store offers it), as a pure state
//! machine owned by the driver.
//!
//! The store pushes each registered id exactly once as ObjectReady, with a
//! hold, unless an Unawait removes the registration first; the Unawait
//! reply names the registrations it removed. So per id the client is in
//! one of three states, and a Release of the id must wait while a push may
//! still come (the push's hold and an earlier hold are the same one, as
//! for a Get; see `holds.rs`): from the Await until the push, or until the
//! Unawait reply that removed it, [`AwaitTable::push_may_come`] is true and
//! the driver defers such a Release.

use std::collections::{HashMap, HashSet};

use plasma_protocol::ObjectId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// An Await is written or queued; a push may come.
    Registered,
    /// An Unawait is written; `rearm`: a future wants the id again, so it
    /// is awaited anew if the Unawait removed the registration.
    Cancelling { rearm: bool },
}

/// What an Unawait reply means for one id it removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unawaited {
    /// No push will come: a Release deferred for it may go now.
    Finished(ObjectId),
    /// A future wants it again: an Await is queued, a push may come.
    Reawait(ObjectId),
}

/// Registration states and the Await/Unawait batches of the next round.
#[derive(Debug, Default)]
pub(crate) struct AwaitTable {
    state: HashMap<ObjectId, State>,
    to_await: Vec<ObjectId>,
    to_cancel: HashSet<ObjectId>,
}

impl AwaitTable {
    /// A future now waits for `id` (its first waiter).
    pub(crate) fn want(&mut self, id: ObjectId) {
        match self.state.get_mut(&id) {
            None => {
                self.state.insert(id, State::Registered);
                self.to_await.push(id);
            }
            Some(State::Registered) => {
                self.to_cancel.remove(&id);
            }
            Some(State::Cancelling { rearm }) => *rearm = true,
        }
    }

    /// No future waits for `id` any more.
    pub(crate) fn unwant(&mut self, id: ObjectId) {
        match self.state.get_mut(&id) {
            Some(State::Registered) => {
                self.to_cancel.insert(id);
            }
            Some(State::Cancelling { rearm }) => *rearm = false,
            None => {}
        }
    }

    /// No future waits for anything (shutdown).
    pub(crate) fn unwant_all(&mut self) {
        let ids: Vec<ObjectId> = self.state.keys().copied().collect();
        for id in ids {
            self.unwant(id);
        }
    }

    /// The batches to write now: ids to Await, ids to Unawait (those then
    /// wait for their Unawait reply).
    pub(crate) fn take_batches(&mut self) -> (Vec<ObjectId>, Vec<ObjectId>) {
        let awaits: Vec<ObjectId> = std::mem::take(&mut self.to_await);
        let mut cancels: Vec<ObjectId> = self.to_cancel.drain().collect();
        cancels.sort_unstable();
        for id in &cancels {
            self.state.insert(*id, State::Cancelling { rearm: false });
        }
        if self.state.is_empty() && self.state.capacity() > 1024 {
            self.state = HashMap::new();
        }
        (awaits, cancels)
    }

    /// The store pushed `id`: its registration is over. False if no push
    /// was possible (the store sent one it owed us nothing for).
    pub(crate) fn pushed(&mut self, id: ObjectId) -> bool {
        self.to_cancel.remove(&id);
        self.state.remove(&id).is_some()
    }

    /// An Unawait reply: `removed` are the registrations it ended (ids of
    /// its request not named were pushed before it).
    pub(crate) fn unawaited(&mut self, removed: &[ObjectId]) -> Vec<Unawaited> {
        let mut out = Vec::with_capacity(removed.len());
        for id in removed {
            match self.state.get(id) {
                Some(State::Cancelling { rearm: true }) => {
                    self.state.insert(*id, State::Registered);
                    self.to_await.push(*id);
                    out.push(Unawaited::Reawait(*id));
                }
                Some(State::Cancelling { rearm: false }) => {
                    self.state.remove(id);
                    out.push(Unawaited::Finished(*id));
                }
                // Not cancelling: the store removed what we did not ask it
                // to; nothing is in flight for it on our side.
                Some(State::Registered) | None => {}
            }
        }
        out
    }

    /// Whether the store may still push `id` (a Release of it must wait,
    /// module doc).
    pub(crate) fn push_may_come(&self, id: &ObjectId) -> bool {
        self.state.contains_key(id)
    }

    /// Ids registered or being cancelled.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 20])
    }

    #[test]
    fn a_new_waiter_registers_once_and_a_push_ends_it() {
        let mut t = AwaitTable::default();
        t.want(id(1));
        t.want(id(1));
        assert!(t.push_may_come(&id(1)));
        assert_eq!(t.take_batches(), (vec![id(1)], vec![]));
        assert!(t.pushed(id(1)));
        assert!(!t.pushed(id(1)), "one push per registration");
        assert!(!t.push_may_come(&id(1)));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_cancel_then_the_unawait_reply_finishes_the_id() {
        let mut t = AwaitTable::default();
        t.want(id(1));
        t.take_batches();
        t.unwant(id(1));
        assert_eq!(t.take_batches(), (vec![], vec![id(1)]));
        assert_eq!(t.unawaited(&[id(1)]), vec![Unawaited::Finished(id(1))]);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_push_that_overtakes_the_unawait_ends_the_id_and_the_reply_names_nothing() {
        let mut t = AwaitTable::default();
        t.want(id(1));
        t.take_batches();
        t.unwant(id(1));
        t.take_batches();
        assert!(t.pushed(id(1)));
        assert!(t.unawaited(&[]).is_empty());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn wanting_again_while_cancelling_awaits_again_after_the_reply() {
        let mut t = AwaitTable::default();
        t.want(id(1));
        t.take_batches();
        t.unwant(id(1));
        t.take_batches();
        t.want(id(1));
        assert_eq!(t.unawaited(&[id(1)]), vec![Unawaited::Reawait(id(1))]);
        assert_eq!(t.take_batches(), (vec![id(1)], vec![]));
        assert!(t.pushed(id(1)));
    }

    #[test]
    fn a_cancel_undone_in_the_same_round_sends_no_unawait() {
        let mut t = AwaitTable::default();
        t.want(id(1));
        t.take_batches();
        t.unwant(id(1));
        t.want(id(1));
        assert_eq!(t.take_batches(), (vec![], vec![]));
    }

    #[test]
    fn unwant_all_cancels_every_registration() {
        let mut t = AwaitTable::default();
        t.want(id(1));
        t.want(id(2));
        t.take_batches();
        t.unwant_all();
        let (awaits, mut cancels) = t.take_batches();
        cancels.sort_unstable();
        assert!(awaits.is_empty());
        assert_eq!(cancels, vec![id(1), id(2)]);
    }
}
