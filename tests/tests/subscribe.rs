//! Subscribers see every seal and every deletion, in the order they
//! happened, starting with a backlog of the objects sealed before they
//! subscribed.

use std::collections::HashSet;
use std::time::Duration;

use plasma_client::{Notification, Subscription};
use plasma_e2e::{TestStore, PATIENCE};
use plasma_protocol::ObjectId;

fn next(sub: &mut Subscription) -> Notification {
    sub.recv_timeout(PATIENCE)
        .unwrap()
        .unwrap_or_else(|| panic!("no notification within {PATIENCE:?}"))
}

/// Subscribes and waits until the store has registered the subscription.
fn subscribed(store: &TestStore) -> Subscription {
    let mut sub = store.client().subscribe().unwrap();
    sync(store, std::slice::from_mut(&mut sub));
    sub
}

/// `subscribe()` returns once the request is sent, on the subscription's
/// own connection, so a seal from another connection could race it. This
/// seals and deletes a marker object and reads both notifications from
/// every subscription: afterwards all of them are registered and drained.
fn sync(store: &TestStore, subs: &mut [Subscription]) {
    let client = store.client();
    let marker = ObjectId::random();
    client.create_and_seal(marker, b"marker", b"").unwrap();
    for sub in subs.iter_mut() {
        assert_sealed(&next(sub), marker, 6, 0);
    }
    client.delete(&[marker]).unwrap();
    for sub in subs.iter_mut() {
        assert_deleted(&next(sub), marker);
    }
}

fn assert_sealed(n: &Notification, id: ObjectId, data: u64, meta: u64) {
    assert_eq!(
        (n.id, n.deleted, n.data_size, n.metadata_size),
        (id, false, data, meta),
        "{n:?}"
    );
    assert!(
        n.digest.is_some(),
        "a seal notification carries the digest: {n:?}"
    );
}

fn assert_deleted(n: &Notification, id: ObjectId) {
    assert_eq!((n.id, n.deleted), (id, true), "{n:?}");
}

#[test]
fn subscriber_gets_seal_and_deletion_notifications_in_order() {
    let store = TestStore::start();
    let mut sub = subscribed(&store);
    let client = store.client();
    let (a, b, c) = (ObjectId::random(), ObjectId::random(), ObjectId::random());

    client.create_and_seal(a, &[1; 10], &[2; 2]).unwrap();
    let mut builder = client.create(b, 20, b"").unwrap();
    builder.data_mut().fill(3);
    drop(builder.seal().unwrap());
    client.delete(&[a]).unwrap();
    client.create_and_seal(c, b"", b"").unwrap();
    assert_eq!(client.evict(1 << 40).unwrap(), 20);

    assert_sealed(&next(&mut sub), a, 10, 2);
    assert_sealed(&next(&mut sub), b, 20, 0);
    assert_deleted(&next(&mut sub), a);
    assert_sealed(&next(&mut sub), c, 0, 0);
    // Evict goes least recently released first: b, then the empty c.
    assert_deleted(&next(&mut sub), b);
    assert_deleted(&next(&mut sub), c);
    assert!(sub
        .recv_timeout(Duration::from_millis(100))
        .unwrap()
        .is_none());
}

#[test]
fn subscribing_first_lists_the_objects_already_sealed() {
    let store = TestStore::start();
    let client = store.client();
    let sealed: HashSet<ObjectId> = (0..5).map(|_| ObjectId::random()).collect();
    for id in &sealed {
        client.create_and_seal(*id, b"x", b"").unwrap();
    }
    let _unsealed = client.create(ObjectId::random(), 4, b"").unwrap();

    let mut sub = store.client().subscribe().unwrap();
    let backlog: HashSet<ObjectId> = (0..5).map(|_| next(&mut sub).id).collect();
    assert_eq!(backlog, sealed);
    assert!(
        sub.recv_timeout(Duration::from_millis(100))
            .unwrap()
            .is_none(),
        "unsealed objects are not announced"
    );
}

#[test]
fn every_subscriber_sees_every_notification() {
    let store = TestStore::start();
    let mut subs: Vec<Subscription> = (0..3)
        .map(|_| store.client().subscribe().unwrap())
        .collect();
    sync(&store, &mut subs);
    let id = ObjectId::random();
    store.client().create_and_seal(id, b"shared", b"").unwrap();
    for sub in &mut subs {
        assert_sealed(&next(sub), id, 6, 0);
    }
}

#[test]
fn a_subscriber_that_reads_late_loses_nothing() {
    let store = TestStore::builder().memory(50_000_000).start();
    let mut sub = subscribed(&store);
    let client = store.client();
    let ids: Vec<ObjectId> = (0..3000).map(|_| ObjectId::random()).collect();
    for id in &ids {
        client.create_and_seal(*id, &[9; 100], b"").unwrap();
    }
    for id in &ids {
        assert_sealed(&next(&mut sub), *id, 100, 0);
    }
}
