//! The store's internal invariants, checked after every operation in the
//! tests, and a property test that drives random operations from several
//! clients.

use std::collections::HashMap;

use super::allocator::Extent;
use super::table::{ListTag, State};
use super::Store;

impl Store {
    /// Panics if any invariant is broken.
    pub(super) fn check_invariants(&self) {
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
                    assert_ne!(e.state, State::Evicted);
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
            if e.state == State::Sealed && e.ref_count == 0 && !self.direct.is_pinned(slot) {
                assert!(!e.delete_pending, "pending delete not performed");
            }
        }
        assert_eq!(
            self.allocated, resident_bytes,
            "allocated != Σ resident sizes"
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
        for (id, cs) in &self.waiters {
            for c in cs {
                let pg = self.clients.get(c).and_then(|s| s.pending_get.as_ref());
                assert!(pg.is_some_and(|g| g.is_missing(id)), "stale waiter");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{create_req, digest_of, oid, Kit};
    use super::super::{Effect, StoreConfig};
    use plasma_protocol::{ErrorCode, Reply, Request};
    use proptest::prelude::*;
    use std::collections::HashSet;

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
        Tick {
            ms: u64,
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
            1 => c.prop_map(|c| Op::Disconnect { c }),
            1 => (0u64..40).prop_map(|ms| Op::Tick { ms }),
        ]
    }

    fn run_ops(kit: &mut Kit, ops: Vec<Op>) {
        let mut sent: HashSet<u64> = HashSet::new();
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
                | Op::Disconnect { c } => *c,
                Op::Tick { .. } => 0,
            };
            // The loop never passes a frame from a client whose Get is
            // pending, except Releases.
            let blocked = kit.store.has_pending_get(c)
                && !matches!(
                    op,
                    Op::Release { .. } | Op::Disconnect { .. } | Op::Tick { .. }
                );
            if blocked {
                continue;
            }
            let data = vec![7u8; 300];
            let op_was_disconnect = matches!(op, Op::Disconnect { .. });
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
                Op::Tick { ms } => Ok(kit.expire_after(ms)),
            };
            match result {
                // A violation drops the connection.
                Err(_) => {
                    kit.disconnect(c);
                    sent.remove(&c);
                }
                Ok(effects) => check_effects(&mut sent, &effects),
            }
            if op_was_disconnect {
                sent.remove(&c);
            }
        }
    }

    /// Reply shapes, and fds: the segment's fd goes to a connection exactly
    /// once, with (never after) the first reply that names the segment.
    fn check_effects(sent: &mut HashSet<u64>, effects: &[Effect]) {
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
                    for o in objects.iter().filter(|o| o.is_available()) {
                        assert_eq!(o.metadata_offset, o.data_offset + o.data_size);
                        assert!(o.metadata_offset + o.metadata_size <= 2560);
                        assert_eq!(o.data_offset % 64, 0);
                    }
                    assert_eq!(
                        store_fds.is_empty(),
                        !objects.iter().any(|o| o.is_available())
                    );
                    !store_fds.is_empty()
                }
                Reply::Create {
                    error, store_fd, ..
                } => {
                    assert_eq!(*error == ErrorCode::Ok, *store_fd == 1);
                    *store_fd == 1
                }
                _ => {
                    assert!(fds.is_empty());
                    false
                }
            };
            if !fds.is_empty() {
                assert_eq!(fds, &vec![1]);
                assert!(sent.insert(*to), "fd sent twice to {to}");
            }
            assert_eq!(
                named,
                named && sent.contains(to),
                "segment named before its fd"
            );
        }
    }

    proptest! {
        #[test]
        fn random_operations_keep_invariants(ops in proptest::collection::vec(op(), 1..120), external in any::<bool>()) {
            let mut kit = Kit::with_config(StoreConfig {
                capacity: 2000,
                arena_len: 2560,
                segment_id: 1,
                mmap_size: 2568,
                external_store: external,
            });
            run_ops(&mut kit, ops);
            for c in 0..4 {
                kit.disconnect(c);
            }
            // With every client gone nothing is held; evicting everything
            // empties the arena (external store aside).
            kit.evict(9, u64::MAX);
            prop_assert_eq!(kit.store.allocated(), 0);
            prop_assert_eq!(kit.store.allocator.free_extent_count(), 1);
        }
    }
}
