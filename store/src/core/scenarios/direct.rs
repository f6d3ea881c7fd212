//! The `direct` capability against the core: publishing, direct holds that
//! pin objects an eviction or delete wants, release logs, puts, and the
//! ways a client can misuse its hold table.

use plasma_protocol::direct::{
    pack_hold, Directory, DirectoryGeometry, HoldRecord, HoldTable, HoldsGeometry, Snapshot,
};
use plasma_protocol::{
    ErrorCode, ObjectId, PutHold, Reply, Request, Residence, PUT_HOLD_BY_SOCKET,
};

use super::super::testkit::{deletions, digest_of, oid, replies, resumed, Kit};
use super::super::{
    ClientId, DiskOp, Effect, HeapWords, Violation, DIRECTORY_SEGMENT, HOLDS_SEGMENT,
};
use super::{A, B, C};

const ENTRIES: usize = 64;

/// A store with a directory, and the directory's words for the test to read.
fn kit(capacity: u64) -> (Kit, HeapWords) {
    with_directory(Kit::new(capacity))
}

/// `k` given a directory, and the directory's words for the test to read.
fn with_directory(mut k: Kit) -> (Kit, HeapWords) {
    let geo = DirectoryGeometry::for_entries(ENTRIES);
    let words = HeapWords::new(geo.words());
    k.store
        .set_directory(Box::new(words.clone()), ENTRIES)
        .unwrap();
    (k, words)
}

/// Attaches `c`: the hold table it gets, as the client sees it.
fn attach(k: &mut Kit, c: ClientId) -> HeapWords {
    let words = HeapWords::new(HoldsGeometry::DEFAULT.words());
    k.store.attach_holds(c, Box::new(words.clone())).unwrap();
    let fx = k.run(c, Request::Attach);
    let Effect::Reply {
        reply: Reply::Attach { error, .. },
        fds,
        ..
    } = &fx[0]
    else {
        panic!("{fx:?}");
    };
    assert_eq!(*error, ErrorCode::Ok);
    assert!(
        fds.ends_with(&[DIRECTORY_SEGMENT, HOLDS_SEGMENT]),
        "{fds:?}"
    );
    words
}

/// A client's direct get: look up, claim `slot`, re-check.
fn take(dir: &HeapWords, table: &HeapWords, slot: usize, id: ObjectId) -> Option<Snapshot> {
    use super::super::SharedWords;
    let d = Directory::open(dir.words()).unwrap();
    let s = d.lookup(&id)?;
    let t = HoldTable::open(table.words()).unwrap();
    assert!(t.claim(slot, pack_hold(s.entry, s.gen)));
    if d.gen(s.entry) == Some(s.gen) {
        Some(s)
    } else {
        t.clear(slot);
        None
    }
}

/// A client's direct release: clear the slot, log it.
fn release(table: &HeapWords, slot: usize, s: &Snapshot, head: &mut u64, stamp: u64) {
    use super::super::SharedWords;
    let t = HoldTable::open(table.words()).unwrap();
    t.clear(slot);
    assert!(t.log_push(
        head,
        HoldRecord {
            hold: pack_hold(s.entry, s.gen),
            stamp_ns: stamp,
        }
    ));
}

/// B releases oid(1), pinned through slot 5, and says so: the store
/// unpins it and publishes it again.
fn release_pinned(k: &mut Kit, dir: &HeapWords, table: &HeapWords, s: &Snapshot) {
    let mut head = 0;
    release(table, 5, s, &mut head, 1);
    k.run(B, Request::HoldsChanged);
    assert_eq!(k.store.pinned_objects(), 0);
    assert!(take(dir, table, 5, oid(1)).is_some(), "published again");
}

fn put_small(k: &mut Kit, c: ClientId, id: ObjectId, size: u64) {
    k.put(c, id, size, 0);
}

