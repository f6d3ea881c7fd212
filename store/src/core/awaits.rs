//! Await and Unawait, this store's additions to Plasma 11's protocol
//! (docs/protocol.md §15).
//!
//! A client registers ids; each is pushed to it as one ObjectReady frame,
//! with a hold taken for it as a Get would, the moment the object is
//! sealed, or at once if it is sealed already. Checking and registering is
//! one step here, so no seal can fall between them. A client has at most
//! one registration per id; Unawait answers with the registrations it
//! removed (for the others an ObjectReady went out before the answer), and
//! a client's registrations end with its connection.

use std::collections::{HashMap, HashSet};

use plasma_protocol::{ObjectId, Reply};

use super::table::State;
use super::{ClientId, Clock, Effect, Outcome, Store, Violation};

/// Most registrations one client may hold at a time (about 120 bytes of
/// store memory each); a client asking for more is dropped.
pub const MAX_AWAITED_PER_CLIENT: usize = 1 << 22;

/// Who awaits what.
#[derive(Debug)]
pub(super) struct Awaits {
    /// Object id → clients registered for it.
    by_id: HashMap<ObjectId, Vec<ClientId>>,
    /// Client → the ids it registered (for Unawait, limits and cleanup).
    by_client: HashMap<ClientId, HashSet<ObjectId>>,
    /// Registrations allowed per client.
    limit: usize,
}

impl Default for Awaits {
    fn default() -> Self {
        Self {
            by_id: HashMap::new(),
            by_client: HashMap::new(),
            limit: MAX_AWAITED_PER_CLIENT,
        }
    }
}

impl Awaits {
    /// Registers `client` for `id`; false if it already was.
    fn insert(&mut self, client: ClientId, id: ObjectId) -> Result<bool, Violation> {
        let mine = self.by_client.entry(client).or_default();
        if mine.len() >= self.limit && !mine.contains(&id) {
            return Err(Violation::TooManyAwaited(self.limit));
        }
        if !mine.insert(id) {
            return Ok(false);
        }
        self.by_id.entry(id).or_default().push(client);
        Ok(true)
    }

    /// Removes `client`'s registration for `id`; false if there was none.
    fn remove(&mut self, client: ClientId, id: &ObjectId) -> bool {
        let removed = self
            .by_client
            .get_mut(&client)
            .is_some_and(|mine| mine.remove(id));
        if removed {
            if let Some(list) = self.by_id.get_mut(id) {
                list.retain(|&c| c != client);
                if list.is_empty() {
                    self.by_id.remove(id);
                }
            }
            if self.by_client.get(&client).is_some_and(HashSet::is_empty) {
                self.by_client.remove(&client);
            }
        }
        removed
    }

    /// Takes every registration for `id` (it was just sealed).
    fn take(&mut self, id: &ObjectId) -> Vec<ClientId> {
        if self.by_id.is_empty() {
            return Vec::new(); // the common case: no hashing at all
        }
        let clients = self.by_id.remove(id).unwrap_or_default();
        for c in &clients {
            if let Some(mine) = self.by_client.get_mut(c) {
                mine.remove(id);
                if mine.is_empty() {
                    self.by_client.remove(c);
                }
            }
        }
        clients
    }

    /// Forgets everything `client` registered.
    fn drop_client(&mut self, client: ClientId) {
        for id in self.by_client.remove(&client).unwrap_or_default() {
            if let Some(list) = self.by_id.get_mut(&id) {
                list.retain(|&c| c != client);
                if list.is_empty() {
                    self.by_id.remove(&id);
                }
            }
        }
    }

    /// Number of registrations of every client together.
    pub(super) fn total(&self) -> usize {
        self.by_client.values().map(HashSet::len).sum()
    }

    /// Number of registrations of `client`.
    pub(super) fn count(&self, client: ClientId) -> usize {
        self.by_client.get(&client).map_or(0, HashSet::len)
    }

    /// Both maps describe the same registrations (invariant checks).
    #[cfg(any(test, feature = "invariants"))]
    pub(super) fn is_consistent(&self) -> bool {
        let forward: usize = self.by_id.values().map(Vec::len).sum();
        let backward: usize = self.by_client.values().map(HashSet::len).sum();
        forward == backward
            && self.by_id.iter().all(|(id, clients)| {
                clients
                    .iter()
                    .all(|c| self.by_client.get(c).is_some_and(|m| m.contains(id)))
            })
    }
}

