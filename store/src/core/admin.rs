//! Contains, Evict, RefreshLRU, Subscribe (protocol.md §9,
//! §10.10–§10.12); List is a long reply (long_reply.rs).

use plasma_protocol::{ObjectId, Reply};

use super::space::Eviction;
use super::table::{ListTag, State};
use super::{Audience, ClientId, Effect, Outcome, Store};

impl Store {
    /// Contains (§10.10): sealed (wherever its bytes are) or in the
    /// external store. A spilled object is brought back first: the answer
    /// waits for its restore (0 if that fails).
    pub(super) fn contains(&mut self, client: ClientId, id: ObjectId, out: &mut Outcome) {
        let spilled = self
            .table
            .find(&id)
            .filter(|&s| matches!(self.table.get(s).state, State::Spilled | State::Restoring));
        if let Some(slot) = spilled {
            if self.contains_after_restore(client, slot, out) {
                return;
            }
        }
        let has_object = self.has_object(&id);
        out.reply(client, Reply::Contains { id, has_object });
    }

    /// What Contains answers for `id` now.
    pub(super) fn has_object(&self, id: &ObjectId) -> bool {
        self.table
            .by_id(id)
            .is_some_and(|e| e.state.is_sealed() || e.state == State::Evicted)
    }

    /// Evict (§10.12): from the global LRU's least recent end until
    /// `num_bytes` are freed; replies the bytes actually evicted. Objects
    /// are deleted even with spilling on: a client that asks for an
    /// eviction asks for Plasma's (pyarrow's suite expects its deletion
    /// notifications); spilling is for memory pressure.
    pub(super) fn evict_request(&mut self, client: ClientId, num_bytes: u64, out: &mut Outcome) {
        let evicted = self.evict_global(num_bytes, Eviction::Drop, out);
        out.reply(client, Reply::Evict { num_bytes: evicted });
    }

    /// RefreshLRU (§10.12): listed ids in the global LRU move to its most
    /// recent end, in the order given; others are ignored.
    pub(super) fn refresh_lru(&mut self, client: ClientId, ids: &[ObjectId], out: &mut Outcome) {
        for id in ids {
            if let Some(slot) = self.table.find(id) {
                if self.table.get(slot).list == ListTag::Global {
                    self.global_lru.remove(&mut self.table, slot);
                    self.lru_append(slot);
                }
            }
        }
        out.reply(client, Reply::RefreshLru);
    }

    /// Subscribe (§9): from now on seal and deletion notifications go to
    /// this client; first the backlog, one message per sealed object in
    /// table order (unsealed and externally evicted ones skipped; spilled
    /// ones are sealed objects). A second subscribe sends the backlog again
    /// (the loop replaces the socket).
    pub(super) fn subscribe(&mut self, client: ClientId, out: &mut Outcome) {
        let c = self.clients.entry(client).or_default();
        if !c.subscribed {
            c.subscribed = true;
            self.subscribers += 1;
        }
        let mut backlog = Vec::with_capacity(self.table.len());
        backlog.extend(
            self.table
                .iter()
                .filter(|(_, e)| e.state.is_sealed())
                .map(|(_, e)| e.seal_info()),
        );
        if !backlog.is_empty() {
            out.effects.push(Effect::NotifyEach {
                to: Audience::Client(client),
                infos: backlog,
            });
        }
    }
}