#[test]
fn a_sealed_object_is_published_with_its_extent_and_digest() {
    let (mut k, dir) = kit(10_000);
    put_small(&mut k, A, oid(1), 100);
    let table = attach(&mut k, B);
    let s = take(&dir, &table, 0, oid(1)).unwrap();
    assert_eq!((s.data_size, s.metadata_size), (100, 0));
    assert_eq!(s.digest, digest_of(oid(1)));
    // An unsealed object is not published.
    k.create(A, oid(2), 10, 0);
    assert!(take(&dir, &table, 1, oid(2)).is_none());
}

#[test]
fn an_eviction_pins_a_directly_held_object_until_its_slot_is_cleared() {
    let (mut k, dir) = kit(10_000);
    put_small(&mut k, A, oid(1), 4000);
    put_small(&mut k, A, oid(2), 4000);
    let table = attach(&mut k, B);
    let s = take(&dir, &table, 5, oid(1)).unwrap();
    // Room for 4,000 more bytes: oid(1) is the least recent, but held.
    k.put(A, oid(3), 4000, 0);
    assert!(k.contains(A, oid(1)), "held through a slot: kept");
    assert!(!k.contains(A, oid(2)), "evicted in its place");
    assert_eq!(k.store.pinned_objects(), 1);
    // The directory no longer offers it; a new direct get falls back.
    assert!(take(&dir, &table, 6, oid(1)).is_none());
    let listed = k.list(C);
    let one = listed.iter().find(|i| i.object_id == oid(1)).unwrap();
    assert_eq!(one.ref_count, 1, "list counts the slot holder");
    // Released: the client tells the store, which republishes it.
    release_pinned(&mut k, &dir, &table, &s);
}

#[test]
fn a_delete_of_a_directly_held_object_waits_for_its_slot() {
    let (mut k, dir) = kit(10_000);
    put_small(&mut k, A, oid(1), 100);
    let table = attach(&mut k, B);
    let s = take(&dir, &table, 0, oid(1)).unwrap();
    let r = k.ask(A, Request::Delete { ids: vec![oid(1)] });
    assert_eq!(
        r,
        Reply::Delete {
            ids: vec![oid(1)],
            errors: vec![ErrorCode::ObjectInUse]
        }
    );
    let mut head = 0;
    release(&table, 0, &s, &mut head, 1);
    let fx = k.run(B, Request::HoldsChanged);
    assert_eq!(deletions(&fx), Vec::<ObjectId>::new(), "no subscriber");
    assert!(!k.contains(A, oid(1)), "deleted with its last slot");
}

#[test]
fn a_client_that_dies_holding_slots_leaves_nothing_pinned() {
    let (mut k, dir) = kit(10_000);
    put_small(&mut k, A, oid(1), 4000);
    put_small(&mut k, A, oid(2), 4000);
    let table = attach(&mut k, B);
    take(&dir, &table, 0, oid(1)).unwrap();
    take(&dir, &table, 1, oid(2)).unwrap();
    assert_eq!(k.evict(A, 10_000), 0, "both held");
    assert_eq!(k.store.pinned_objects(), 2);
    k.disconnect(B);
    assert_eq!(k.store.pinned_objects(), 0);
    assert_eq!(k.store.attached_tables(), 0);
    assert_eq!(k.evict(A, 10_000), 8000);
    assert_eq!(k.store.allocated(), 0);
}

#[test]
fn a_live_client_the_store_drops_keeps_its_slot_holds_quarantined() {
    // The store ends the connection, the process lives: what it held in
    // its hold table may still be read, so its extent stays out of reuse.
    let (mut k, dir) = kit(10_000);
    put_small(&mut k, A, oid(1), 4000);
    let table = attach(&mut k, B);
    take(&dir, &table, 0, oid(1)).unwrap();
    let mut out = super::super::Outcome::default();
    k.store.disconnect_live(B, 7, &mut out);
    k.store.check_invariants();
    assert!(k.store.is_quarantined(7));
    k.evict(A, 10_000);
    assert_eq!(k.store.quarantined_bytes(), 4000);
    k.store.end_quarantine(7);
    k.store.check_invariants();
    assert_eq!(k.store.quarantined_bytes(), 0);
    assert_eq!(k.store.allocated(), 0);
}

