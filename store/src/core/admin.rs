//! Contains, Evict, RefreshLRU, Subscribe (protocol.md §9,
//! §10.10–§10.12); List is a long reply (long_reply.rs).

use plasma_protocol::{ObjectId, Reply};

use super::table::{ListTag, State};
use super::{Audience, ClientId, Effect, Outcome, Store};

impl Store {
    /// Contains (§10.10): sealed or in the external store.
    pub(super) fn contains(&mut self, client: ClientId, id: ObjectId, out: &mut Outcome) {
        let has_object = self
            .table
            .by_id(&id)
            .is_some_and(|e| matches!(e.state, State::Sealed | State::Evicted));
        out.reply(client, Reply::Contains { id, has_object });
    }

    /// Evict (§10.12): from the global LRU's least recent end until
    /// `num_bytes` are freed; replies the bytes actually evicted.
    pub(super) fn evict_request(&mut self, client: ClientId, num_bytes: u64, out: &mut Outcome) {
        let evicted = self.evict_global(num_bytes, out);
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
    /// table order (unsealed and externally evicted ones skipped). A second
    /// subscribe sends the backlog again (the loop replaces the socket).
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
                .filter(|(_, e)| e.state == State::Sealed)
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
