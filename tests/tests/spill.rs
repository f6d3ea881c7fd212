//! Spilling to disk (issue 14), against the real daemon: objects pushed out
//! of memory go to the store's spill directory and come back byte for byte
//! when asked for, from any process; a spill is not a deletion; a spill file
//! that is damaged costs its object only.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use plasma_client::Client;
use plasma_e2e::{crc32, eventually, pattern, within, RawConnection, SpillPlace, TestStore};
use plasma_protocol::{ObjectId, Reply, Request, Residence};

const MIB: u64 = 1 << 20;

/// A store of 8 MiB spilling to its own directory.
fn spilling_store() -> TestStore {
    TestStore::builder()
        .memory(8 * MIB)
        .spill(SpillPlace::Own, None)
        .start()
}

/// Puts `n` objects of `size` bytes (pattern seed = index), released.
fn put_many(client: &Client, n: usize, size: usize) -> Vec<ObjectId> {
    (0..n)
        .map(|i| {
            let id = ObjectId::random();
            let mut b = client.create(id, size as u64, b"meta").unwrap();
            b.data_mut().copy_from_slice(&pattern(i as u64, size));
            drop(b.seal().unwrap());
            id
        })
        .collect()
}

fn residence(client: &Client, id: ObjectId) -> Option<Residence> {
    client
        .list()
        .unwrap()
        .into_iter()
        .find(|i| i.object_id == id)
        .map(|i| i.residence)
}

#[test]
fn three_times_the_memory_is_read_back_byte_for_byte_by_another_process() {
    let store = spilling_store();
    let client = store.client();
    let mut notes = client.subscribe().unwrap();
    let size = MIB as usize;
    let ids = put_many(&client, 24, size);
    assert!(store.debug_figure("spills") >= 16, "{}", store.debug_text());
    assert!(ids
        .iter()
        .any(|id| residence(&client, *id) == Some(Residence::Disk)));

    let hex: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    let args: Vec<&str> = hex.iter().map(String::as_str).collect();
    let mut reader = store.client_process("get-all", &args);
    for i in 0..ids.len() {
        let want = pattern(i as u64, size);
        reader.expect_line(&format!("len={size} crc={:08x} digest=ok", crc32(&want)));
    }
    reader.finish();
    assert!(store.debug_figure("restores") >= 16);
    assert_eq!(store.debug_figure("restore failures"), 0);
    assert_eq!(store.debug_figure("objects dropped instead of spilled"), 0);
    // Seals only: nothing was deleted.
    while let Ok(Some(n)) = notes.recv_timeout(Duration::from_millis(100)) {
        assert!(!n.deleted, "a spill was notified as a deletion: {n:?}");
    }
}

#[test]
fn as_future_of_a_spilled_object_resolves_with_its_bytes() {
    let store = spilling_store();
    let client = store.client();
    let ids = put_many(&client, 12, MIB as usize);
    assert_eq!(residence(&client, ids[0]), Some(Residence::Disk));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let socket = store.socket().to_path_buf();
    let data = within("as_future of spilled objects", move || {
        rt.block_on(async {
            let c = plasma_client::AsyncClient::connect(socket).await.unwrap();
            let mut crcs = Vec::new();
            for id in &ids[..3] {
                let got = c.as_future(*id).await.unwrap();
                crcs.push(crc32(got.data()));
            }
            crcs
        })
    });
    let want: Vec<u32> = (0..3).map(|i| crc32(&pattern(i, MIB as usize))).collect();
    assert_eq!(data, want);
    assert!(store.debug_figure("restores") >= 1);
}

#[test]
fn contains_list_and_delete_see_spilled_objects() {
    let store = spilling_store();
    let client = store.client();
    let ids = put_many(&client, 12, MIB as usize);
    let spilled: Vec<ObjectId> = ids
        .iter()
        .copied()
        .filter(|id| residence(&client, *id) == Some(Residence::Disk))
        .collect();
    assert!(spilled.len() >= 2, "{}", store.debug_text());
    let files = store.spill_files().len();
    assert!(files >= spilled.len(), "{:?}", store.spill_files());
    // Delete removes the file.
    client.delete(&spilled[..1]).unwrap();
    eventually("the deleted object's file is removed", || {
        store.spill_files().len() == files - 1
    });
    assert!(!client.contains(spilled[0]).unwrap());
    // Contains brings one back.
    assert!(client.contains(spilled[1]).unwrap());
    assert_eq!(residence(&client, spilled[1]), Some(Residence::Memory));
}

