//! Bad input on one connection never takes the store down.
//!
//! The real Plasma store aborts the whole process on most of these (bad
//! version, unknown types, releasing what it does not hold, a second
//! subscribe, …; protocol.md §3, §14.16). Ours drops the offending
//! connection (or ignores the request) and keeps serving everyone else.
//! Each test sends one kind of bad input on a raw socket, asserts what
//! became of that connection (kept, with the request refused, or dropped),
//! then checks that the daemon is alive and that a well-behaved client can
//! still create and read an object.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use plasma_e2e::{frame, frame_with_len, pattern, RawConnection, TestStore};
use plasma_protocol::{Encoder, ErrorCode, MessageType, ObjectId, Reply, Request};

/// The 12-byte empty table both real peers send for field-less messages.
const EMPTY_TABLE: [u8; 12] = [8, 0, 0, 0, 4, 0, 4, 0, 4, 0, 0, 0];

/// What the store did with a connection after bad input on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// It still answers requests.
    Kept,
    /// The store closed it.
    Dropped,
}

impl Fate {
    /// The fate of `raw`, probed with a Contains after whatever was sent.
    fn of(raw: &mut RawConnection) -> Fate {
        if raw.still_answers() {
            Fate::Kept
        } else {
            Fate::Dropped
        }
    }
}

/// Writes `bytes` to `raw`; the store may already have closed the
/// connection (it drops as soon as it sees a bad header), so a broken pipe
/// or a reset is an outcome too, but no other error is.
fn send_or_closed(raw: &mut RawConnection, bytes: &[u8]) {
    match raw.send(bytes) {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
        Err(e) => panic!("sending to the store failed: {e}"),
    }
}

/// Sends `bytes` on a fresh, handshaken connection and tells what became
/// of that connection.
fn send_bad(store: &TestStore, bytes: &[u8]) -> Fate {
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    send_or_closed(&mut raw, bytes);
    Fate::of(&mut raw)
}

/// The daemon runs and a well-behaved client can store and read an object.
fn assert_serving(store: &mut TestStore) {
    store.assert_running();
    let client = store.client();
    let id = ObjectId::random();
    let data = pattern(42, 4096);
    client
        .create_and_seal(id, &data, b"meta")
        .unwrap_or_else(|e| panic!("create after bad input: {e}\n{}", store.stderr_report()));
    let got = client
        .get_timeout(&[id], Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("get after bad input: {e}\n{}", store.stderr_report()));
    let buffer = got[0].as_ref().expect("the object just sealed is there");
    assert_eq!(buffer.data(), &data[..]);
    assert_eq!(buffer.metadata(), b"meta");
    store.assert_running();
}

fn encode(request: &Request<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new().encode_request(request, &mut out);
    out
}

/// A table whose slots hold the given byte strings (slot i at vtable 4+2i).
fn table_of_strings(fields: &[&[u8]]) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let offsets: Vec<_> = fields.iter().map(|f| fbb.create_byte_string(f)).collect();
    let start = fbb.start_table();
    for (i, off) in offsets.iter().enumerate() {
        fbb.push_slot_always(4 + 2 * i as u16, *off);
    }
    let root = fbb.end_table(start);
    fbb.finish_minimal(root);
    fbb.finished_data().to_vec()
}

fn msg(t: MessageType) -> i64 {
    t.as_i64()
}

#[test]
fn wrong_version_drops_only_that_connection() {
    let mut store = TestStore::start();
    for version in [1, -1, i64::MAX] {
        let fate = send_bad(
            &store,
            &frame(version, msg(MessageType::ConnectRequest), &EMPTY_TABLE),
        );
        assert_eq!(
            fate,
            Fate::Dropped,
            "version {version}: a connection with a bad header cannot be resynchronised"
        );
    }
    assert_serving(&mut store);
}