#[test]
fn a_logged_release_moves_the_object_to_the_recent_end_of_the_lru() {
    let (mut k, dir) = kit(10_000);
    put_small(&mut k, A, oid(1), 3000);
    put_small(&mut k, A, oid(2), 3000);
    put_small(&mut k, A, oid(3), 3000);
    let table = attach(&mut k, B);
    // oid(1), the least recent, is read directly and released.
    let s = take(&dir, &table, 0, oid(1)).unwrap();
    let mut head = 0;
    let t = k.clock.mono_ns;
    k.clock = k.clock.advanced_ms(1);
    release(&table, 0, &s, &mut head, t + 7);
    // The store reads the log before it picks victims: oid(2) goes first.
    k.put(A, oid(4), 3000, 0);
    assert!(k.contains(A, oid(1)));
    assert!(!k.contains(A, oid(2)));
}

#[test]
fn logs_of_several_clients_apply_in_release_order() {
    let (mut k, dir) = kit(10_000);
    for n in 1..=3 {
        put_small(&mut k, A, oid(n), 3000);
    }
    let tb = attach(&mut k, B);
    let tc = attach(&mut k, C);
    let s2 = take(&dir, &tc, 0, oid(2)).unwrap();
    let s1 = take(&dir, &tb, 0, oid(1)).unwrap();
    let (mut hb, mut hc) = (0, 0);
    // C released oid(2) after B released oid(1), whatever the drain order.
    let t = k.clock.mono_ns;
    k.clock = k.clock.advanced_ms(1);
    release(&tb, 0, &s1, &mut hb, t + 10);
    release(&tc, 0, &s2, &mut hc, t + 20);
    // LRU now: oid(3), oid(1), oid(2).
    assert_eq!(k.evict(A, 1), 3000);
    assert!(!k.contains(A, oid(3)));
    assert_eq!(k.evict(A, 1), 3000);
    assert!(!k.contains(A, oid(1)));
    assert!(k.contains(A, oid(2)));
}

#[test]
fn a_release_read_late_is_placed_before_later_ones() {
    // A direct release logged before another object entered the LRU stays
    // before it, however late the store reads the log.
    let (mut k, dir) = kit(10_000);
    put_small(&mut k, A, oid(1), 3000);
    let table = attach(&mut k, B);
    let s = take(&dir, &table, 0, oid(1)).unwrap();
    k.clock = k.clock.advanced_ms(1);
    let released = k.clock.mono_ns;
    let mut head = 0;
    release(&table, 0, &s, &mut head, released);
    k.clock = k.clock.advanced_ms(1);
    put_small(&mut k, A, oid(2), 3000); // after the release
    assert_eq!(k.evict(A, 1), 3000);
    assert!(!k.contains(A, oid(1)), "the older release goes first");
    assert!(k.contains(A, oid(2)));
}

#[test]
fn a_put_holds_through_its_slot_and_the_release_needs_no_message() {
    let (mut k, dir) = kit(10_000);
    let table = attach(&mut k, B);
    let data = [7u8; 100];
    let r = k.ask(
        B,
        Request::Put {
            id: oid(1),
            evict_if_full: true,
            data: &data,
            metadata: b"m",
            digest: [1; 8],
            slot: 3,
        },
    );
    let Reply::Put {
        error,
        hold,
        entry,
        gen,
        object,
        ..
    } = r
    else {
        panic!("{r:?}");
    };
    assert_eq!((error, hold), (ErrorCode::Ok, PutHold::Slot));
    assert_eq!((object.data_size, object.metadata_size), (100, 1));
    let d = {
        use super::super::SharedWords;
        Directory::open(dir.words())
            .unwrap()
            .lookup(&oid(1))
            .unwrap()
    };
    assert_eq!((d.entry, d.gen), (entry, gen));
    assert_eq!(k.ref_count(oid(1)), Some(0), "no socket hold");
    assert_eq!(k.evict(A, 10_000), 0, "the slot holds it");
    let mut head = 0;
    release(&table, 3, &d, &mut head, 1);
    k.run(B, Request::HoldsChanged);
    assert_eq!(k.evict(A, 10_000), 101);
}

