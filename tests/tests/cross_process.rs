//! Objects cross process boundaries byte for byte: what one process writes
//! into shared memory, another maps and reads.

use std::time::Duration;

use plasma_e2e::{crc32, eventually, pattern, TestStore};
use plasma_protocol::ObjectId;

#[test]
fn object_written_by_one_process_is_read_by_another() {
    let store = TestStore::start();
    let id = ObjectId::random();
    let size = 1_000_003;
    let mut writer = store.client_process("put", &[&id.to_string(), &size.to_string(), "7"]);
    writer.expect_line("sealed");
    writer.finish();

    let client = store.client();
    let got = client.get_timeout(&[id], Duration::from_secs(5)).unwrap();
    let buffer = got[0]
        .as_ref()
        .expect("the object sealed by the other process");
    assert_eq!(buffer.data().len(), size);
    assert!(buffer.data() == &pattern(7, size)[..], "bytes differ");
    assert!(buffer.metadata().is_empty());
}

#[test]
fn object_written_here_is_read_by_another_process() {
    let store = TestStore::start();
    let client = store.client();
    let id = ObjectId::random();
    let data = pattern(9, 65_536 + 13);
    let mut builder = client.create(id, data.len() as u64, b"meta").unwrap();
    builder.data_mut().copy_from_slice(&data);
    drop(builder.seal().unwrap());

    let mut reader = store.client_process("get", &[&id.to_string(), "5000"]);
    reader.expect_line(&format!("len={} crc={:08x}", data.len(), crc32(&data)));
    reader.finish();
}

#[test]
fn process_waiting_for_an_object_gets_it_once_sealed_here() {
    let store = TestStore::start();
    let id = ObjectId::random();
    let mut reader = store.client_process("get-blocking", &[&id.to_string()]);
    eventually("the reader's get waits in the store", || {
        store.waiting_gets() == 1
    });

    let data = pattern(3, 4096);
    store.client().create_and_seal(id, &data, b"").unwrap();
    reader.expect_line(&format!("len=4096 crc={:08x}", crc32(&data)));
    reader.finish();
}

#[test]
fn empty_object_crosses_processes() {
    let store = TestStore::start();
    let id = ObjectId::random();
    let mut writer = store.client_process("put", &[&id.to_string(), "0", "1"]);
    writer.expect_line("sealed");
    writer.finish();
    let mut reader = store.client_process("get", &[&id.to_string(), "0"]);
    reader.expect_line(&format!("len=0 crc={:08x}", crc32(b"")));
    reader.finish();
}

#[test]
fn absent_object_reads_as_none_in_another_process() {
    let store = TestStore::start();
    let mut reader = store.client_process("get", &[&ObjectId::random().to_string(), "0"]);
    reader.expect_line("none");
    reader.finish();
}

#[test]
fn large_object_copied_in_with_write_data_is_read_by_another_process_and_verifies() {
    // Large enough for write_data's helper thread (prefault + digest).
    let store = TestStore::builder().memory(64 << 20).start();
    let client = store.client();
    let id = ObjectId::random();
    let data = pattern(11, (9 << 20) + 5);
    let mut builder = client.create(id, data.len() as u64, b"meta").unwrap();
    builder.write_data(&data);
    drop(builder.seal().unwrap());

    let mut reader = store.client_process("get", &[&id.to_string(), "5000"]);
    reader.expect_line(&format!("len={} crc={:08x}", data.len(), crc32(&data)));
    reader.finish();
    assert!(
        client.verify(id).unwrap(),
        "the digest sent at seal matches the bytes"
    );
}