#[test]
fn unknown_type_99_leaves_the_store_serving() {
    let mut store = TestStore::start();
    assert_eq!(send_bad(&store, &frame(0, 99, &EMPTY_TABLE)), Fate::Dropped);
    assert_serving(&mut store);
}

#[test]
fn negative_type_leaves_the_store_serving() {
    let mut store = TestStore::start();
    assert_eq!(send_bad(&store, &frame(0, -7, &EMPTY_TABLE)), Fate::Dropped);
    assert_serving(&mut store);
}

#[test]
fn reply_only_type_2_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let fate = send_bad(
        &store,
        &frame(0, msg(MessageType::CreateReply), &EMPTY_TABLE),
    );
    assert_eq!(fate, Fate::Dropped, "a reply type is not a request");
    assert_serving(&mut store);
}

#[test]
fn unused_type_24_unsubscribe_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let fate = send_bad(
        &store,
        &frame(0, msg(MessageType::UnsubscribeRequest), &EMPTY_TABLE),
    );
    assert_eq!(fate, Fate::Dropped, "Plasma 11 never sends type 24");
    assert_serving(&mut store);
}

#[test]
fn absurd_payload_lengths_drop_only_that_connection() {
    let mut store = TestStore::start();
    for len in [i64::MAX, 1 << 40, -1, i64::MIN] {
        let bytes = frame_with_len(0, msg(MessageType::ContainsRequest), len, &EMPTY_TABLE);
        let fate = send_bad(&store, &bytes);
        assert_eq!(fate, Fate::Dropped, "length {len}");
    }
    assert_serving(&mut store);
}

#[test]
fn malformed_flatbuffers_leave_the_store_serving() {
    let mut store = TestStore::start();
    let valid = encode(&Request::Create {
        id: ObjectId::random(),
        evict_if_full: true,
        data_size: 100,
        metadata_size: 0,
        device_num: 0,
    });
    let payload = &valid[24..];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty payload", Vec::new()),
        ("three bytes", vec![1, 2, 3]),
        ("root offset past the end", vec![0x40, 0, 0, 0, 0, 0, 0, 0]),
        ("all ones", vec![0xff; 64]),
        ("truncated create", payload[..payload.len() - 9].to_vec()),
        ("vtable offset wild", {
            let mut p = payload.to_vec();
            let root = u32::from_le_bytes(p[0..4].try_into().unwrap()) as usize;
            p[root..root + 4].copy_from_slice(&(-30_000i32).to_le_bytes());
            p
        }),
    ];
    for (what, body) in cases {
        for t in [
            MessageType::CreateRequest,
            MessageType::GetRequest,
            MessageType::SealRequest,
        ] {
            let fate = send_bad(&store, &frame(0, msg(t), &body));
            assert_eq!(fate, Fate::Dropped, "{what} as {t:?}");
            assert!(
                store.is_running(),
                "{what} as {t:?} killed the store\n{}",
                store.stderr_report()
            );
        }
    }
    assert_serving(&mut store);
}

#[test]
fn frame_cut_short_by_a_closing_client_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let id = ObjectId::random();
    let full = encode(&Request::CreateAndSeal {
        id,
        evict_if_full: true,
        data: &pattern(1, 1000),
        metadata: b"",
        digest: [0; 8],
    });
    for cut in [5, 24, 30, full.len() - 1] {
        let (mut raw, _) = RawConnection::connect_handshake(store.socket());
        raw.send(&full[..cut]).unwrap();
        drop(raw);
        // The half frame went nowhere: nothing was created.
        assert!(!store.client().contains(id).unwrap(), "cut at {cut}");
    }
    assert_serving(&mut store);
}

