//! Our `direct` capability end to end (docs/design.md, "Fewer hand-overs"):
//! a get of a sealed object takes no message at all, a hold taken that way
//! keeps the object from eviction and delete exactly as a Get's would, and
//! our clients fall back to Plasma's own messages on a store without it.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Duration;

use plasma_client::{ClientOptions, DeleteOutcome, ObjectId};
use plasma_e2e::{eventually, pattern, TestStore, PATIENCE};

/// Stops the daemon (SIGSTOP) for the life of the guard: anything that
/// needed an answer from it would now block.
struct Frozen(Pid);

impl Frozen {
    fn store(store: &TestStore) -> Frozen {
        let pid = Pid::from_raw(store.pid() as i32);
        kill(pid, Signal::SIGSTOP).unwrap();
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

#[test]
fn a_get_of_a_sealed_object_needs_no_answer_from_the_store() {
    let store = TestStore::start();
    let writer = store.client();
    let id = ObjectId::random();
    writer
        .create_and_seal(id, &pattern(1, 5000), b"meta")
        .unwrap();
    // A reply that does not come within a second fails the get.
    let reader = store.client_with({
        let mut o = ClientOptions::default();
        o.request_timeout = Some(Duration::from_secs(1));
        o
    });
    let (data, meta) = {
        let _frozen = Frozen::store(&store);
        // Stopped: a Get would wait for its reply; the direct get does not.
        let got = reader.try_get(&[id]).unwrap().pop().flatten().unwrap();
        let copy = (got.data().to_vec(), got.metadata().to_vec());
        drop(got); // the release is a store into shared memory
        copy
    };
    assert_eq!(data, pattern(1, 5000));
    assert_eq!(meta, b"meta");
    // And `get` (the one that may wait) takes the same path when sealed.
    let again = reader.get(&[id]).unwrap();
    assert_eq!(again[0].data(), &pattern(1, 5000)[..]);
}

#[test]
fn eviction_never_takes_an_object_held_directly() {
    let store = TestStore::builder().memory(1_000_000).start();
    let client = store.client();
    let held = ObjectId::random();
    client
        .create_and_seal(held, &pattern(2, 600_000), b"")
        .unwrap();
    let reader = store.client();
    let buffer = reader.try_get(&[held]).unwrap().pop().flatten().unwrap();
    // Room for 500,000 more only by evicting `held`, which the reader holds.
    let other = ObjectId::random();
    assert!(client.create(other, 500_000, b"").is_err(), "held: no room");
    assert!(client.contains(held).unwrap());
    assert_eq!(buffer.data(), &pattern(2, 600_000)[..], "bytes untouched");
    let listed = client.list().unwrap();
    assert_eq!(listed[0].ref_count, 1, "list counts the direct holder");
    drop(buffer);
    // Released: now it makes room.
    drop(client.create(other, 500_000, b"").unwrap().seal().unwrap());
    assert!(!client.contains(held).unwrap());
}

#[test]
fn a_delete_waits_for_the_last_direct_hold() {
    let store = TestStore::start();
    let client = store.client();
    let mut sub = client.subscribe().unwrap();
    let id = ObjectId::random();
    client.create_and_seal(id, b"bytes", b"").unwrap();
    assert!(!sub.recv_timeout(PATIENCE).unwrap().unwrap().deleted);
    let readers: Vec<_> = (0..2).map(|_| store.client()).collect();
    let held: Vec<_> = readers
        .iter()
        .map(|r| r.try_get(&[id]).unwrap().pop().flatten().unwrap())
        .collect();
    assert_eq!(client.list().unwrap()[0].ref_count, 2);
    assert_eq!(client.delete(&[id]).unwrap(), vec![DeleteOutcome::InUse]);
    let mut held = held.into_iter();
    drop(held.next());
    assert!(client.contains(id).unwrap(), "one direct holder is left");
    drop(held.next());
    let n = sub.recv_timeout(PATIENCE).unwrap().expect("a deletion");
    assert_eq!((n.id, n.deleted), (id, true));
    eventually("the object is gone", || !client.contains(id).unwrap());
}

#[test]
fn a_small_put_is_visible_to_every_kind_of_reader() {
    let store = TestStore::start();
    let client = store.client();
    let id = ObjectId::random();
    let mut b = client.create(id, 3, b"m").unwrap();
    b.data_mut().copy_from_slice(b"abc");
    let sealed = b.seal().unwrap();
    assert_eq!((sealed.data(), sealed.metadata()), (&b"abc"[..], &b"m"[..]));
    assert!(client.contains(id).unwrap());
    let info = client.list().unwrap();
    assert_eq!((info[0].data_size, info[0].ref_count), (3, 1));
    assert!(client.verify(id).unwrap(), "the digest the put carried");
    drop(sealed);
    // An id already taken is reported by the seal of a small object.
    let mut again = client.create(id, 1, b"").unwrap();
    again.data_mut().fill(0);
    assert!(matches!(
        again.seal(),
        Err(plasma_client::SealError::ObjectExists)
    ));
}

#[test]
fn our_blocking_client_uses_plasma_messages_on_arrow_plasma_11() {
    let mut store = TestStore::builder().memory(10_000_000).plasma11().start();
    let client = store.client();
    let id = ObjectId::random();
    let mut b = client.create(id, 4, b"").unwrap();
    b.data_mut().copy_from_slice(b"p11!");
    drop(b.seal().unwrap());
    let got = client.try_get(&[id]).unwrap().pop().flatten().unwrap();
    assert_eq!(got.data(), b"p11!");
    drop(got);
    assert_eq!(client.delete(&[id]).unwrap(), vec![DeleteOutcome::Deleted]);
    store.assert_running();
}
