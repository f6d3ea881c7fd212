//! The store's internal invariants, checked after every operation in the
//! tests and in the stateful fuzz target (`fuzz/`, through the `invariants`
//! feature), and a property test that drives random operations from several
//! clients.

use std::collections::{HashMap, HashSet};

use plasma_protocol::{ErrorCode, ObjectSpec, Reply};

use super::allocator::Extent;
use super::table::{ListTag, State};
use super::{ClientId, Effect, Store};

impl Store {
    /// Panics if any invariant is broken. For tests and fuzzing only: not
    /// part of the API (and absent without the `invariants` feature).
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        assert!(
            self.awaits.is_consistent(),
            "await registrations out of sync"
        );
        let mut resident_bytes = 0u64;
        let mut extents: Vec<Extent> = Vec::new();
        let mut holders: HashMap<u32, u32> = HashMap::new();
        for c in self.clients.values() {
            for &s in &c.held {
                *holders.entry(s).or_default() += 1;
            }
        }
        let mut global_members = 0usize;
        self.table.check();
        for (slot, e) in self.table.iter() {
            assert_eq!(self.table.find(&e.id), Some(slot), "index out of sync");
            if e.is_resident() {
                resident_bytes += e.size();
                extents.push(e.extent().unwrap());
            }
            assert_eq!(
                e.ref_count,
                holders.get(&slot).copied().unwrap_or(0),
                "ref_count != number of holders for {:?}",
                e.id
            );
            let in_creating = self
                .clients
                .get(&e.owner)
                .is_some_and(|c| c.creating.contains(&slot));
            assert_eq!(
                e.state == State::Created,
                in_creating,
                "creating set for {:?}",
                e.id
            );
            assert_eq!(
                e.state == State::Evicted,
                self.external.contains_key(&slot),
                "external bytes for {:?}",
                e.id
            );
            match e.list {
                ListTag::Global => {
                    global_members += 1;
                    assert_eq!(e.state, State::Sealed, "unsealed object in the LRU");
                    assert_eq!(e.ref_count, 0, "held object in the LRU");
                }
                ListTag::Quota => {
                    let q = self.clients.get(&e.owner).and_then(|c| c.quota.as_ref());
                    assert!(q.is_some(), "quota-listed object without a quota owner");
                    assert!(matches!(e.state, State::Created | State::Sealed));
                }
                ListTag::None => {
                    // Sealed and unheld objects are always evictable, unless
                    // a quota owns them or a hold-table slot pinned them.
                    assert!(
                        !(e.state == State::Sealed
                            && e.ref_count == 0
                            && !self.direct.is_pinned(slot)),
                        "sealed unheld object {:?} outside every list",
                        e.id
                    );
                }
            }
            if e.state.is_readable() && e.ref_count == 0 && !self.direct.is_pinned(slot) {
                assert!(!e.delete_pending, "pending delete not performed");
            }
            // A waiting request is woken by a seal or a restore's end.
            if e.state == State::Spilled && self.waiters.contains_key(&e.id) {
                assert!(self.restore_pending(&e.id), "waiters on a spilled object");
            }
        }
        extents.extend(self.parked_extents());
        let orphans = self.spill.check(&self.table);
        let orphan_bytes: u64 = self
            .spill
            .jobs
            .values()
            .filter(|j| j.slot.is_none())
            .map(|j| j.size)
            .sum();
        extents.extend(orphans);
        assert_eq!(
            self.allocated,
            resident_bytes + self.quarantined_bytes() + orphan_bytes,
            "allocated != Σ resident sizes + quarantined bytes + deleted objects' extents under I/O"
        );
        assert_eq!(
            self.stats(),
            self.stats_by_walking(),
            "counters out of sync with the table"
        );
        assert!(self.allocated <= self.config.capacity, "over budget");
        self.check_direct();
        assert_eq!(self.global_lru.len(), global_members);
        let walked: Vec<u32> = self.global_lru.slots(&self.table).collect();
        assert_eq!(walked.len(), global_members);
        let lru_bytes: u64 = walked.iter().map(|&s| self.table.get(s).size()).sum();
        assert_eq!(self.global_lru.bytes(), lru_bytes);
        for c in self.clients.values() {
            if let Some(q) = &c.quota {
                let n = q.list.slots(&self.table).count();
                assert_eq!(n, q.list.len());
            }
        }
        // Resident extents and free extents tile the region exactly.
        extents.extend(self.allocator.free_extents());
        extents.sort();
        let mut pos = 0;
        for x in &extents {
            assert_eq!(x.offset, pos, "extent overlap or leak at {pos}");
            pos = x.end();
        }
        assert_eq!(pos, self.allocator.region());
        // Pending gets, waiters and deadlines agree.
        let subscribed = self.clients.values().filter(|c| c.subscribed).count();
        assert_eq!(self.subscribers, subscribed);
        let pending_deadlines = self
            .clients
            .values()
            .filter(|c| {
                c.pending_get
                    .as_ref()
                    .is_some_and(|g| g.deadline().is_some())
            })
            .count();
        assert_eq!(self.deadlines.len(), pending_deadlines);
        for (&(_, c), ..) in self.deadlines.iter().map(|d| (d, ())) {
            assert!(self.has_pending_get(c));
        }
        for c in self.clients.values() {
            if let Some(g) = &c.pending_get {
                assert!(!(g.is_expired() && g.deadline().is_some()));
                // An expired Get waits only for restores.
                if g.is_expired() {
                    assert!(
                        g.missing().any(|id| self.restore_pending(id)),
                        "expired get not answered"
                    );
                }
            }
        }
        for (id, cs) in &self.waiters {
            for c in cs {
                let pg = self.clients.get(c).and_then(|s| s.pending_get.as_ref());
                assert!(pg.is_some_and(|g| g.is_missing(id)), "stale waiter");
            }
        }
    }
}