#[test]
fn object_id_of_19_bytes_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let id19 = [0x5a; 19];
    for t in [
        MessageType::ContainsRequest,
        MessageType::ReleaseRequest,
        MessageType::AbortRequest,
        MessageType::SealRequest,
        MessageType::CreateRequest,
    ] {
        let body = if t == MessageType::SealRequest {
            table_of_strings(&[&id19, &[0u8; 8]])
        } else {
            table_of_strings(&[&id19])
        };
        let fate = send_bad(&store, &frame(0, msg(t), &body));
        assert_eq!(fate, Fate::Dropped, "19-byte id in {t:?}");
    }
    // A Get listing a 21-byte id next to a good one.
    let mut fbb = FlatBufferBuilder::new();
    let good = fbb.create_byte_string(&[1u8; 20]);
    let bad = fbb.create_byte_string(&[2u8; 21]);
    let ids = fbb.create_vector(&[good, bad]);
    let start = fbb.start_table();
    fbb.push_slot_always(4, ids);
    let root = fbb.end_table(start);
    fbb.finish_minimal(root);
    let fate = send_bad(
        &store,
        &frame(0, msg(MessageType::GetRequest), fbb.finished_data()),
    );
    assert_eq!(fate, Fate::Dropped, "21-byte id in a Get");
    assert_serving(&mut store);
}

#[test]
fn digest_of_7_bytes_leaves_the_store_serving() {
    let mut store = TestStore::start();
    // Seal, with a 7-byte digest, an object this connection created.
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    let id = ObjectId::random();
    let created = raw.request(&Request::Create {
        id,
        evict_if_full: true,
        data_size: 8,
        metadata_size: 0,
        device_num: 0,
    });
    assert!(
        matches!(
            created,
            Reply::Create {
                error: ErrorCode::Ok,
                ..
            }
        ),
        "{created:?}"
    );
    raw.skip_fd_message();
    raw.send(&frame(
        0,
        msg(MessageType::SealRequest),
        &table_of_strings(&[id.as_bytes(), &[7u8; 7]]),
    ))
    .unwrap();
    assert_eq!(Fate::of(&mut raw), Fate::Dropped, "7-byte digest in a Seal");
    let client = store.client();
    assert!(!client.contains(id).unwrap(), "a bad seal must not seal");

    // Create-and-seal with a 7-byte digest (slots: id, evict, data, meta, digest).
    let other = ObjectId::random();
    let mut fbb = FlatBufferBuilder::new();
    let oid = fbb.create_byte_string(other.as_bytes());
    let data = fbb.create_byte_string(b"abc");
    let meta = fbb.create_byte_string(b"");
    let digest = fbb.create_byte_string(&[1u8; 7]);
    let start = fbb.start_table();
    fbb.push_slot_always(4, oid);
    fbb.push_slot::<bool>(6, true, false);
    fbb.push_slot_always(8, data);
    fbb.push_slot_always(10, meta);
    fbb.push_slot_always(12, digest);
    let root = fbb.end_table(start);
    fbb.finish_minimal(root);
    let fate = send_bad(
        &store,
        &frame(
            0,
            msg(MessageType::CreateAndSealRequest),
            fbb.finished_data(),
        ),
    );
    assert_eq!(fate, Fate::Dropped, "7-byte digest in a CreateAndSeal");
    assert!(
        !client.contains(other).unwrap(),
        "a bad create-and-seal must not seal"
    );
    assert_serving(&mut store);
}

#[test]
fn release_of_an_object_not_held_leaves_the_store_serving() {
    let mut store = TestStore::start();
    // One nobody has ever heard of, and one that exists but this connection
    // does not hold.
    let client = store.client();
    let existing = ObjectId::random();
    client.create_and_seal(existing, b"data", b"").unwrap();
    for id in [ObjectId::random(), existing] {
        let fate = send_bad(&store, &encode(&Request::Release { id }));
        assert_eq!(fate, Fate::Dropped, "release of {id} not held");
    }
    // Releasing twice on a connection that holds nothing. The store drops
    // the connection at the first, so the second write may already meet a
    // closed socket (EPIPE): that is the behaviour under test, not a fault.
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    raw.send(&encode(&Request::Release { id: existing }))
        .unwrap();
    send_or_closed(&mut raw, &encode(&Request::Release { id: existing }));
    assert_eq!(Fate::of(&mut raw), Fate::Dropped);
    assert!(
        client.contains(existing).unwrap(),
        "a bogus release must not delete the object"
    );
    assert_serving(&mut store);
}

