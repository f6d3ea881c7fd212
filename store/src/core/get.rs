//! Get and its waiting (protocol.md §10.7, §14.11).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use plasma_protocol::{ObjectId, ObjectSpec, Reply};

use super::table::State;
use super::{ClientId, Clock, Effect, Outcome, Store, Violation};

/// A Get that is waiting for objects.
#[derive(Debug)]
pub struct PendingGet {
    /// The requested ids, duplicates included, in request order.
    ids: Vec<ObjectId>,
    /// Distinct ids not satisfied yet.
    missing: HashSet<ObjectId>,
    /// When the timer fires; `None` waits forever.
    deadline: Option<Instant>,
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
}

impl Store {
    /// Get (§10.7): holds what is sealed (restoring evicted objects), then
    /// replies at once if everything is there or the timeout says so,
    /// otherwise waits for seals or the deadline.
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
        let mut seen = HashSet::with_capacity(ids.len());
        for &id in &ids {
            if !seen.insert(id) {
                continue;
            }
            match self.table.find(&id) {
                Some(slot) if self.table.get(slot).state == State::Sealed => {
                    self.hold(client, slot)
                }
                Some(slot) if self.table.get(slot).state == State::Evicted => {
                    if self.restore(slot, clock.unix_secs, out) {
                        self.hold(client, slot);
                    } else {
                        missing.insert(id);
                        unwatched.insert(id);
                    }
                }
                // Absent, or unsealed (also for its creator).
                _ => {
                    missing.insert(id);
                }
            }
        }
        // -1 waits forever; 0 and other negative values answer at once.
        if missing.is_empty() || timeout_ms == 0 || timeout_ms < -1 {
            let effect = self.get_reply(client, ids, &missing);
            out.effects.push(effect);
            return Ok(());
        }
        let deadline = u64::try_from(timeout_ms)
            .ok()
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
        });
        Ok(())
    }

    /// `slot` was just sealed: every Get waiting for it takes a hold, and
    /// those now complete are answered (§10.4: before the SealReply).
    pub(super) fn wake_waiters(&mut self, slot: u32, out: &mut Outcome) {
        if self.waiters.is_empty() {
            return; // the common case: no hashing at all
        }
        let id = self.table.get(slot).id;
        let Some(waiting) = self.waiters.remove(&id) else {
            return;
        };
        for c in waiting {
            let satisfied = self
                .clients
                .get_mut(&c)
                .and_then(|s| s.pending_get.as_mut())
                .is_some_and(|pg| pg.missing.remove(&id));
            if !satisfied {
                continue;
            }
            self.hold(c, slot);
            let done = self
                .clients
                .get(&c)
                .and_then(|s| s.pending_get.as_ref())
                .is_some_and(|pg| pg.missing.is_empty());
            if done {
                self.finish_get(c, out);
            }
        }
    }

    /// Answers `client`'s pending Get with whatever is there now.
    pub(super) fn finish_get(&mut self, client: ClientId, out: &mut Outcome) {
        if let Some(pg) = self.drop_pending_get(client) {
            let effect = self.get_reply(client, pg.ids, &pg.missing);
            out.effects.push(effect);
        }
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
                    .filter(|&s| self.table.get(s).state == State::Sealed)
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