#[test]
fn a_corrupted_spill_file_is_a_clean_not_found_for_its_object_only() {
    let store = spilling_store();
    let client = store.client();
    let ids = put_many(&client, 12, MIB as usize);
    let victim = ids[0];
    assert_eq!(residence(&client, victim), Some(Residence::Disk));
    eventually("the writes have ended", || {
        store.debug_figure("spills in flight") == 0
    });
    let dir = store.spill_dir().unwrap().to_path_buf();
    for name in store.spill_files() {
        let path = dir.join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[1000] ^= 0x5a;
        std::fs::write(&path, bytes).unwrap();
    }
    // A Get that would wait forever is answered as soon as the restore has
    // failed: "not available" for that object (the object is gone; a later
    // Get waits for it to be created again, as for any absent object).
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    let reply = within("the Get of the lost object", move || {
        raw.request(&Request::Get {
            ids: vec![victim],
            timeout_ms: -1,
        })
    });
    let Reply::Get { objects, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(!objects[0].is_available(), "a corrupt object was served");
    assert!(!client.contains(victim).unwrap());
    assert_eq!(store.debug_figure("restore failures"), 1);
    assert!(store
        .stderr_text()
        .contains("the file is not what was written"));
    // Objects in memory are untouched, the store serves on.
    let last = client.get(&ids[11..]).unwrap();
    assert!(last[0].data() == &pattern(11, MIB as usize)[..]);
    drop(last);
    put_many(&client, 2, 1000);
}

#[test]
fn gets_racing_a_spill_of_the_same_object_see_its_bytes() {
    // A 200 MiB object is pushed out by another client's create; while its
    // write runs, a get takes it from memory and holds it. The write's end
    // then abandons the spill: the held bytes stay where they are, and the
    // create is refused until the hold goes (then it pushes the object out
    // again, and a later get brings it back from disk).
    let store = TestStore::builder()
        .memory(300 * MIB)
        .spill(SpillPlace::Own, None)
        .start();
    let client = store.client();
    let size = 200 * MIB as usize;
    let big = put_many(&client, 1, size)[0];
    let want = crc32(&pattern(0, size));
    let refused = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    let mine = pattern(1, size);
    std::thread::scope(|s| {
        let pusher = s.spawn(|| {
            let c = store.client();
            let other = ObjectId::random();
            let mut builder = loop {
                match c.create(other, size as u64, b"") {
                    Ok(b) => break b,
                    Err(_) => refused.fetch_add(1, Ordering::SeqCst),
                };
                std::thread::sleep(Duration::from_millis(5));
            };
            // Were this the held object's extent, the holder would see it.
            builder.write_data(&mine);
            drop(builder.seal().unwrap());
            done.store(true, Ordering::SeqCst);
            other
        });
        eventually("the spill is under way", || {
            store.debug_figure("spills in flight") == 1
        });
        let held = client.get(&[big]).unwrap();
        eventually("the spill was abandoned", || {
            store.debug_figure("spills abandoned") == 1
        });
        eventually("the create was refused while the object is held", || {
            refused.load(Ordering::SeqCst) >= 2 || done.load(Ordering::SeqCst)
        });
        assert!(!done.load(Ordering::SeqCst), "created over a held object");
        assert_eq!(crc32(held[0].data()), want, "the held bytes changed");
        drop(held);
        let other = pusher.join().unwrap();
        assert!(client.get(&[other]).unwrap()[0].data() == &mine[..]);
    });
    // Pushed out by the create once released, back now (pushing that
    // create's object out in turn).
    assert_eq!(crc32(client.get(&[big]).unwrap()[0].data()), want);
    assert_eq!(store.debug_figure("spills"), 2, "{}", store.debug_text());
    assert_eq!(store.debug_figure("restores"), 1);
}

#[test]
fn two_stores_refuse_to_share_a_spill_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestStore::builder()
        .spill(SpillPlace::Dir(dir.path().to_path_buf()), None)
        .start();
    let (status, stderr) = TestStore::builder()
        .spill(SpillPlace::Dir(dir.path().to_path_buf()), None)
        .start_expecting_exit();
    assert!(!status.success());
    assert!(
        stderr.contains("spill directory of another running plasma-store"),
        "{stderr}"
    );
    drop(first);
}

#[test]
fn a_store_killed_in_the_middle_of_a_spill_restarts_on_a_clean_directory() {
    let dir = tempfile::tempdir().unwrap();
    let place = SpillPlace::Dir(dir.path().to_path_buf());
    let mut store = TestStore::builder()
        .memory(300 * MIB)
        .spill(place.clone(), None)
        .start();
    let client = store.client();
    put_many(&client, 1, 256 * MIB as usize);
    // A second object of the same size pushes the first one out.
    let socket = store.socket().to_path_buf();
    let pusher = std::thread::spawn(move || {
        let c = Client::connect(socket).unwrap();
        let _ = c.create(ObjectId::random(), 256 * MIB, b"");
    });
    let spill_files = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".spill") || n.ends_with(".spill.tmp"))
            .count()
    };
    eventually("the spill file is being written", || {
        store.debug_figure("spills in flight") == 1 && spill_files() == 1
    });
    store.kill();
    let _ = pusher.join();
    assert_eq!(spill_files(), 1, "the killed store's spill file is there");

    let store = TestStore::builder()
        .memory(8 * MIB)
        .spill(place, None)
        .start();
    assert!(store.spill_files().is_empty(), "{:?}", store.spill_files());
    let client = store.client();
    let ids = put_many(&client, 12, MIB as usize);
    assert!(store.debug_figure("spills") >= 4);
    let got = client.get(&ids[..1]).unwrap();
    assert!(got[0].data() == &pattern(0, MIB as usize)[..]);
}