#[test]
fn seal_of_an_unknown_id_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    let id = ObjectId::random();
    let reply = raw.request(&Request::Seal { id, digest: [1; 8] });
    assert_eq!(
        reply,
        Reply::Seal {
            id,
            error: ErrorCode::ObjectNotFound
        }
    );
    assert_eq!(Fate::of(&mut raw), Fate::Kept);
    assert_serving(&mut store);
}

#[test]
fn seal_of_an_object_already_sealed_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    let id = ObjectId::random();
    let created = raw.request(&Request::CreateAndSeal {
        id,
        evict_if_full: true,
        data: b"once",
        metadata: b"",
        digest: [0; 8],
    });
    assert_eq!(
        created,
        Reply::CreateAndSeal {
            error: ErrorCode::Ok
        }
    );
    let resealed = raw.request(&Request::Seal { id, digest: [2; 8] });
    assert_eq!(
        resealed,
        Reply::Seal {
            id,
            error: ErrorCode::ObjectExists
        }
    );
    assert_eq!(Fate::of(&mut raw), Fate::Kept);
    let client = store.client();
    let got = client.get_timeout(&[id], Duration::from_secs(5)).unwrap();
    assert_eq!(got[0].as_ref().expect("still there").data(), b"once");
    drop(got);
    assert_serving(&mut store);
}

#[test]
fn abort_by_a_client_that_did_not_create_the_object_changes_nothing() {
    let mut store = TestStore::start();
    let creator = store.client();
    let id = ObjectId::random();
    let mut builder = creator.create(id, 5, b"").unwrap();
    builder.data_mut().copy_from_slice(b"hello");

    let fate = send_bad(&store, &encode(&Request::Abort { id }));
    assert_eq!(fate, Fate::Dropped);
    store.assert_running();

    // The creator still owns its object: it seals it and others can read it.
    builder.seal().unwrap();
    let reader = store.client();
    let got = reader.get_timeout(&[id], Duration::from_secs(5)).unwrap();
    assert_eq!(
        got[0]
            .as_ref()
            .expect("the object survived the abort")
            .data(),
        b"hello"
    );
    drop(got);
    assert_serving(&mut store);
}

#[test]
fn abort_of_an_unknown_id_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let fate = send_bad(
        &store,
        &encode(&Request::Abort {
            id: ObjectId::random(),
        }),
    );
    assert_eq!(fate, Fate::Dropped);
    assert_serving(&mut store);
}

#[test]
fn second_subscribe_on_one_connection_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    let mut keep = Vec::new();
    for _ in 0..2 {
        let (ours, theirs) = UnixStream::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        raw.send(&encode(&Request::Subscribe)).unwrap();
        plasma_protocol::fd::send_fd(raw.stream().as_fd(), theirs.as_fd()).unwrap();
        keep.push(ours);
    }
    assert_eq!(Fate::of(&mut raw), Fate::Kept);
    assert_serving(&mut store);
}

#[test]
fn subscribe_without_passing_an_fd_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    raw.send(&encode(&Request::Subscribe)).unwrap();
    // A normal frame where the fd message should be.
    raw.send(&encode(&Request::List)).unwrap();
    assert_eq!(Fate::of(&mut raw), Fate::Dropped);
    drop(raw);
    assert_serving(&mut store);
}