#[test]
fn a_put_behaves_as_create_and_seal_for_errors_and_notifications() {
    let (mut k, _dir) = kit(1000);
    attach(&mut k, B);
    let put = |id, n: usize, slot| Request::Put {
        id,
        evict_if_full: true,
        data: &[0u8; 2000][..n],
        metadata: b"",
        digest: [0; 8],
        slot,
    };
    put_small(&mut k, A, oid(1), 10);
    match k.ask(B, put(oid(1), 5, 0)) {
        Reply::Put { error, hold, .. } => {
            assert_eq!((error, hold), (ErrorCode::ObjectExists, PutHold::None))
        }
        r => panic!("{r:?}"),
    }
    match k.ask(B, put(oid(2), 2000, 0)) {
        Reply::Put { error, .. } => assert_eq!(error, ErrorCode::OutOfMemory),
        r => panic!("{r:?}"),
    }
    // Through the socket on request: released with a ReleaseRequest.
    match k.ask(B, put(oid(3), 5, PUT_HOLD_BY_SOCKET)) {
        Reply::Put { hold, .. } => assert_eq!(hold, PutHold::Socket),
        r => panic!("{r:?}"),
    }
    assert_eq!(k.ref_count(oid(3)), Some(1));
    k.release(B, oid(3));
    assert_eq!(k.ref_count(oid(3)), Some(0));
}

#[test]
fn misuse_of_attach_and_put_costs_the_connection() {
    let (mut k, _dir) = kit(1000);
    let put = |slot| Request::Put {
        id: oid(9),
        evict_if_full: true,
        data: b"x",
        metadata: b"",
        digest: [0; 8],
        slot,
    };
    assert_eq!(k.try_run(A, put(0)), Err(Violation::BadPutSlot(0)));
    attach(&mut k, A);
    assert_eq!(
        k.try_run(A, put(HoldsGeometry::DEFAULT.slots as u32)),
        Err(Violation::BadPutSlot(1024))
    );
    assert_eq!(k.try_run(A, Request::Attach), Err(Violation::SecondAttach));
    // Without a table the store made, Attach says OutOfMemory.
    let r = k.ask(B, Request::Attach);
    assert!(matches!(
        r,
        Reply::Attach {
            error: ErrorCode::OutOfMemory,
            ..
        }
    ));
}

#[test]
fn garbage_in_a_hold_table_only_pins() {
    let (mut k, dir) = kit(10_000);
    put_small(&mut k, A, oid(1), 4000);
    let table = attach(&mut k, B);
    let t = {
        use super::super::SharedWords;
        let _ = &dir;
        HoldTable::open(table.words()).unwrap()
    };
    // Entries past the directory, wrong generations, all ones.
    t.claim(0, pack_hold(u32::MAX - 1, 1));
    t.claim(1, pack_hold(0, 12345));
    t.claim(2, u64::MAX);
    let mut head = 0;
    for _ in 0..5000 {
        t.log_push(
            &mut head,
            HoldRecord {
                hold: u64::MAX,
                stamp_ns: 0,
            },
        );
    }
    k.run(B, Request::HoldsChanged);
    assert_eq!(k.evict(A, 10_000), 4000, "nothing of it held oid(1)");
    // A slot naming a live object pins it, as a Get would.
    put_small(&mut k, A, oid(2), 100);
    let s = take(&dir, &table, 3, oid(2)).unwrap();
    assert_eq!(k.evict(A, 10_000), 0);
    assert_eq!(s.data_size, 100);
    let fx = k.disconnect(B);
    assert!(replies(&fx).is_empty());
    assert_eq!(k.evict(A, 10_000), 100);
}

