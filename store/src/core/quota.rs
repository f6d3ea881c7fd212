//! Per-client output quotas (protocol.md §10.13).
//!
//! A client granted quota `q` owns the objects it creates afterwards: they
//! sit in its private list (creation order, held or not) instead of the
//! global LRU, and count against `q`. Creating beyond `q` evicts the oldest
//! owned objects; a held one is demoted instead (it joins the global LRU on
//! its last release). Global eviction never touches owned objects.

use plasma_protocol::{ErrorCode, Reply};

use super::lru::LruList;
use super::space::Eviction;
use super::table::{ListTag, State};
use super::{ClientId, Outcome, Store};

/// A granted quota.
#[derive(Debug)]
pub struct Quota {
    /// Bytes granted.
    pub capacity: u64,
    /// Owned objects, oldest first; `list.bytes()` is the quota's use.
    pub list: LruList,
    /// Objects chosen for eviction or demotion so far.
    pub evictions: u64,
    /// Their bytes.
    pub bytes_evicted: u64,
}

impl Store {
    /// SetOptions (§10.13). The name is set even when the quota is refused.
    /// A quota can be granted once per connection; it is granted iff the
    /// global LRU keeps at least 30 % of the capacity. Negative quotas are
    /// refused (the real store would grant them and then refuse every
    /// create).
    pub(super) fn set_options(
        &mut self,
        client: ClientId,
        name: String,
        quota: i64,
        out: &mut Outcome,
    ) {
        let cap = i128::from(self.config.capacity);
        let global = i128::from(self.global_lru_capacity);
        let c = self.clients.entry(client).or_default();
        c.name = name;
        let q = i128::from(quota);
        let granted = c.quota.is_none() && q >= 0 && (global - q) * 10 >= cap * 3;
        if granted {
            self.global_lru_capacity -= quota;
            c.quota = Some(Quota {
                capacity: quota.unsigned_abs(),
                list: LruList::new(ListTag::Quota),
                evictions: 0,
                bytes_evicted: 0,
            });
        }
        let error = if granted {
            ErrorCode::Ok
        } else {
            ErrorCode::OutOfMemory
        };
        out.reply(client, Reply::SetOptions { error });
    }

    /// Before a create of `size` bytes by `client`: false if the object can
    /// never fit its quota; otherwise makes room in the quota by evicting
    /// (or demoting, if held or unsealed) its oldest owned objects.
    pub(super) fn enforce_quota(&mut self, client: ClientId, size: u64, out: &mut Outcome) -> bool {
        let Some(q) = self.clients.get(&client).and_then(|c| c.quota.as_ref()) else {
            return true;
        };
        if size > q.capacity {
            return false;
        }
        let remaining = q.capacity.saturating_sub(q.list.bytes());
        if remaining >= size {
            return true;
        }
        let to_free = size - remaining;
        self.sync_holds(out);
        let mut freed = 0u64;
        while freed < to_free {
            let Some(q) = self.clients.get_mut(&client).and_then(|c| c.quota.as_mut()) else {
                break;
            };
            let Some(slot) = q.list.front() else {
                break;
            };
            q.list.remove(&mut self.table, slot);
            let e = self.table.get(slot);
            let bytes = e.size();
            q.evictions += 1;
            q.bytes_evicted = q.bytes_evicted.saturating_add(bytes);
            freed = freed.saturating_add(bytes);
            if e.state == State::Sealed && e.ref_count == 0 {
                // Held through a slot: pinned, joining the global LRU when
                // released, as a demoted held object does.
                self.evict_object(slot, Eviction::Pressure, out);
            }
        }
        true
    }

    /// A new object of a quota client joins its owner's list.
    pub(super) fn track_owned(&mut self, client: ClientId, slot: u32) {
        if let Some(q) = self.clients.get_mut(&client).and_then(|c| c.quota.as_mut()) {
            q.list.push_back(&mut self.table, slot);
        }
    }

    /// Disconnect: the capacity returns to the global LRU and the owned
    /// objects become ordinary ones (unheld sealed ones join the global LRU
    /// now, oldest first).
    pub(super) fn dissolve_quota(&mut self, client: ClientId) {
        let Some(mut q) = self.clients.get_mut(&client).and_then(|c| c.quota.take()) else {
            return;
        };
        self.global_lru_capacity = self
            .global_lru_capacity
            .saturating_add(i64::try_from(q.capacity).unwrap_or(i64::MAX));
        while let Some(slot) = q.list.front() {
            q.list.remove(&mut self.table, slot);
            let e = self.table.get(slot);
            if e.state == State::Sealed && e.ref_count == 0 {
                self.lru_append(slot);
            }
        }
    }
}
