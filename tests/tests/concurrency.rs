//! One `Client` shared by several threads: a get blocked in one thread does
//! not hold up releases and contains in the others.

use plasma_e2e::{eventually, within, TestStore};
use plasma_protocol::ObjectId;

#[test]
fn blocking_get_in_one_thread_does_not_block_release_or_contains_in_another() {
    let store = TestStore::start();
    let client = store.client();
    let held = ObjectId::random();
    client.create_and_seal(held, b"held", b"").unwrap();
    let buffers = client.get(&[held]).unwrap();

    let awaited = ObjectId::random();
    let waiting = {
        let client = client.clone();
        std::thread::spawn(move || {
            let got = client.get(&[awaited]).unwrap();
            got[0].data().to_vec()
        })
    };
    eventually("the other thread's get waits in the store", || {
        store.waiting_gets() == 1
    });

    // Release in this thread while the other one waits...
    drop(buffers);
    // ...and ask the store about both objects: neither call may wait for the get.
    let probe = client.clone();
    let (has_held, has_awaited) = within("contains during a blocked get", move || {
        (
            probe.contains(held).unwrap(),
            probe.contains(awaited).unwrap(),
        )
    });
    assert!(has_held);
    assert!(!has_awaited);
    // The release really reached the store while the get still waits: the
    // object becomes evictable. (It travels on another connection than
    // `other`'s, so it may take a moment.)
    let other = store.client();
    eventually("the released object is evictable", || {
        other.evict(1 << 40).unwrap() == 4
    });

    other.create_and_seal(awaited, b"at last", b"").unwrap();
    let got = within("the blocked get", move || waiting.join().unwrap());
    assert_eq!(got, b"at last");
}

#[test]
fn many_threads_share_one_client() {
    let store = TestStore::start();
    let client = store.client();
    let workers: Vec<_> = (0..8u8)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..50u8 {
                    let id = ObjectId::random();
                    let data = vec![t ^ i; 100 + usize::from(i)];
                    client.create_and_seal(id, &data, &[t]).unwrap();
                    let got = client.get(&[id]).unwrap();
                    let buffer = &got[0];
                    assert_eq!(buffer.data(), &data[..]);
                    assert_eq!(buffer.metadata(), &[t]);
                }
            })
        })
        .collect();
    within("eight threads of puts and gets", move || {
        for w in workers {
            w.join().unwrap();
        }
    });
}