#[test]
fn a_put_waits_for_a_spill_like_a_create_and_then_holds_through_its_slot() {
    let (mut k, _dir) = with_directory(Kit::spilling(10_000, 1 << 20));
    put_small(&mut k, A, oid(1), 6000);
    attach(&mut k, B);
    let data = vec![7u8; 6000];
    let put = || Request::Put {
        id: oid(2),
        evict_if_full: true,
        data: &data,
        metadata: b"",
        digest: [2; 8],
        slot: 0,
    };
    // oid(1) must go to disk first: the Put is deferred, unanswered.
    let fx = k.run(B, put());
    assert_eq!(spill_writes(&fx), 1, "{fx:?}");
    assert!(k.is_deferred(B));
    assert!(replies(&fx).is_empty(), "{fx:?}");
    assert_eq!(resumed(&k.finish_writes()), vec![B]);
    // Handed in again, as the loop does after the Resume.
    let r = k.ask(B, put());
    let Reply::Put { error, hold, .. } = r else {
        panic!("{r:?}");
    };
    assert_eq!((error, hold), (ErrorCode::Ok, PutHold::Slot));
    assert!(k.contains(C, oid(1)), "spilled, not lost");
}

/// Random sequences of direct holds, releases and puts among ordinary
/// creates, seals, gets, deletes, evictions and disconnects by four
/// clients: the store's invariants hold after every step (the kit checks
/// them), and no object is ever freed, or its memory reused, while a
/// direct hold taken on it lives.
/// Create-and-seal of `id` (`size` bytes) by `c`, evicting if need be.
fn cas(k: &mut Kit, c: ClientId, id: ObjectId, size: usize) -> Vec<Effect> {
    k.run(
        c,
        Request::CreateAndSeal {
            id,
            evict_if_full: true,
            data: &vec![1; size],
            metadata: b"",
            digest: [0; 8],
        },
    )
}

fn spill_writes(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Disk(DiskOp::Write { .. })))
        .count()
}

#[test]
fn with_spilling_on_a_directly_held_object_is_pinned_not_spilled() {
    let (mut k, dir) = with_directory(Kit::spilling(10_000, 1 << 20));
    put_small(&mut k, A, oid(1), 4000);
    put_small(&mut k, A, oid(2), 4000);
    let table = attach(&mut k, B);
    let s = take(&dir, &table, 5, oid(1)).unwrap();
    // oid(1) is the least recent but held through a slot: oid(2) is the
    // one written out, and the create waits for that write.
    let fx = cas(&mut k, A, oid(3), 4000);
    assert_eq!(spill_writes(&fx), 1, "{fx:?}");
    assert!(k.is_deferred(A));
    assert_eq!(k.store.pinned_objects(), 1);
    assert_eq!(resumed(&k.finish_writes()), vec![A]);
    let fx = cas(&mut k, A, oid(3), 4000);
    assert!(replies(&fx).contains(&(
        A,
        Reply::CreateAndSeal {
            error: ErrorCode::Ok
        }
    )));
    let residence = |k: &mut Kit, id| {
        k.list(C)
            .into_iter()
            .find(|i| i.object_id == id)
            .map(|i| i.residence)
    };
    assert_eq!(residence(&mut k, oid(1)), Some(Residence::Memory));
    assert_eq!(residence(&mut k, oid(2)), Some(Residence::Disk));
    release_pinned(&mut k, &dir, &table, &s);
}

