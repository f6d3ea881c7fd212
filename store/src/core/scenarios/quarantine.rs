//! A client the store drops while its process lives: its objects are
//! released as usual, their extents stay out of reuse until the process
//! exits (the sharing contract's rule 3).

use plasma_protocol::{ErrorCode, ObjectId, Reply, Request};

use crate::core::testkit::{create_req, deletions, oid, Kit};
use crate::core::Outcome;

use super::{A, B, C};

fn offset_of(k: &Kit, id: ObjectId) -> u64 {
    k.store.table.by_id(&id).unwrap().offset
}

fn drop_live(k: &mut Kit, client: u64, q: u64) {
    let mut out = Outcome::default();
    k.store.disconnect_live(client, q, &mut out);
    k.store.check_invariants();
}

fn end(k: &mut Kit, q: u64) {
    k.store.end_quarantine(q);
    k.store.check_invariants();
}

/// Offsets of every object in the store.
fn offsets(k: &Kit) -> Vec<u64> {
    k.store.table.iter().map(|(_, e)| e.offset).collect()
}

#[test]
fn a_held_objects_extent_is_not_reused_until_the_process_exits() {
    let mut k = Kit::new(1000);
    k.put(A, oid(1), 600, 0);
    let held_at = offset_of(&k, oid(1));
    k.get(B, &[oid(1)], 0);
    drop_live(&mut k, B, 7);
    // Released as for any disconnect: deletable, evictable.
    assert_eq!(k.ref_count(oid(1)), Some(0));
    k.run(C, Request::Subscribe);
    let fx = k.run(A, Request::Delete { ids: vec![oid(1)] });
    assert_eq!(deletions(&fx), vec![oid(1)]);
    assert!(!k.contains(A, oid(1)));
    // The bytes stay taken: no new object lands on them, and the budget
    // still counts them.
    assert_eq!(k.store.quarantined_bytes(), 600);
    assert_eq!(k.create(A, oid(2), 300, 0), ErrorCode::Ok);
    assert!(!offsets(&k).contains(&held_at));
    assert_eq!(k.create(A, oid(3), 600, 0), ErrorCode::OutOfMemory);
    end(&mut k, 7);
    assert_eq!(k.store.quarantined_bytes(), 0);
    assert_eq!(k.store.allocated(), 300);
    assert_eq!(k.create(A, oid(3), 600, 0), ErrorCode::Ok);
}

#[test]
fn an_object_still_stored_when_the_process_exits_just_stops_being_pinned() {
    let mut k = Kit::new(1000);
    k.put(A, oid(1), 100, 0);
    k.get(B, &[oid(1)], 0);
    drop_live(&mut k, B, 7);
    assert!(k.store.is_quarantined(7));
    end(&mut k, 7);
    assert!(!k.store.is_quarantined(7));
    assert_eq!(k.store.allocated(), 100);
    // Evicting it now frees its extent for good.
    assert_eq!(k.evict(A, 1), 100);
    assert_eq!(k.store.allocated(), 0);
}

#[test]
fn an_unsealed_objects_extent_waits_for_its_creators_exit() {
    let mut k = Kit::new(1000);
    k.create(B, oid(1), 500, 0);
    let written_at = offset_of(&k, oid(1));
    drop_live(&mut k, B, 9);
    // Erased silently, as on any disconnect; its id is free again.
    assert!(k.list(A).is_empty());
    assert_eq!(k.create(A, oid(1), 400, 0), ErrorCode::Ok);
    assert_ne!(offset_of(&k, oid(1)), written_at);
    end(&mut k, 9);
    assert_eq!(k.store.allocated(), 400);
}

#[test]
fn several_connections_of_one_process_share_its_quarantine() {
    let mut k = Kit::new(1000);
    k.put(A, oid(1), 300, 0);
    k.put(A, oid(2), 300, 0);
    k.get(B, &[oid(1), oid(2)], 0);
    k.get(C, &[oid(1)], 0);
    // B and C are connections of the same process (quarantine 7).
    drop_live(&mut k, B, 7);
    drop_live(&mut k, C, 7);
    k.evict(A, 1000);
    assert_eq!(k.store.quarantined_bytes(), 600);
    end(&mut k, 7);
    assert_eq!(k.store.allocated(), 0);
    assert_eq!(k.create(A, oid(3), 1000, 0), ErrorCode::Ok);
}

#[test]
fn two_processes_holding_one_object_both_must_exit() {
    let mut k = Kit::new(1000);
    k.put(A, oid(1), 800, 0);
    k.get(B, &[oid(1)], 0);
    k.get(C, &[oid(1)], 0);
    drop_live(&mut k, B, 7);
    drop_live(&mut k, C, 8);
    k.evict(A, 1000);
    end(&mut k, 7);
    assert_eq!(k.store.quarantined_bytes(), 800);
    assert_eq!(k.create(A, oid(2), 800, 0), ErrorCode::OutOfMemory);
    end(&mut k, 8);
    assert_eq!(k.create(A, oid(2), 800, 0), ErrorCode::Ok);
}

#[test]
fn a_client_holding_nothing_leaves_no_quarantine() {
    let mut k = Kit::new(1000);
    k.run(B, Request::Connect);
    drop_live(&mut k, B, 7);
    assert!(!k.store.is_quarantined(7));
    let r = k.ask(A, create_req(oid(1), 1000, 0));
    assert!(matches!(
        r,
        Reply::Create {
            error: ErrorCode::Ok,
            ..
        }
    ));
}
