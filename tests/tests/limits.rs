//! The daemon's own protective limits, set from its command line: each one
//! drops the offending connection and nothing else.

use std::io::Read;
use std::time::{Duration, Instant};

use plasma_client::CreateError;
use plasma_e2e::{RawConnection, TestStore, PATIENCE};
use plasma_protocol::{ObjectId, Request};

#[test]
fn frame_longer_than_max_frame_drops_only_that_client() {
    let store = TestStore::builder().arg("--max-frame").arg("4096").start();
    let big = store.client();
    match big.create_and_seal(ObjectId::random(), &[0; 10_000], b"") {
        Err(CreateError::Disconnected) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let small = store.client();
    small
        .create_and_seal(ObjectId::random(), &[0; 1000], b"")
        .unwrap();
}

#[test]
fn half_sent_frame_is_dropped_after_the_frame_deadline() {
    let store = TestStore::builder()
        .arg("--frame-deadline-ms")
        .arg("200")
        .start();
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    let mut frame = Vec::new();
    plasma_protocol::Encoder::new().encode_request(&Request::List, &mut frame);
    let start = Instant::now();
    raw.send(&frame[..10]).unwrap();

    let mut byte = [0u8; 1];
    let mut stream = raw.stream();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let n = stream.read(&mut byte).unwrap_or(0);
    assert_eq!(n, 0, "the store should close the stalled connection");
    assert!(start.elapsed() >= Duration::from_millis(200));
    // Everyone else is served meanwhile and afterwards.
    assert!(store.client().list().unwrap().is_empty());
}

#[test]
fn subscriber_that_never_reads_is_dropped_at_the_queue_cap_without_stalling_the_store() {
    let mut store = TestStore::builder()
        .arg("--subscriber-queue-cap")
        .arg("65536")
        .start();
    let mut sub = store.client().subscribe().unwrap();
    let client = store.client();
    // Far more notifications than the socket buffer plus 64 KiB hold.
    let ids: Vec<ObjectId> = (0..5000).map(|_| ObjectId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        if let Err(e) = client.create_and_seal(*id, b"n", b"") {
            panic!("seal {i} failed: {e}\n{}", store.stderr_report());
        }
    }
    store.assert_running();
    assert!(client.contains(ids[4999]).unwrap());
    // The subscriber was cut off: what it can still read ends early.
    let mut seen = 0;
    while let Ok(Some(_)) = sub.recv_timeout(Duration::from_secs(1)) {
        seen += 1;
    }
    assert!(
        seen < 5000,
        "all {seen} notifications arrived despite the cap"
    );
}

#[test]
fn reply_larger_than_the_queue_cap_still_reaches_a_client_that_reads_it() {
    // The cap is there for clients that do not read. A client waiting for
    // one large reply (a List of many objects) reads all the while.
    let store = TestStore::builder().arg("--queue-cap").arg("65536").start();
    let client = store.client();
    for _ in 0..5000 {
        client
            .create_and_seal(ObjectId::random(), b"n", b"")
            .unwrap();
    }
    match client.list() {
        Ok(all) => assert_eq!(all.len(), 5000),
        Err(e) => panic!(
            "list of 5000 objects failed: {e}\n{}",
            store.stderr_report()
        ),
    }
}
