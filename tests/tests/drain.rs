//! The graceful stop: on SIGTERM the store stops accepting, still delivers
//! the replies and notifications it owes to peers that read them late,
//! gives a waiting get and a subscriber a clean end of stream (no hang),
//! and exits 0, within its drain timeout even if a peer never reads.
//!
//! Before the drain existed, SIGTERM ended the process at once: whatever
//! sat in its output queues was lost (a late subscriber missed
//! notifications, a late reader got a truncated reply).

use std::os::unix::net::UnixStream;

use plasma_client::SubscribeError;
use plasma_e2e::{eventually, RawConnection, TestStore, PATIENCE};
use plasma_protocol::{ObjectId, Reply, Request};

/// Enough objects that their notifications (one message each) overflow the
/// socket buffers and wait in the store's queue.
const OBJECTS: usize = 3000;

/// Enough objects that a List of them (about 72 bytes each, in one
/// message) overflows the socket buffers.
const LISTED: usize = 12_000;

fn fill(store: &TestStore, objects: usize) {
    let client = store.client();
    for _ in 0..objects {
        client
            .create_and_seal(ObjectId::random(), b"", b"")
            .unwrap();
    }
}

fn queued_bytes(store: &TestStore) -> u64 {
    store.client().stats().unwrap().queued_bytes
}

fn exits_0(store: &mut TestStore) {
    let status = store.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", store.stderr_report());
}

/// A connection that asked for a List of [`LISTED`] objects and has not
/// read the reply, which waits in the store's queue.
fn late_list_reader(store: &TestStore) -> RawConnection {
    fill(store, LISTED);
    let (mut conn, _) = RawConnection::connect_handshake(store.socket());
    conn.send_request(&Request::List).unwrap();
    eventually("the List reply waits in the store", || {
        queued_bytes(store) > 0
    });
    conn
}

#[test]
fn a_subscriber_reading_late_gets_every_notification_then_a_clean_end() {
    let mut store = TestStore::start();
    let client = store.client();
    let mut sub = client.subscribe().unwrap();
    eventually("the subscription is registered", || {
        client.stats().unwrap().subscribers == 1
    });
    fill(&store, OBJECTS);
    assert!(
        queued_bytes(&store) > 0,
        "the notifications must wait in the store"
    );

    store.sigterm();
    let mut received = 0;
    loop {
        match sub.recv_timeout(PATIENCE) {
            Ok(Some(n)) => {
                assert!(!n.deleted);
                received += 1;
            }
            Ok(None) => panic!("neither a notification nor the end within {PATIENCE:?}"),
            Err(SubscribeError::Disconnected) => break,
            Err(e) => panic!("the subscription ended with {e} instead of a clean end"),
        }
    }
    assert_eq!(received, OBJECTS, "notifications were lost in the stop");
    exits_0(&mut store);
}

#[test]
fn sigterm_refuses_new_clients_ends_a_waiting_get_and_still_delivers_an_owed_reply() {
    let mut store = TestStore::start();
    let mut late_reader = late_list_reader(&store);
    let mut waiter = store.client_process("get-blocking", &[&ObjectId::random().to_string()]);
    eventually("the get waits", || {
        store.client().stats().unwrap().waiting_gets == 1
    });

    store.sigterm();
    // The waiting get is told at once, while the store still drains.
    waiter.expect_line("error: Disconnected");
    store.assert_running();
    eventually("new connections are refused", || {
        UnixStream::connect(store.socket()).is_err()
    });
    // The late reader gets its whole reply, then the end of the stream.
    match late_reader.read_reply() {
        Ok(Some(Reply::List { objects })) => assert_eq!(objects.len(), LISTED),
        other => panic!("expected the whole List reply, got {other:?}"),
    }
    assert!(matches!(late_reader.read_reply(), Ok(None)));
    exits_0(&mut store);
}

#[test]
fn a_peer_that_never_reads_holds_the_stop_only_until_the_drain_timeout() {
    let mut store = TestStore::builder()
        .arg("--drain-timeout-ms")
        .arg("200")
        .start();
    let _never_reads = late_list_reader(&store);
    store.sigterm();
    exits_0(&mut store);
    assert!(
        store
            .stderr_text()
            .contains("did not read what they were owed"),
        "{}",
        store.stderr_report()
    );
}
