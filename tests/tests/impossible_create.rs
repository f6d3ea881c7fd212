//! A create that can never fit is refused up front and touches nothing.
//!
//! Plasma 11 first evicts every unreferenced object and only then answers
//! OutOfMemory to a create larger than the whole store (or of a negative
//! size). This store refuses such a create before evicting anything, so
//! the objects already stored, and the subscribers' view of them, survive.

use plasma_client::{Notification, Subscription};
use plasma_e2e::{pattern, RawConnection, TestStore, PATIENCE};
use plasma_protocol::{ErrorCode, ObjectId, Reply, Request};

const CAPACITY: u64 = 100_000_000;

fn next(sub: &mut Subscription) -> Notification {
    sub.recv_timeout(PATIENCE)
        .unwrap()
        .unwrap_or_else(|| panic!("no notification within {PATIENCE:?}"))
}

#[test]
fn create_larger_than_the_store_evicts_nothing_and_notifies_nobody() {
    let store = TestStore::builder().memory(CAPACITY).start();
    let client = store.client();
    let kept = ObjectId::random();
    client
        .create_and_seal(kept, &pattern(1, 1000), b"")
        .unwrap();
    // Sealed and unreferenced: the first object any eviction would take.
    let mut sub = client.subscribe().unwrap();
    let backlog = next(&mut sub);
    assert_eq!((backlog.id, backlog.deleted), (kept, false), "{backlog:?}");

    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    let sizes: [(u64, u64); 4] = [
        (100_000_001, 0),
        (200_000_000, 0),
        (-1i64 as u64, 0),
        (CAPACITY, 1),
    ];
    for (data_size, metadata_size) in sizes {
        let id = ObjectId::random();
        let reply = raw.request(&Request::Create {
            id,
            evict_if_full: true,
            data_size,
            metadata_size,
            device_num: 0,
        });
        match reply {
            Reply::Create { error, .. } => assert_eq!(
                error,
                ErrorCode::OutOfMemory,
                "create of {data_size}+{metadata_size} bytes"
            ),
            other => panic!("expected a CreateReply, got {other:?}"),
        }
        assert!(
            client.contains(kept).unwrap(),
            "{data_size}+{metadata_size}"
        );
    }
    let inline = vec![7u8; 100_000_001];
    let reply = raw.request(&Request::CreateAndSeal {
        id: ObjectId::random(),
        evict_if_full: true,
        data: &inline,
        metadata: b"",
        digest: [0; 8],
    });
    assert_eq!(
        reply,
        Reply::CreateAndSeal {
            error: ErrorCode::OutOfMemory
        }
    );

    let listed = client.list().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let got = client.get(&[kept]).unwrap();
    assert_eq!(got[0].data(), &pattern(1, 1000)[..]);
    // No deletion was sent: the next notification is the marker's seal.
    let marker = ObjectId::random();
    client.create_and_seal(marker, b"m", b"").unwrap();
    let n = next(&mut sub);
    assert_eq!((n.id, n.deleted), (marker, false), "{n:?}");
}