#[test]
fn create_sizes_that_overflow_u64_are_refused() {
    let mut store = TestStore::start();
    let cases = [
        (u64::MAX, 1),
        (1, u64::MAX),
        (u64::MAX, u64::MAX),
        (1 << 63, 1 << 63),
        (u64::MAX - 10, 100),
        (i64::MAX as u64, 0),
    ];
    for (data_size, metadata_size) in cases {
        let id = ObjectId::random();
        let (mut raw, _) = RawConnection::connect_handshake(store.socket());
        raw.send_request(&Request::Create {
            id,
            evict_if_full: true,
            data_size,
            metadata_size,
            device_num: 0,
        })
        .unwrap();
        // Either an error reply (no fd follows one) or a dropped connection;
        // never success.
        match raw.read_reply().unwrap() {
            None => {}
            Some(Reply::Create { error, .. }) => assert_ne!(
                error,
                ErrorCode::Ok,
                "create of {data_size}+{metadata_size} bytes succeeded"
            ),
            Some(other) => panic!("unexpected reply {other:?}"),
        }
        store.assert_running();
        assert!(!store.client().contains(id).unwrap());
    }
    assert_serving(&mut store);
}

#[test]
fn get_with_an_enormous_timeout_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    raw.send_request(&Request::Get {
        ids: vec![ObjectId::random()],
        timeout_ms: i64::MAX,
    })
    .unwrap();
    let (mut raw2, _) = RawConnection::connect_handshake(store.socket());
    raw2.send_request(&Request::Get {
        ids: vec![ObjectId::random()],
        timeout_ms: i64::MIN,
    })
    .unwrap();
    // A negative timeout other than -1 answers at once, like 0.
    match raw2.read_reply().unwrap() {
        Some(Reply::Get { objects, .. }) => {
            assert_eq!(objects.len(), 1);
            assert!(!objects[0].is_available());
        }
        other => panic!("expected a Get reply, got {other:?}"),
    }
    assert_eq!(Fate::of(&mut raw2), Fate::Kept);
    assert_serving(&mut store);
    // The forever-waiting one still waits: it is blocked, not dropped.
    assert_eq!(store.waiting_gets(), 1);
    drop(raw);
}

#[test]
fn delete_with_a_count_that_does_not_match_its_ids_leaves_the_store_serving() {
    let mut store = TestStore::start();
    let mut fbb = FlatBufferBuilder::new();
    let a = fbb.create_byte_string(&[3u8; 20]);
    let ids = fbb.create_vector::<WIPOffset<&[u8]>>(&[a]);
    let start = fbb.start_table();
    fbb.push_slot::<i32>(4, 5, 0);
    fbb.push_slot_always(6, ids);
    let root = fbb.end_table(start);
    fbb.finish_minimal(root);
    let fate = send_bad(
        &store,
        &frame(0, msg(MessageType::DeleteRequest), fbb.finished_data()),
    );
    assert_eq!(fate, Fate::Dropped);
    assert_serving(&mut store);
}

#[test]
fn disconnect_frame_closes_only_that_connection() {
    let mut store = TestStore::start();
    let fate = send_bad(
        &store,
        &frame(0, msg(MessageType::DisconnectClient), &EMPTY_TABLE),
    );
    assert_eq!(fate, Fate::Dropped, "type 0 means disconnect");
    assert_serving(&mut store);
}

#[test]
fn garbage_bytes_drop_only_that_connection() {
    let mut store = TestStore::start();
    let mut sock = UnixStream::connect(store.socket()).unwrap();
    sock.set_read_timeout(Some(plasma_e2e::PATIENCE)).unwrap();
    sock.write_all(b"GET / HTTP/1.1\r\nHost: plasma\r\n\r\n")
        .unwrap();
    // The store closes it without a word: end of stream (or a reset).
    let mut rest = Vec::new();
    match sock.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "the store answered garbage: {rest:?}"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
    let (mut raw, _) = RawConnection::connect_handshake(store.socket());
    assert_eq!(Fate::of(&mut raw), Fate::Kept);
    assert_serving(&mut store);
}
