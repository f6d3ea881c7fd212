//! Get and its waiting (protocol.md §10.7, §14.11).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use plasma_protocol::{ObjectId, ObjectSpec, Reply};

use super::table::State;
use super::{ClientId, Clock, Effect, Outcome, Store, Violation};

/// A Get that is waiting for objects (or a Contains waiting for a
/// restore).
#[derive(Debug)]
pub struct PendingGet {
    /// The requested ids, duplicates included, in request order.
    ids: Vec<ObjectId>,
    /// Distinct ids not satisfied yet.
    missing: HashSet<ObjectId>,
    /// When the timer fires; `None` waits forever, or (`expired`) no more.
    deadline: Option<Instant>,
    /// The timeout has passed (or was 0): answer as soon as no restore it
    /// waits for is under way. Restores are not cut short by a timeout:
    /// the object exists, only its bytes are on their way.
    expired: bool,
    /// A Contains: answered with whether the object is there, no hold.
    contains: bool,
}

#[cfg(any(test, feature = "invariants"))]
impl PendingGet {
    /// When the timer fires; `None` waits forever.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether `id` is still missing.
    pub fn is_missing(&self, id: &ObjectId) -> bool {
        self.missing.contains(id)
    }

    /// Whether its timeout has passed.
    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// The ids still missing.
    pub fn missing(&self) -> impl Iterator<Item = &ObjectId> {
        self.missing.iter()
    }
}