/// Checks what the store tells its clients across calls: reply shapes,
/// object placement, and the segment's fd, which goes to a connection
/// exactly once, with (never after) the first reply that names the segment.
/// For tests and fuzzing only: not part of the API.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct EffectChecker {
    /// Connections the segment's fd went to.
    sent: HashSet<ClientId>,
}

impl EffectChecker {
    /// `client`'s connection ended: a new one with its number starts afresh.
    pub fn disconnected(&mut self, client: ClientId) {
        self.sent.remove(&client);
    }

    /// Panics unless `effects`, produced by one call on `store`, are sound.
    pub fn check(&mut self, store: &Store, effects: &[Effect]) {
        let segment = store.config.segment_id;
        let region = store.allocator.region();
        let placed = |o: &ObjectSpec| {
            assert_eq!(o.segment_index, segment);
            assert_eq!(o.metadata_offset, o.data_offset + o.data_size);
            assert!(o.metadata_offset + o.metadata_size <= region);
            assert_eq!(o.data_offset % super::ALIGN, 0);
        };
        for e in effects {
            let Effect::Reply { to, reply, fds } = e else {
                continue;
            };
            let named = match reply {
                Reply::Get {
                    objects,
                    ids,
                    store_fds,
                    mmap_sizes,
                } => {
                    assert_eq!(objects.len(), ids.len());
                    assert_eq!(store_fds.len(), mmap_sizes.len());
                    objects.iter().filter(|o| o.is_available()).for_each(placed);
                    assert_eq!(
                        store_fds.is_empty(),
                        !objects.iter().any(|o| o.is_available())
                    );
                    !store_fds.is_empty()
                }
                Reply::Create {
                    error,
                    store_fd,
                    object,
                    ..
                } => {
                    let ok = *error == ErrorCode::Ok;
                    assert_eq!(ok, *store_fd == segment);
                    if ok {
                        placed(object);
                    }
                    ok
                }
                Reply::ObjectReady {
                    store_fd, object, ..
                } => {
                    assert_eq!(*store_fd, segment);
                    placed(object);
                    true
                }
                _ => {
                    assert!(fds.is_empty());
                    false
                }
            };
            if !fds.is_empty() {
                assert_eq!(fds, &vec![segment]);
                assert!(self.sent.insert(*to), "fd sent twice to {to}");
            }
            assert_eq!(
                named,
                named && self.sent.contains(to),
                "segment named before its fd"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{create_req, digest_of, oid, Failure, Kit};
    use super::super::{RestoreError, SpillError, StoreConfig};
    use super::EffectChecker;
    use plasma_protocol::Request;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Create {
            c: u64,
            id: u32,
            data: u64,
            meta: u64,
        },
        CreateAndSeal {
            c: u64,
            id: u32,
            len: usize,
        },
        Seal {
            c: u64,
            id: u32,
        },
        Release {
            c: u64,
            id: u32,
        },
        Get {
            c: u64,
            ids: Vec<u32>,
            timeout: i64,
        },
        Delete {
            c: u64,
            id: u32,
        },
        Abort {
            c: u64,
            id: u32,
        },
        Evict {
            c: u64,
            n: u64,
        },
        Subscribe {
            c: u64,
        },
        Quota {
            c: u64,
            q: i64,
        },
        Refresh {
            c: u64,
            id: u32,
        },
        Disconnect {
            c: u64,
        },
        /// The store drops `c` while its process (quarantine `q`) lives.
        DropLive {
            c: u64,
            q: u64,
        },
        /// The process behind quarantine `q` exits.
        EndQuarantine {
            q: u64,
        },
        Tick {
            ms: u64,
        },
        /// The loop finishes the disk work under way: writes or reads,
        /// failing each with `fail` when it is below 3 (the rest succeed).
        FinishIo {
            writes: bool,
            fail: u8,
        },
        /// A Contains (which may wait for a restore).
        Contains {
            c: u64,
            id: u32,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let c = 0u64..4;
        let id = 0u32..24;
        prop_oneof![
            4 => (c.clone(), id.clone(), 0u64..700, 0u64..100)
                .prop_map(|(c, id, data, meta)| Op::Create { c, id, data, meta }),
            2 => (c.clone(), id.clone(), 0usize..300).prop_map(|(c, id, len)| Op::CreateAndSeal { c, id, len }),
            4 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Seal { c, id }),
            4 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Release { c, id }),
            3 => (c.clone(), proptest::collection::vec(id.clone(), 1..4), prop_oneof![Just(-1i64), Just(0), Just(5), Just(50)])
                .prop_map(|(c, ids, timeout)| Op::Get { c, ids, timeout }),
            1 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Delete { c, id }),
            1 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Abort { c, id }),
            1 => (c.clone(), 0u64..1500).prop_map(|(c, n)| Op::Evict { c, n }),
            1 => c.clone().prop_map(|c| Op::Subscribe { c }),
            1 => (c.clone(), 0i64..2000).prop_map(|(c, q)| Op::Quota { c, q }),
            1 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Refresh { c, id }),
            1 => c.clone().prop_map(|c| Op::Disconnect { c }),
            1 => (c.clone(), 0u64..2).prop_map(|(c, q)| Op::DropLive { c, q }),
            1 => (0u64..2).prop_map(|q| Op::EndQuarantine { q }),
            1 => (0u64..40).prop_map(|ms| Op::Tick { ms }),
            3 => (any::<bool>(), 0u8..12).prop_map(|(writes, fail)| Op::FinishIo { writes, fail }),
            1 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Contains { c, id }),
        ]
    }

    fn run_ops(kit: &mut Kit, ops: Vec<Op>) {
        let mut effects_seen = EffectChecker::default();
        for op in ops {
            let c = match &op {
                Op::Create { c, .. }
                | Op::CreateAndSeal { c, .. }
                | Op::Seal { c, .. }
                | Op::Release { c, .. }
                | Op::Get { c, .. }
                | Op::Delete { c, .. }
                | Op::Abort { c, .. }
                | Op::Evict { c, .. }
                | Op::Subscribe { c }
                | Op::Quota { c, .. }
                | Op::Refresh { c, .. }
                | Op::Disconnect { c }
                | Op::Contains { c, .. }
                | Op::DropLive { c, .. } => *c,
                Op::Tick { .. } | Op::EndQuarantine { .. } | Op::FinishIo { .. } => 0,
            };
            let not_a_frame = matches!(
                op,
                Op::Disconnect { .. }
                    | Op::DropLive { .. }
                    | Op::Tick { .. }
                    | Op::EndQuarantine { .. }
                    | Op::FinishIo { .. }
            );
            // The loop never passes a frame from a client whose Get is
            // pending, except Releases; nor any from a client whose request
            // was deferred (it stays at the head of its input).
            let blocked = !not_a_frame
                && ((kit.store.has_pending_get(c) && !matches!(op, Op::Release { .. }))
                    || kit.is_deferred(c));
            if blocked {
                continue;
            }
            let data = vec![7u8; 300];
            let op_was_disconnect = matches!(op, Op::Disconnect { .. } | Op::DropLive { .. });
            let result = match op {
                Op::Create { id, data, meta, .. } => {
                    kit.try_run(c, create_req(oid(id), data, meta))
                }
                Op::CreateAndSeal { id, len, .. } => kit.try_run(
                    c,
                    Request::CreateAndSeal {
                        id: oid(id),
                        evict_if_full: true,
                        data: &data[..len],
                        metadata: &data[..len / 3],
                        digest: digest_of(oid(id)),
                    },
                ),
                Op::Seal { id, .. } => kit.try_run(
                    c,
                    Request::Seal {
                        id: oid(id),
                        digest: [1; 8],
                    },
                ),
                Op::Release { id, .. } => kit.try_run(c, Request::Release { id: oid(id) }),
                Op::Get { ids, timeout, .. } => kit.try_run(
                    c,
                    Request::Get {
                        ids: ids.into_iter().map(oid).collect(),
                        timeout_ms: timeout,
                    },
                ),
                Op::Delete { id, .. } => kit.try_run(c, Request::Delete { ids: vec![oid(id)] }),
                Op::Abort { id, .. } => kit.try_run(c, Request::Abort { id: oid(id) }),
                Op::Evict { n, .. } => kit.try_run(c, Request::Evict { num_bytes: n }),
                Op::Subscribe { .. } => kit.try_run(c, Request::Subscribe),
                Op::Quota { q, .. } => kit.try_run(
                    c,
                    Request::SetOptions {
                        client_name: format!("c{c}"),
                        output_memory_quota: q,
                    },
                ),
                Op::Refresh { id, .. } => {
                    kit.try_run(c, Request::RefreshLru { ids: vec![oid(id)] })
                }
                Op::Disconnect { .. } => Ok(kit.disconnect(c)),
                Op::DropLive { q, .. } => {
                    let mut out = super::super::Outcome::default();
                    kit.store.disconnect_live(c, q, &mut out);
                    kit.store.check_invariants();
                    Ok(out.effects)
                }
                Op::EndQuarantine { q } => {
                    kit.store.end_quarantine(q);
                    kit.store.check_invariants();
                    Ok(Vec::new())
                }
                Op::Tick { ms } => Ok(kit.expire_after(ms)),
                Op::Contains { id, .. } => kit.try_run(c, Request::Contains { id: oid(id) }),
                Op::FinishIo { writes, fail } => Ok(kit.finish_io(writes, |_| match fail {
                    0 => Some(Failure::Write(SpillError::NoSpace)),
                    1 => Some(Failure::Write(SpillError::Io)),
                    2 => Some(Failure::Read(RestoreError::Corrupt)),
                    _ => None,
                })),
            };
            match result {
                // A violation drops the connection.
                Err(_) => {
                    kit.disconnect(c);
                    effects_seen.disconnected(c);
                }
                Ok(effects) => effects_seen.check(&kit.store, &effects),
            }
            if op_was_disconnect {
                effects_seen.disconnected(c);
            }
        }
    }

    proptest! {
        #[test]
        fn random_operations_keep_invariants(
            ops in proptest::collection::vec(op(), 1..120),
            external in any::<bool>(),
            spill_limit in proptest::option::of(0u64..4000),
        ) {
            let mut kit = Kit::with_config(StoreConfig {
                capacity: 2000,
                arena_len: 2560,
                segment_id: 1,
                mmap_size: 2568,
                external_store: external,
                spill_limit,
            });
            run_ops(&mut kit, ops);
            for c in 0..4 {
                kit.disconnect(c);
            }
            for q in 0..2 {
                kit.store.end_quarantine(q);
            }
            // The loop finishes whatever disk work is under way.
            while !kit.io.is_empty() {
                kit.finish_writes();
                kit.finish_reads();
            }
            // With every client gone nothing is held; evicting everything
            // empties the arena (external store aside).
            kit.evict(9, u64::MAX);
            prop_assert_eq!(kit.store.allocated(), 0);
            prop_assert_eq!(kit.store.allocator.free_extent_count(), 1);
        }
    }
}
