//! The router's Gets (waiting through notifications, Arrow Plasma 11's
//! way): one batched timeout-0 Get per round for every awaited id that was
//! registered or notified since the last round, and the buffers its reply
//! brings to the waiting futures.
//!
//! Unlike a caller's get, a fetch never delays a Release (a caller who
//! drops its last buffer and then deletes the object must find it
//! released, whatever the router has in flight). Instead, a fetch written
//! before a Release of the same id is not trusted for that id: the store
//! may have answered it from the hold the Release drops, so no buffer is
//! made from it, and the id is fetched again if still awaited.

use std::collections::HashMap;

use plasma_protocol::{ObjectId, Request};

use super::pairing::Expect;
use super::{Driver, MAX_IDS_PER_GET};
use crate::connection::{locate, Answer};
use crate::error::CallError;

/// Which ids to fetch, and which answers of the fetches in flight can be
/// trusted.
#[derive(Debug, Default)]
pub(super) struct Fetches {
    /// Release and fetch frames written so far.
    seq: u64,
    /// Id → fetches of it in flight.
    in_flight: HashMap<ObjectId, u32>,
    /// Id → `seq` of the last Release of it written while a fetch of it
    /// was in flight.
    released_at: HashMap<ObjectId, u64>,
    /// Ids to fetch in this round's Get (deduplicated when sent).
    wanted: Vec<ObjectId>,
}

impl Fetches {
    /// `id` is to be fetched in the next batch.
    pub(super) fn want(&mut self, id: ObjectId) {
        self.wanted.push(id);
    }

    /// Nothing is to be fetched any more (no future waits).
    pub(super) fn forget_wanted(&mut self) {
        self.wanted = Vec::new();
    }

    /// This round's Gets: every id wanted since the last round that
    /// `still_wanted`, once, at most [`MAX_IDS_PER_GET`] a Get.
    fn take_batches(&mut self, still_wanted: impl Fn(&ObjectId) -> bool) -> Vec<Vec<ObjectId>> {
        // Taken, not cleared: the next round starts with no capacity kept.
        let mut ids = std::mem::take(&mut self.wanted);
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| still_wanted(id));
        ids.chunks(MAX_IDS_PER_GET)
            .map(<[ObjectId]>::to_vec)
            .collect()
    }

    /// A Get of `ids` (distinct) is written; returns its `seq`.
    fn sent(&mut self, ids: &[ObjectId]) -> u64 {
        self.seq += 1;
        for id in ids {
            *self.in_flight.entry(*id).or_insert(0) += 1;
        }
        self.seq
    }

    /// A Release of `id` is written.
    pub(super) fn released(&mut self, id: ObjectId) {
        self.seq += 1;
        if self.in_flight.contains_key(&id) {
            self.released_at.insert(id, self.seq);
        }
    }

    /// The fetch written as `seq` answered for `id`: whether that answer
    /// can be trusted (no Release of `id` was written after the fetch).
    fn answered(&mut self, id: &ObjectId, seq: u64) -> bool {
        let trusted = !matches!(self.released_at.get(id), Some(at) if *at > seq);
        match self.in_flight.get_mut(id) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                self.in_flight.remove(id);
                self.released_at.remove(id);
            }
        }
        trusted
    }

    /// A burst of fetches must not leave its table capacity behind.
    fn shrink(&mut self) {
        if self.in_flight.is_empty() && self.in_flight.capacity() > 1024 {
            self.in_flight = HashMap::new();
        }
    }
}

impl Driver {
    /// This round's router Gets, once the channel is live.
    pub(super) fn send_fetches(&mut self) {
        if self.fetches.wanted.is_empty() || !self.channel.is_live() {
            return;
        }
        let router = &self.router;
        for ids in self.fetches.take_batches(|id| router.wants(id)) {
            let seq = self.fetches.sent(&ids);
            self.stats.router_gets += 1;
            self.stats.router_ids += ids.len() as u64;
            let req = Request::Get {
                ids: ids.clone(),
                timeout_ms: 0,
            };
            self.send(&req, Expect::Fetch { ids, seq });
        }
    }

    /// A router fetch came back: every trusted object found resolves its
    /// waiting futures.
    pub(super) fn on_fetched(
        &mut self,
        answer: &Answer,
        ids: &[ObjectId],
        seq: u64,
    ) -> Result<(), CallError> {
        let views = locate(ids, answer)?;
        for (id, view) in ids.iter().zip(views) {
            let trusted = self.fetches.answered(id, seq);
            let Some((view, data_len)) = view else {
                continue;
            };
            if !trusted {
                if self.router.wants(id) {
                    self.fetches.want(*id);
                }
                continue;
            }
            self.holds.acquire(*id);
            self.resolve_waiters(*id, view, data_len);
        }
        self.fetches.shrink();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 20])
    }

    #[test]
    fn a_batch_names_each_still_wanted_id_once() {
        let mut f = Fetches::default();
        for n in [3, 1, 3, 2, 1] {
            f.want(id(n));
        }
        let batches = f.take_batches(|i| *i != id(2));
        assert_eq!(batches, vec![vec![id(1), id(3)]]);
        assert!(f.take_batches(|_| true).is_empty(), "taken");
    }

    #[test]
    fn a_large_batch_is_split() {
        let mut f = Fetches::default();
        for n in 0..(MAX_IDS_PER_GET as u32 + 1) {
            let mut bytes = [0u8; 20];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            f.want(ObjectId::from_bytes(bytes));
        }
        let sizes: Vec<usize> = f.take_batches(|_| true).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![MAX_IDS_PER_GET, 1]);
    }

    #[test]
    fn only_a_release_written_after_a_fetch_makes_its_answer_untrusted() {
        let mut f = Fetches::default();
        f.released(id(1)); // before any fetch: irrelevant
        let first = f.sent(&[id(1), id(2)]);
        let second = f.sent(&[id(1)]);
        f.released(id(1));
        assert!(f.answered(&id(2), first), "no release of id 2");
        assert!(!f.answered(&id(1), first), "released after the fetch");
        assert!(!f.answered(&id(1), second));
        // Both fetches are back: a new one starts clean.
        let third = f.sent(&[id(1)]);
        assert!(f.answered(&id(1), third));
        f.shrink();
        assert!(f.in_flight.is_empty() && f.released_at.is_empty());
    }
}
