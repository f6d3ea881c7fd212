//! Get with timeouts: 0 answers at once, N ms waits at least N ms, and an
//! object sealed meanwhile (by another thread, on another connection) is
//! returned as soon as it is sealed.

use std::time::{Duration, Instant};

use plasma_e2e::{eventually, pattern, within, TestStore};
use plasma_protocol::ObjectId;

#[test]
fn get_with_timeout_0_returns_none_at_once() {
    let store = TestStore::start();
    let client = store.client();
    let absent = within("a get with timeout 0", move || {
        client.try_get(&[ObjectId::random()]).unwrap()[0].is_none()
    });
    assert!(absent);
}

#[test]
fn get_with_100_ms_timeout_returns_none_after_at_least_100_ms() {
    let store = TestStore::start();
    let client = store.client();
    let start = Instant::now();
    let got = client
        .get_timeout(&[ObjectId::random()], Duration::from_millis(100))
        .unwrap();
    let waited = start.elapsed();
    assert!(got[0].is_none());
    assert!(
        waited >= Duration::from_millis(100),
        "returned after {waited:?}"
    );
}

#[test]
fn get_returns_an_object_sealed_later_by_another_thread() {
    let store = TestStore::start();
    let reader = store.client();
    let writer = store.client();
    let id = ObjectId::random();
    let data = pattern(5, 10_000);

    let waiting = {
        let reader = reader.clone();
        std::thread::spawn(move || {
            let got = reader.get_timeout(&[id], Duration::from_secs(20)).unwrap();
            got[0].as_ref().map(|b| b.data().to_vec())
        })
    };
    eventually("the reader's get waits in the store", || {
        store.waiting_gets() == 1
    });
    let mut builder = writer.create(id, data.len() as u64, b"").unwrap();
    builder.data_mut().copy_from_slice(&data);
    drop(builder.seal().unwrap());

    let got = within("the waiting get", move || waiting.join().unwrap());
    assert_eq!(got.as_deref(), Some(&data[..]));
}

#[test]
fn get_answers_each_position_of_a_mixed_request() {
    let store = TestStore::start();
    let client = store.client();
    let present = ObjectId::random();
    client.create_and_seal(present, b"here", b"m").unwrap();
    let absent = ObjectId::random();
    let got = client
        .get_timeout(&[present, absent, present], Duration::from_millis(50))
        .unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].as_ref().map(|b| b.data()), Some(&b"here"[..]));
    assert!(got[1].is_none());
    assert_eq!(got[2].as_ref().map(|b| b.metadata()), Some(&b"m"[..]));
}

#[test]
fn own_unsealed_object_is_not_returned_by_get() {
    let store = TestStore::start();
    let client = store.client();
    let id = ObjectId::random();
    let _builder = client.create(id, 10, b"").unwrap();
    let got = client.try_get(&[id]).unwrap();
    assert!(got[0].is_none());
}
