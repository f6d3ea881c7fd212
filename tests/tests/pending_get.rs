//! One connection with a get waiting (protocol.md has no request ids, so
//! replies must come back in request order): a Release sent behind the get
//! is carried out at once, while the next request that expects a reply
//! waits until the get has been answered (design.md, "The event loop").
//! pyarrow never does this; our client's threads may.

use std::time::Duration;

use plasma_e2e::{eventually, RawConnection, TestStore, PATIENCE};
use plasma_protocol::{ObjectId, Reply, Request};

#[test]
fn release_behind_a_waiting_get_is_handled_at_once_and_replies_keep_their_order() {
    let store = TestStore::start();
    let other = store.client();
    let (held, awaited) = (ObjectId::random(), ObjectId::random());
    other.create_and_seal(held, b"xx", b"").unwrap();

    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    match raw.request(&Request::Get {
        ids: vec![held],
        timeout_ms: 0,
    }) {
        Reply::Get { objects, .. } => assert!(objects[0].is_available()),
        reply => panic!("{reply:?}"),
    }
    raw.skip_fd_message(); // the segment is new to this connection

    raw.send_request(&Request::Get {
        ids: vec![awaited],
        timeout_ms: -1,
    })
    .unwrap();
    raw.send_request(&Request::Release { id: held }).unwrap();
    raw.send_request(&Request::Contains { id: held }).unwrap();

    // The release took effect although the get still waits.
    eventually("the released object is evictable", || {
        other.evict(1 << 40).unwrap() == 2
    });
    // The Contains is not answered ahead of the get.
    raw.stream()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        raw.read_reply().is_err(),
        "a reply came before the get was answered"
    );
    raw.stream().set_read_timeout(Some(PATIENCE)).unwrap();

    other.create_and_seal(awaited, b"yyy", b"").unwrap();
    match raw.read_reply().unwrap() {
        Some(Reply::Get { ids, objects, .. }) => {
            assert_eq!(ids, vec![awaited]);
            assert_eq!(objects[0].data_size, 3);
        }
        reply => panic!("expected the get's reply first, got {reply:?}"),
    }
    match raw.read_reply().unwrap() {
        Some(Reply::Contains { id, has_object }) => assert_eq!((id, has_object), (held, false)),
        reply => panic!("expected the contains reply second, got {reply:?}"),
    }
}
