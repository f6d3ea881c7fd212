//! A release happens where the program says it does.
//!
//! `Client::get` and `get_timeout` wait on a pooled connection of their own,
//! so the buffers they return are held, and later released, on that
//! connection, while `create`, `contains`, `evict`, … go over the primary
//! one. The store serves the two sockets independently. Dropping such a
//! buffer and then creating an object that only fits once the first is
//! evictable must still work, as it does on pyarrow's single connection:
//! the release has to reach the store before the next request does.

use plasma_e2e::TestStore;
use plasma_protocol::ObjectId;

#[test]
fn dropping_a_buffer_from_a_waiting_get_releases_it_before_the_next_request() {
    let store = TestStore::builder().memory(1_000_000).start();
    let client = store.client();
    for round in 0..20 {
        let id = ObjectId::random();
        client.create_and_seal(id, &[1; 600_000], b"").unwrap();
        let held = client.get(&[id]).unwrap();
        drop(held);
        let next = client.create(ObjectId::random(), 500_000, b"");
        assert!(next.is_ok(), "round {round}: {:?}", next.err());
        drop(next.unwrap().seal().unwrap());
        assert_eq!(client.evict(1 << 40).unwrap(), 500_000);
    }
}
