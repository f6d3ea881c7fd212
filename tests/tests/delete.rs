//! Delete removes released objects at once and remembers the others:
//! held or unsealed objects go when their last holder lets go
//! (protocol.md §10.9).

use plasma_client::{ClientOptions, DeleteOutcome};
use plasma_e2e::{TestStore, PATIENCE};
use plasma_protocol::ObjectId;

#[test]
fn delete_removes_released_objects_and_reports_unknown_ones() {
    let store = TestStore::start();
    let client = store.client();
    let (present, absent) = (ObjectId::random(), ObjectId::random());
    client.create_and_seal(present, b"bye", b"").unwrap();
    assert_eq!(
        client.delete(&[present, absent]).unwrap(),
        vec![DeleteOutcome::Deleted, DeleteOutcome::NotFound]
    );
    assert!(!client.contains(present).unwrap());
}

#[test]
fn delete_of_a_held_object_happens_when_it_is_released() {
    let store = TestStore::start();
    let client = store.client();
    let mut sub = store.client().subscribe().unwrap();
    let id = ObjectId::random();
    client.create_and_seal(id, b"held", b"").unwrap();
    assert!(!sub.recv_timeout(PATIENCE).unwrap().unwrap().deleted);

    let held = client.try_get(&[id]).unwrap();
    let other = store.client();
    assert_eq!(other.delete(&[id]).unwrap(), vec![DeleteOutcome::InUse]);
    assert!(other.contains(id).unwrap(), "still there while held");
    assert_eq!(held[0].as_ref().unwrap().data(), b"held");

    drop(held);
    let n = sub
        .recv_timeout(PATIENCE)
        .unwrap()
        .expect("a deletion notification");
    assert_eq!((n.id, n.deleted), (id, true));
    assert!(!other.contains(id).unwrap());
}

#[test]
fn delete_of_an_unsealed_object_happens_after_seal_and_release() {
    let store = TestStore::start();
    // Created in the store's memory (a small object would be built locally
    // and be unknown to the store until its seal).
    let client = store.client_with({
        let mut o = ClientOptions::default();
        o.put_inline_max = 0;
        o
    });
    let id = ObjectId::random();
    let mut builder = client.create(id, 3, b"").unwrap();
    let other = store.client();
    assert_eq!(other.delete(&[id]).unwrap(), vec![DeleteOutcome::NotSealed]);
    builder.data_mut().copy_from_slice(b"abc");
    let sealed = builder.seal().unwrap();
    assert!(
        other.contains(id).unwrap(),
        "sealed and held: not deleted yet"
    );
    drop(sealed);
    assert!(!client.contains(id).unwrap(), "deleted once released");
}
