//! With `-e hashtable://…`, eviction moves objects into the daemon's
//! external table instead of dropping them; a get brings them back intact,
//! metadata included (the real 11.0 store crashes restoring metadata,
//! protocol.md §10.15).

use std::time::Duration;

use plasma_e2e::{pattern, TestStore};
use plasma_protocol::ObjectId;

#[test]
fn evicted_objects_come_back_with_their_data_and_metadata() {
    let store = TestStore::builder()
        .memory(1_000_000)
        .external_store(true)
        .start();
    let client = store.client();
    let ids: Vec<ObjectId> = (0..12).map(|_| ObjectId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        let meta = format!("meta-{i}");
        client
            .create_and_seal(*id, &pattern(i as u64, 200_000), meta.as_bytes())
            .unwrap();
    }
    // 12 × 200 000 bytes in a 1 000 000 budget: most were evicted, none lost.
    for id in &ids {
        assert!(
            client.contains(*id).unwrap(),
            "evicted objects stay contained"
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let got = client.get_timeout(&[*id], Duration::from_secs(5)).unwrap();
        let buffer = got[0].as_ref().unwrap_or_else(|| panic!("object {i} lost"));
        assert!(
            buffer.data() == &pattern(i as u64, 200_000)[..],
            "object {i} data"
        );
        assert_eq!(buffer.metadata(), format!("meta-{i}").as_bytes());
    }
}

#[test]
fn explicit_evict_moves_objects_out_and_get_restores_them() {
    let store = TestStore::builder().external_store(true).start();
    let client = store.client();
    let id = ObjectId::random();
    client.create_and_seal(id, b"precious", b"m").unwrap();
    assert_eq!(client.evict(1 << 40).unwrap(), 9);
    assert!(client.contains(id).unwrap());
    let got = client.try_get(&[id]).unwrap();
    let buffer = got[0].as_ref().expect("restored from the external store");
    assert_eq!(
        (buffer.data(), buffer.metadata()),
        (&b"precious"[..], &b"m"[..])
    );
}
