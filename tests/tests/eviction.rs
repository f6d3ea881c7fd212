//! Eviction order and byte counts, step for step as pyarrow's `test_evict`
//! (test-plasma-coverage.md): least recently *released* first, held and
//! unsealed objects never, replies count data + metadata bytes.

use plasma_client::{Client, ObjectBuilder};
use plasma_e2e::TestStore;
use plasma_protocol::ObjectId;

fn create(client: &Client, size: u64) -> ObjectBuilder {
    client.create(ObjectId::random(), size, b"").unwrap()
}

#[test]
fn evict_follows_release_order_with_exact_byte_counts() {
    let store = TestStore::builder().memory(100_000_000).start();
    let client = store.client();

    let b1 = create(&client, 1000);
    drop(b1.seal().unwrap());
    assert_eq!(client.evict(1).unwrap(), 1000);

    let b2 = create(&client, 999); // stays unsealed (held) for now
    let b3 = create(&client, 998);
    drop(b3.seal().unwrap());
    assert_eq!(
        client.evict(1000).unwrap(),
        998,
        "only the released object goes"
    );

    let b4 = create(&client, 997);
    drop(b4.seal().unwrap());
    drop(b2.seal().unwrap());
    assert_eq!(
        client.evict(1).unwrap(),
        997,
        "released first, evicted first"
    );
    assert_eq!(client.evict(1).unwrap(), 999);

    let b5 = create(&client, 996);
    let b6 = create(&client, 995);
    let b7 = create(&client, 994);
    let s5 = b5.seal().unwrap();
    let s6 = b6.seal().unwrap();
    let s7 = b7.seal().unwrap();
    drop(s5);
    drop(s6);
    drop(s7);
    assert_eq!(client.evict(2000).unwrap(), 996 + 995 + 994);
    assert_eq!(client.evict(1).unwrap(), 0, "nothing left");
}

#[test]
fn evicted_bytes_count_metadata_too() {
    let store = TestStore::start();
    let client = store.client();
    client
        .create_and_seal(ObjectId::random(), &[1; 100], &[2; 23])
        .unwrap();
    assert_eq!(client.evict(1).unwrap(), 123);
}

#[test]
fn create_evicts_least_recently_released_objects_when_full() {
    // 10 objects of 100 000 bytes fill a 1 000 000 store; a 150 000-byte
    // create needs 150 000 but evicts max(need, capacity / 5) = 200 000:
    // the two released first (protocol.md §10.3).
    let store = TestStore::builder().memory(1_000_000).start();
    let client = store.client();
    let ids: Vec<ObjectId> = (0..10).map(|_| ObjectId::random()).collect();
    for id in &ids {
        client.create_and_seal(*id, &[7; 100_000], b"").unwrap();
    }
    drop(
        client
            .create(ObjectId::random(), 150_000, b"")
            .unwrap()
            .seal()
            .unwrap(),
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(client.contains(*id).unwrap(), i >= 2, "object {i}");
    }
}

#[test]
fn held_objects_are_never_evicted_and_a_full_store_says_so() {
    let store = TestStore::builder().memory(1_000_000).start();
    let client = store.client();
    let id = ObjectId::random();
    client.create_and_seal(id, &[1; 600_000], b"").unwrap();
    let held = client.try_get(&[id]).unwrap();
    match client.create(ObjectId::random(), 500_000, b"") {
        Err(plasma_client::CreateError::StoreFull) => {}
        other => panic!("expected StoreFull, got {other:?}"),
    }
    assert!(client.contains(id).unwrap());
    drop(held);
    // Released: now it can make room.
    drop(
        client
            .create(ObjectId::random(), 500_000, b"")
            .unwrap()
            .seal()
            .unwrap(),
    );
    assert!(!client.contains(id).unwrap());
}
