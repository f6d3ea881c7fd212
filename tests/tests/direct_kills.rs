//! A client of our `direct` capability killed at any step of its new paths
//! leaves nothing behind: no hold (direct or through the socket), no pinned
//! object, no bytes allocated once the store evicts what it may. Each test
//! kills a client in another process at one step, then checks the store
//! from a fresh client. (The general kill sweep lives in its own file; these
//! are the direct paths' steps.)

use plasma_client::{Client, DeleteOutcome};
use plasma_e2e::{eventually, pattern, RawConnection, TestStore};
use plasma_protocol::{ObjectId, Reply, Request};

/// Everything the store holds is evictable and no one holds anything:
/// evicting everything frees exactly `bytes`, and the store is empty after.
fn back_to_baseline(client: &Client, bytes: u64) {
    eventually("no holder is left", || {
        client.list().unwrap().iter().all(|o| o.ref_count == 0)
    });
    assert_eq!(client.evict(u64::MAX).unwrap(), bytes);
    assert!(client.list().unwrap().is_empty());
    assert_eq!(client.evict(u64::MAX).unwrap(), 0);
}

fn sealed(client: &Client, size: usize) -> ObjectId {
    let id = ObjectId::random();
    client.create_and_seal(id, &pattern(3, size), b"").unwrap();
    id
}

#[test]
fn killed_while_holding_objects_directly() {
    let store = TestStore::start();
    let client = store.client();
    let ids = [sealed(&client, 1000), sealed(&client, 2000)];
    let mut holder = store.client_process("hold", &[&ids[0].to_string(), &ids[1].to_string()]);
    holder.expect_line("held");
    assert!(client.list().unwrap().iter().all(|o| o.ref_count == 1));
    holder.kill();
    back_to_baseline(&client, 3000);
}

#[test]
fn killed_holding_an_object_an_eviction_pinned() {
    let store = TestStore::builder().memory(1_000_000).start();
    let client = store.client();
    let id = sealed(&client, 600_000);
    let mut holder = store.client_process("hold", &[&id.to_string()]);
    holder.expect_line("held");
    // The eviction this create needs finds the object held: pinned.
    assert!(client.create(ObjectId::random(), 500_000, b"").is_err());
    holder.kill();
    eventually("the pinned object is evictable again", || {
        client.create(ObjectId::random(), 500_000, b"").is_ok()
    });
    assert!(!client.contains(id).unwrap());
}

#[test]
fn killed_holding_an_object_whose_delete_waits() {
    let store = TestStore::start();
    let client = store.client();
    let id = sealed(&client, 1000);
    let mut holder = store.client_process("hold", &[&id.to_string()]);
    holder.expect_line("held");
    assert_eq!(client.delete(&[id]).unwrap(), vec![DeleteOutcome::InUse]);
    holder.kill();
    eventually("the delete happens with the holder's death", || {
        !client.contains(id).unwrap()
    });
    back_to_baseline(&client, 0);
}

#[test]
fn killed_after_a_put_while_its_buffer_holds_it() {
    let store = TestStore::start();
    let client = store.client();
    let id = ObjectId::random();
    let mut putter = store.client_process("put-and-hang", &[&id.to_string(), "4000"]);
    putter.expect_line("put");
    assert_eq!(client.list().unwrap()[0].ref_count, 1);
    putter.kill();
    back_to_baseline(&client, 4000);
}

#[test]
fn killed_while_building_a_small_object_locally() {
    let store = TestStore::start();
    let client = store.client();
    let id = ObjectId::random();
    // A small create asks the store nothing: there is nothing to undo.
    let mut builder = store.client_process("create-and-hang", &[&id.to_string(), "100"]);
    builder.expect_line("created");
    assert!(client.list().unwrap().is_empty());
    builder.kill();
    back_to_baseline(&client, 0);
    client.create_and_seal(id, b"the id is free", b"").unwrap();
}

#[test]
fn killed_with_releases_logged_but_not_yet_read_by_the_store() {
    let store = TestStore::start();
    let client = store.client();
    let ids = [sealed(&client, 100), sealed(&client, 200)];
    let mut reader = store.client_process(
        "release-and-hang",
        &[&ids[0].to_string(), &ids[1].to_string()],
    );
    reader.expect_line("released");
    reader.kill();
    back_to_baseline(&client, 300);
}

#[test]
fn gone_with_a_put_in_flight() {
    let store = TestStore::start();
    let client = store.client();
    let id = ObjectId::random();
    // A client that attaches, sends a Put naming a slot, and is gone before
    // the reply: the store creates, seals and holds the object for it, then
    // meets the end of the connection.
    let mut raw = RawConnection::connect_handshake(store.socket()).0;
    match raw.request(&Request::Attach) {
        Reply::Attach { error, .. } => assert_eq!(error, plasma_protocol::ErrorCode::Ok),
        other => panic!("expected an attach reply, got {other:?}"),
    }
    // The arena, directory and hold-table descriptors follow the reply.
    // Read them all, so that nothing is still being sent to this connection
    // when it goes: a store that fails to write to a closed peer drops it
    // without reading the frames it sent last.
    for _ in 0..3 {
        raw.skip_fd_message();
    }
    raw.send_request(&Request::Put {
        id,
        evict_if_full: true,
        data: &[9; 700],
        metadata: b"",
        digest: [0; 8],
        slot: 5,
    })
    .unwrap();
    drop(raw);
    eventually("the put was handled", || client.contains(id).unwrap());
    back_to_baseline(&client, 700);
}