#[test]
fn a_spilled_object_leaves_the_directory_and_returns_to_it_when_restored() {
    let (mut k, dir) = with_directory(Kit::spilling(10_000, 1 << 20));
    put_small(&mut k, A, oid(1), 6000);
    use super::super::SharedWords;
    let table = attach(&mut k, B);
    assert!(take(&dir, &table, 0, oid(1)).is_some());
    HoldTable::open(table.words()).unwrap().clear(0);
    // oid(1) is written out: retired before its write starts, so no direct
    // get can reach the memory its end frees.
    cas(&mut k, A, oid(2), 6000);
    assert!(
        take(&dir, &table, 1, oid(1)).is_none(),
        "retired while spilling"
    );
    k.finish_writes();
    cas(&mut k, A, oid(2), 6000);
    assert!(
        take(&dir, &table, 1, oid(1)).is_none(),
        "spilled: not in memory"
    );
    // A Get brings it back (writing oid(2) out to make room).
    k.get(C, &[oid(1)], -1);
    assert!(
        take(&dir, &table, 1, oid(2)).is_none(),
        "oid(2) retired in turn"
    );
    k.finish_writes();
    assert!(
        take(&dir, &table, 1, oid(1)).is_none(),
        "not while restoring"
    );
    let fx = k.finish_reads();
    assert!(
        replies(&fx)
            .iter()
            .any(|(to, r)| *to == C && matches!(r, Reply::Get { .. })),
        "{fx:?}"
    );
    let got = take(&dir, &table, 1, oid(1)).expect("published once restored");
    assert_eq!(got.digest, digest_of(oid(1)));
}

mod random {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::core::SharedWords;

    #[derive(Clone, Debug)]
    enum Op {
        Put {
            c: u64,
            id: u32,
            len: u64,
        },
        Take {
            c: u64,
            id: u32,
            slot: usize,
        },
        Release {
            c: u64,
            slot: usize,
            nudge: bool,
        },
        PutDirect {
            c: u64,
            id: u32,
            len: usize,
            slot: usize,
        },
        Get {
            c: u64,
            id: u32,
        },
        SocketRelease {
            c: u64,
            id: u32,
        },
        Delete {
            c: u64,
            id: u32,
        },
        Evict {
            c: u64,
            n: u64,
        },
        Disconnect {
            c: u64,
        },
        Tick,
    }