impl Store {
    /// Get (§10.7): holds what is sealed (restoring evicted objects), then
    /// replies at once if everything is there or the timeout says so,
    /// otherwise waits for seals or the deadline. Spilled objects are
    /// brought back first, whatever the timeout: the reply waits for their
    /// restores.
    pub(super) fn get(
        &mut self,
        client: ClientId,
        ids: Vec<ObjectId>,
        timeout_ms: i64,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Result<(), Violation> {
        if self.has_pending_get(client) {
            return Err(Violation::GetWhilePending);
        }
        let mut missing = HashSet::new();
        // Evicted objects that could not be brought back: the real store
        // neither satisfies nor watches them, so only the timer ends the Get.
        let mut unwatched = HashSet::new();
        let mut restoring = false;
        let mut seen = HashSet::with_capacity(ids.len());
        for &id in &ids {
            if !seen.insert(id) {
                continue;
            }
            let Some(slot) = self.table.find(&id) else {
                missing.insert(id);
                continue;
            };
            match self.table.get(slot).state {
                State::Sealed | State::Spilling => self.hold(client, slot),
                State::Evicted => {
                    if self.restore(slot, clock.unix_secs, out) {
                        self.hold(client, slot);
                    } else {
                        missing.insert(id);
                        unwatched.insert(id);
                    }
                }
                // Not brought back (no memory now): "not available".
                State::Spilled | State::Restoring => {
                    if self.bring_back(slot, out) {
                        missing.insert(id);
                        restoring = true;
                    }
                }
                // Unsealed (also for its creator).
                State::Created | State::Vacant => {
                    missing.insert(id);
                }
            }
        }
        // -1 waits forever; 0 and other negative values answer at once.
        let at_once = timeout_ms == 0 || timeout_ms < -1;
        if missing.is_empty() || (at_once && !restoring) {
            let effect = self.get_reply(client, ids, &missing);
            out.effects.push(effect);
            return Ok(());
        }
        let deadline = u64::try_from(timeout_ms)
            .ok()
            .filter(|_| !at_once)
            .and_then(|ms| clock.now.checked_add(Duration::from_millis(ms)));
        for id in missing.iter().filter(|id| !unwatched.contains(*id)) {
            self.waiters.entry(*id).or_default().push(client);
        }
        if let Some(t) = deadline {
            self.deadlines.insert((t, client));
        }
        self.clients.entry(client).or_default().pending_get = Some(PendingGet {
            ids,
            missing,
            deadline,
            expired: at_once,
            contains: false,
        });
        Ok(())
    }

    /// Contains of a spilled object: brings it back, and answers once its
    /// restore has ended (whether it is still there then). False when it
    /// cannot be brought back now: the caller answers at once.
    pub(super) fn contains_after_restore(
        &mut self,
        client: ClientId,
        slot: u32,
        out: &mut Outcome,
    ) -> bool {
        if !self.bring_back(slot, out) {
            return false;
        }
        let id = self.table.get(slot).id;
        self.waiters.entry(id).or_default().push(client);
        self.clients.entry(client).or_default().pending_get = Some(PendingGet {
            ids: vec![id],
            missing: HashSet::from([id]),
            deadline: None,
            expired: true,
            contains: true,
        });
        true
    }

    /// `slot` was just sealed: every Get waiting for it takes a hold, and
    /// those now complete are answered (§10.4: before the SealReply).
    pub(super) fn wake_waiters(&mut self, slot: u32, out: &mut Outcome) {
        if self.waiters.is_empty() {
            return; // the common case: no hashing at all
        }
        let id = self.table.get(slot).id;
        self.settle_waiters(id, Some(slot), out);
    }

    /// The requests waiting for `id` stop waiting for it: with the object
    /// (`slot`, readable: Gets take a hold), or without (its restore failed
    /// or it is gone). Those now complete are answered.
    pub(super) fn settle_waiters(&mut self, id: ObjectId, slot: Option<u32>, out: &mut Outcome) {
        let Some(waiting) = self.waiters.remove(&id) else {
            return;
        };
        for c in waiting {
            let Some(pg) = self
                .clients
                .get_mut(&c)
                .and_then(|s| s.pending_get.as_mut())
            else {
                continue;
            };
            if !pg.missing.remove(&id) {
                continue;
            }
            let holds = !pg.contains;
            if let (Some(slot), true) = (slot, holds) {
                self.hold(c, slot);
            }
            if self.get_complete(c) {
                self.finish_get(c, out);
            }
        }
    }

    /// Whether `client`'s pending Get can be answered: nothing missing, or
    /// its time is up and no restore it waits for is under way.
    fn get_complete(&self, client: ClientId) -> bool {
        self.clients
            .get(&client)
            .and_then(|s| s.pending_get.as_ref())
            .is_some_and(|pg| {
                pg.missing.is_empty()
                    || (pg.expired && !pg.missing.iter().any(|id| self.restore_pending(id)))
            })
    }

    /// The timeout of `client`'s pending Get has passed: it is answered,
    /// unless restores it waits for are under way (then when they end).
    pub(super) fn get_timed_out(&mut self, client: ClientId, out: &mut Outcome) {
        let Some(pg) = self
            .clients
            .get_mut(&client)
            .and_then(|s| s.pending_get.as_mut())
        else {
            return;
        };
        if let Some(t) = pg.deadline.take() {
            self.deadlines.remove(&(t, client));
        }
        pg.expired = true;
        if self.get_complete(client) {
            self.finish_get(client, out);
        }
    }

    /// Answers `client`'s pending Get with whatever is there now.
    pub(super) fn finish_get(&mut self, client: ClientId, out: &mut Outcome) {
        let Some(pg) = self.drop_pending_get(client) else {
            return;
        };
        if pg.contains {
            let id = pg.ids.first().copied().unwrap_or_default();
            let has_object = self.has_object(&id);
            out.reply(client, Reply::Contains { id, has_object });
            return;
        }
        let effect = self.get_reply(client, pg.ids, &pg.missing);
        out.effects.push(effect);
    }

    /// Forgets `client`'s pending Get (its deadline and waiter entries).
    pub(super) fn drop_pending_get(&mut self, client: ClientId) -> Option<PendingGet> {
        let pg = self.clients.get_mut(&client)?.pending_get.take()?;
        if let Some(t) = pg.deadline {
            self.deadlines.remove(&(t, client));
        }
        for id in &pg.missing {
            if let Some(list) = self.waiters.get_mut(id) {
                list.retain(|&c| c != client);
                if list.is_empty() {
                    self.waiters.remove(id);
                }
            }
        }
        Some(pg)
    }

    /// The GetReply: one spec per position (absent → data_size all ones),
    /// the distinct segments of found objects, and the fds new to `client`.
    /// Every found object is held by `client` (re-held if the client
    /// released it while its Get was pending).
    fn get_reply(
        &mut self,
        client: ClientId,
        ids: Vec<ObjectId>,
        missing: &HashSet<ObjectId>,
    ) -> Effect {
        let segment = self.config.segment_id;
        let mut any_found = false;
        let mut objects = Vec::with_capacity(ids.len());
        for id in &ids {
            let found = if missing.contains(id) {
                None
            } else {
                self.table
                    .find(id)
                    .filter(|&s| self.table.get(s).state.is_readable())
            };
            objects.push(match found {
                Some(slot) => {
                    self.hold(client, slot);
                    any_found = true;
                    self.table.get(slot).spec(segment)
                }
                None => ObjectSpec::NOT_AVAILABLE,
            });
        }
        let (store_fds, mmap_sizes) = if any_found {
            (vec![segment], vec![self.config.mmap_size])
        } else {
            (Vec::new(), Vec::new())
        };
        let fds = self.new_segments(client, &store_fds);
        Effect::Reply {
            to: client,
            reply: Reply::Get {
                ids,
                objects,
                store_fds,
                mmap_sizes,
            },
            fds,
        }
    }
}