impl Store {
    /// Await: pushes what is sealed now (restoring evicted objects, as a
    /// Get would), registers the rest. A spilled object is brought back and
    /// registered: it is pushed when its restore has ended.
    pub(super) fn await_objects(
        &mut self,
        client: ClientId,
        ids: Vec<ObjectId>,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Result<(), Violation> {
        for id in ids {
            let ready = match self.table.find(&id) {
                Some(slot) => match self.table.get(slot).state {
                    State::Sealed | State::Spilling => Some(slot),
                    State::Evicted => self.restore(slot, clock.unix_secs, out).then_some(slot),
                    State::Spilled | State::Restoring => {
                        // Pushed by the restore's end, if it can start.
                        self.bring_back(slot, out);
                        None
                    }
                    State::Created | State::Vacant => None,
                },
                None => None,
            };
            match ready {
                Some(slot) => {
                    // One push answers a registration left from before (an
                    // evicted object that could not be restored then).
                    self.awaits.remove(client, &id);
                    self.push_ready(client, slot, out);
                }
                None => {
                    self.awaits.insert(client, id)?;
                }
            }
        }
        Ok(())
    }

    /// Unawait: drops `client`'s registrations of `ids` and answers with
    /// those it dropped.
    pub(super) fn unawait(&mut self, client: ClientId, ids: Vec<ObjectId>, out: &mut Outcome) {
        let mut seen = HashSet::with_capacity(ids.len());
        let removed = ids
            .into_iter()
            .filter(|id| seen.insert(*id) && self.awaits.remove(client, id))
            .collect();
        out.reply(client, Reply::Unawait { removed });
    }

    /// `slot` was just sealed: every client awaiting it gets it pushed.
    pub(super) fn push_awaited(&mut self, slot: u32, out: &mut Outcome) {
        self.push_awaited_but(slot, None, out);
    }

    /// As `push_awaited`, except for `creator`, whose transient creator's
    /// hold is about to be dropped (create-and-seal): a push now would share
    /// that hold and lose it. True if `creator` awaited the object too; the
    /// caller then pushes to it with [`Store::push_ready`] after the drop.
    pub(super) fn push_awaited_but(
        &mut self,
        slot: u32,
        creator: Option<ClientId>,
        out: &mut Outcome,
    ) -> bool {
        let id = self.table.get(slot).id;
        let mut creator_awaits = false;
        for client in self.awaits.take(&id) {
            if Some(client) == creator {
                creator_awaits = true;
            } else {
                self.push_ready(client, slot, out);
            }
        }
        creator_awaits
    }

    /// Holds `slot` for `client` and pushes it (with the segment fd if new
    /// to the client).
    pub(super) fn push_ready(&mut self, client: ClientId, slot: u32, out: &mut Outcome) {
        self.hold(client, slot);
        let segment = self.config.segment_id;
        let e = self.table.get(slot);
        let reply = Reply::ObjectReady {
            id: e.id,
            object: e.spec(segment),
            store_fd: segment,
            mmap_size: self.config.mmap_size,
        };
        let fds = self.new_segments(client, &[segment]);
        out.effects.push(Effect::Reply {
            to: client,
            reply,
            fds,
        });
    }

    /// A connection ended: its registrations go.
    pub(super) fn drop_awaits(&mut self, client: ClientId) {
        self.awaits.drop_client(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 20])
    }

    #[test]
    fn both_directions_stay_in_step() {
        let mut a = Awaits::default();
        assert_eq!(a.insert(1, id(1)), Ok(true));
        assert_eq!(a.insert(1, id(1)), Ok(false));
        assert_eq!(a.insert(2, id(1)), Ok(true));
        assert_eq!(a.insert(2, id(2)), Ok(true));
        assert!(a.is_consistent());
        assert!(a.remove(2, &id(2)));
        assert!(!a.remove(2, &id(2)));
        assert_eq!(a.take(&id(1)), vec![1, 2]);
        assert!(a.is_consistent());
        assert_eq!((a.count(1), a.count(2)), (0, 0));
        a.insert(3, id(5)).unwrap();
        a.drop_client(3);
        assert!(a.by_id.is_empty() && a.by_client.is_empty());
    }

    #[test]
    fn a_client_past_its_limit_is_refused() {
        let mut a = Awaits {
            limit: 2,
            ..Awaits::default()
        };
        a.insert(1, id(1)).unwrap();
        a.insert(1, id(2)).unwrap();
        assert_eq!(a.insert(1, id(2)), Ok(false), "a repeat costs nothing");
        assert_eq!(a.insert(1, id(3)), Err(Violation::TooManyAwaited(2)));
        assert_eq!(a.insert(2, id(3)), Ok(true), "limits are per client");
    }
}
