//! The store drops a client, the client's process keeps reading: the
//! bytes it reads stay the object's until the process exits.
//!
//! Before: when the store ended a connection (here for a bad frame; a queue
//! cap or a frame deadline do the same) it released the client's holds at
//! once, and the next create could take the extent that the process was
//! still reading through its mapping. Now the extents of a live peer's
//! holds are quarantined until the process exits (docs/design.md, the
//! sharing contract, rule 3).

use plasma_client::CreateError;
use plasma_e2e::{crc32, eventually, pattern, TestStore};
use plasma_protocol::ObjectId;

const CAPACITY: u64 = 10_000_000;
const HELD: usize = 4_000_000;

#[test]
fn a_dropped_clients_process_reads_unchanged_bytes_until_it_exits() {
    let store = TestStore::builder().memory(CAPACITY).start();
    let client = store.client();
    let id = ObjectId::random();
    let data = pattern(11, HELD);
    client.create_and_seal(id, &data, b"").unwrap();
    let expected = format!("len={HELD} crc={:08x}", crc32(&data));

    let check = store.dir().join("check-now");
    let mut reader = store.client_process(
        "hold-past-drop",
        &[&id.to_string(), check.to_str().unwrap()],
    );
    reader.expect_line(&format!("held {expected}"));
    reader.expect_line("dropped");
    // The store let go of the object: it is evictable like any other.
    eventually("the dropped client's hold is gone", || {
        client.evict(1).unwrap() > 0
    });

    // Another client fills the store, again and again.
    let filler = vec![0xEEu8; 1_000_000];
    for _ in 0..30 {
        client
            .create_and_seal(ObjectId::random(), &filler, b"")
            .unwrap();
    }
    std::fs::write(&check, b"").unwrap();
    reader.expect_line(&expected);
    // Its memory is still taken: the whole capacity does not fit.
    match client.create(ObjectId::random(), CAPACITY, b"") {
        Err(CreateError::StoreFull) => {}
        other => panic!("expected StoreFull while the reader lives, got {other:?}"),
    }

    reader.kill();
    eventually(
        "the reader's memory is free once it exited",
        || match client.create(ObjectId::random(), CAPACITY, b"") {
            Ok(builder) => {
                drop(builder);
                true
            }
            Err(CreateError::StoreFull) => false,
            Err(e) => panic!("{e}"),
        },
    );
}
