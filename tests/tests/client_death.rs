//! A client's death is cleaned up after: what it created but never sealed
//! disappears with its memory, what it held becomes evictable, and a get it
//! was blocked in is forgotten (protocol.md §10.14).

use std::collections::HashMap;

use plasma_client::CreateError;
use plasma_e2e::{eventually, pattern, TestStore};
use plasma_protocol::ObjectId;

#[test]
fn client_killed_between_create_and_seal_leaves_no_trace() {
    let capacity = 8_000_000;
    let store = TestStore::builder().memory(capacity).start();
    let client = store.client();
    let id = ObjectId::random();

    let mut creator = store.client_process("create-and-hang", &[&id.to_string(), "7500000"]);
    creator.expect_line("created");
    let listed = client.list().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].object_id, id);
    assert_eq!(listed[0].digest, None, "not sealed yet");
    assert!(
        !client.contains(id).unwrap(),
        "unsealed objects are not contained"
    );
    // Its memory is really taken: an unsealed object cannot be evicted.
    match client.create(ObjectId::random(), 7_500_000, b"") {
        Err(CreateError::StoreFull) => {}
        other => panic!("expected StoreFull while the unsealed object lives, got {other:?}"),
    }

    creator.kill();
    eventually("the dead client's object is gone", || {
        client.list().unwrap().is_empty()
    });
    assert!(!client.contains(id).unwrap());

    // Its memory is free again: nearly the whole capacity fits.
    let big = client
        .create(ObjectId::random(), capacity - 1000, b"")
        .unwrap();
    drop(big.seal().unwrap());
    // And its id can be used afresh (well within what eviction can free).
    client.create_and_seal(id, b"reborn", b"").unwrap();
}

#[test]
fn client_killed_while_holding_objects_releases_them() {
    let store = TestStore::start();
    let client = store.client();
    let sizes = [1000u64, 2000, 3000];
    let ids: Vec<ObjectId> = sizes.iter().map(|_| ObjectId::random()).collect();
    for (id, &size) in ids.iter().zip(&sizes) {
        client
            .create_and_seal(*id, &pattern(size, size as usize), b"")
            .unwrap();
    }
    let hexes: Vec<String> = ids.iter().map(ObjectId::to_string).collect();
    let args: Vec<&str> = hexes.iter().map(String::as_str).collect();
    let mut holder = store.client_process("hold", &args);
    holder.expect_line("held");

    let ref_counts = || -> HashMap<ObjectId, i32> {
        client
            .list()
            .unwrap()
            .into_iter()
            .map(|info| (info.object_id, info.ref_count))
            .collect()
    };
    assert!(
        ids.iter().all(|id| ref_counts()[id] == 1),
        "{:?}",
        ref_counts()
    );
    assert_eq!(
        client.evict(1 << 40).unwrap(),
        0,
        "held objects are not evictable"
    );

    holder.kill();
    eventually("the dead client's holds are released", || {
        let counts = ref_counts();
        ids.iter().all(|id| counts.get(id) == Some(&0))
    });
    assert_eq!(client.evict(1 << 40).unwrap(), 6000);
    assert!(client.list().unwrap().is_empty());
}

#[test]
fn client_killed_in_a_blocking_get_does_not_disturb_the_store() {
    let mut store = TestStore::start();
    let id = ObjectId::random();
    let mut waiter = store.client_process("get-blocking", &[&id.to_string()]);
    eventually("the client's get waits in the store", || {
        store.waiting_gets() == 1
    });
    waiter.kill();
    eventually("the store forgot the dead client's get", || {
        store.waiting_gets() == 0
    });

    // The seal that would have answered the dead client's get.
    let client = store.client();
    client.create_and_seal(id, b"late", b"").unwrap();
    assert!(client.contains(id).unwrap());
    store.assert_running();
    // try_get: held on the primary connection, so the release below is
    // ordered before the evict.
    let got = client.try_get(&[id]).unwrap();
    assert_eq!(got[0].as_ref().expect("sealed").data(), b"late");
    drop(got);
    // Nobody holds it: the dead waiter took no hold.
    assert_eq!(client.evict(1 << 40).unwrap(), 4);
}