    fn op() -> impl Strategy<Value = Op> {
        let c = 0u64..4;
        let id = 0u32..12;
        let slot = 0usize..6;
        prop_oneof![
            3 => (c.clone(), id.clone(), 0u64..900).prop_map(|(c, id, len)| Op::Put { c, id, len }),
            4 => (c.clone(), id.clone(), slot.clone()).prop_map(|(c, id, slot)| Op::Take { c, id, slot }),
            3 => (c.clone(), slot.clone(), any::<bool>()).prop_map(|(c, slot, nudge)| Op::Release { c, slot, nudge }),
            2 => (c.clone(), id.clone(), 0usize..600, slot).prop_map(|(c, id, len, slot)| Op::PutDirect { c, id, len, slot }),
            1 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Get { c, id }),
            1 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::SocketRelease { c, id }),
            1 => (c.clone(), id.clone()).prop_map(|(c, id)| Op::Delete { c, id }),
            2 => (c.clone(), 0u64..3000).prop_map(|(c, n)| Op::Evict { c, n }),
            1 => c.prop_map(|c| Op::Disconnect { c }),
            1 => Just(Op::Tick),
        ]
    }

    /// One client as the test plays it: its table and its live holds.
    #[derive(Default)]
    struct Player {
        table: Option<HeapWords>,
        holds: HashMap<usize, Snapshot>,
        head: u64,
    }

    fn table_of<'a>(kit: &mut Kit, p: &'a mut Player, c: u64) -> &'a HeapWords {
        if p.table.is_none() {
            p.table = Some(attach(kit, c));
        }
        p.table.as_ref().unwrap()
    }

    /// Every live direct hold still names an object in place: same slot,
    /// sealed, same extent (its memory not reused).
    fn holds_are_intact(kit: &Kit, players: &[Player]) {
        for p in players {
            for s in p.holds.values() {
                let e = kit.store.table.get(s.entry);
                assert_eq!(
                    e.state,
                    crate::core::table::State::Sealed,
                    "a directly held object was freed"
                );
                assert_eq!(
                    (e.offset, e.data_size, e.metadata_size),
                    (s.data_offset, s.data_size, s.metadata_size),
                    "a directly held object's memory was reused"
                );
            }
        }
    }

    fn run(ops: Vec<Op>) {
        let (mut k, dir) = kit(5000);
        let mut players: Vec<Player> = (0..4).map(|_| Player::default()).collect();
        let data = [3u8; 900];
        for op in ops {
            let c = match op {
                Op::Put { c, .. }
                | Op::Take { c, .. }
                | Op::Release { c, .. }
                | Op::PutDirect { c, .. }
                | Op::Get { c, .. }
                | Op::SocketRelease { c, .. }
                | Op::Delete { c, .. }
                | Op::Evict { c, .. }
                | Op::Disconnect { c } => c,
                Op::Tick => 0,
            };
            let p = &mut players[c as usize];
            let result = match op {
                Op::Put { id, len, .. } => {
                    let created = k.create(c, oid(id), len, 0) == ErrorCode::Ok;
                    if created {
                        k.seal(c, oid(id));
                        k.release(c, oid(id));
                    }
                    Ok(())
                }
                Op::Take { id, slot, .. } => {
                    let table = table_of(&mut k, p, c).clone();
                    if let std::collections::hash_map::Entry::Vacant(free) = p.holds.entry(slot) {
                        if let Some(s) = take(&dir, &table, slot, oid(id)) {
                            free.insert(s);
                        }
                    }
                    Ok(())
                }
                Op::Release { slot, nudge, .. } => {
                    if let (Some(s), Some(t)) = (p.holds.remove(&slot), p.table.clone()) {
                        release(&t, slot, &s, &mut p.head, k.clock.mono_ns);
                        if nudge {
                            k.run(c, Request::HoldsChanged);
                        }
                    }
                    Ok(())
                }
                Op::PutDirect { id, len, slot, .. } => {
                    table_of(&mut k, p, c);
                    if p.holds.contains_key(&slot) {
                        Ok(())
                    } else {
                        let r = k.try_run(
                            c,
                            Request::Put {
                                id: oid(id),
                                evict_if_full: true,
                                data: &data[..len],
                                metadata: b"",
                                digest: [0; 8],
                                slot: slot as u32,
                            },
                        );
                        if let Ok(fx) = &r {
                            for (_, reply) in replies(fx) {
                                if let Reply::Put {
                                    hold: PutHold::Slot,
                                    entry,
                                    gen,
                                    object,
                                    ..
                                } = reply
                                {
                                    p.holds.insert(
                                        slot,
                                        Snapshot {
                                            entry,
                                            gen,
                                            data_offset: object.data_offset,
                                            data_size: object.data_size,
                                            metadata_size: object.metadata_size,
                                            digest: [0; 8],
                                        },
                                    );
                                }
                            }
                        }
                        r.map(|_| ())
                    }
                }
                Op::Get { id, .. } => k
                    .try_run(
                        c,
                        Request::Get {
                            ids: vec![oid(id)],
                            timeout_ms: 0,
                        },
                    )
                    .map(|_| ()),
                Op::SocketRelease { id, .. } => {
                    k.try_run(c, Request::Release { id: oid(id) }).map(|_| ())
                }
                Op::Delete { id, .. } => k
                    .try_run(c, Request::Delete { ids: vec![oid(id)] })
                    .map(|_| ()),
                Op::Evict { n, .. } => k.try_run(c, Request::Evict { num_bytes: n }).map(|_| ()),
                Op::Disconnect { .. } => {
                    k.disconnect(c);
                    *p = Player::default();
                    Ok(())
                }
                Op::Tick => {
                    k.clock = k.clock.advanced_ms(1);
                    Ok(())
                }
            };
            if result.is_err() {
                // A violation (a release of what it does not hold) costs
                // the connection, and with it the client's table.
                k.disconnect(c);
                players[c as usize] = Player::default();
            }
            holds_are_intact(&k, &players);
        }
        for c in 0..4 {
            k.disconnect(c);
        }
        assert_eq!(k.store.pinned_objects(), 0);
        k.evict(A, u64::MAX);
        assert_eq!(k.store.allocated(), 0);
        let _ = dir.words();
    }

    proptest! {
        #[test]
        fn direct_holds_survive_anything_the_store_does(ops in proptest::collection::vec(op(), 1..150)) {
            run(ops);
        }
    }
}
