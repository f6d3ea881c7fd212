//! List and GetDebugString built in slices between other requests: the
//! same bytes as in one pass, whatever the slice size.

use plasma_protocol::{Encoder, ObjectInfo, Reply, Request};

use crate::core::testkit::{create_req, oid, replies, Kit};
use crate::core::LongRequest;

use super::{A, B};

fn build(k: &Kit, request: LongRequest, slots: usize) -> Vec<u8> {
    let mut job = k.store.start_long(request);
    loop {
        if let Some(frame) = k.store.advance_long(&mut job, slots) {
            return frame.as_slice().to_vec();
        }
    }
}

#[test]
fn a_sliced_list_is_the_same_bytes_as_one_built_at_once() {
    let mut k = Kit::new(10_000_000);
    for i in 0..1000 {
        k.put(A, oid(i), u64::from(i % 7), u64::from(i % 3));
    }
    // Vacant slots in between, an unsealed and a held object.
    for i in (0..1000).step_by(9) {
        k.run(A, Request::Delete { ids: vec![oid(i)] });
    }
    k.create(B, oid(5000), 10, 0);
    k.get(B, &[oid(1)], 0);
    let objects: Vec<ObjectInfo> = k.store.table.iter().map(|(_, e)| e.list_info()).collect();
    let mut whole = Vec::new();
    Encoder::new().encode_reply(&Reply::List { objects }, &mut whole);
    for slots in [1, 7, 4096, usize::MAX] {
        assert_eq!(build(&k, LongRequest::List, slots), whole, "{slots} slots");
    }
}

#[test]
fn other_requests_are_handled_between_slices() {
    let mut k = Kit::new(10_000_000);
    for i in 0..100 {
        k.put(A, oid(i), 1, 0);
    }
    let mut job = k.store.start_long(LongRequest::List);
    assert!(k.store.advance_long(&mut job, 10).is_none());
    // Another client's request is answered while the list is half built;
    // what it changes shows in the slices still to come.
    assert_eq!(replies(&k.run(B, Request::Connect)).len(), 1);
    k.run(B, create_req(oid(500), 3, 0));
    let frame = loop {
        if let Some(frame) = k.store.advance_long(&mut job, 10) {
            break frame.as_slice().to_vec();
        }
    };
    let (f, _) = plasma_protocol::parse_frame(&frame, u64::MAX)
        .unwrap()
        .unwrap();
    let Reply::List { objects } = plasma_protocol::decode_reply(f.msg_type, f.payload).unwrap()
    else {
        panic!("not a list");
    };
    assert_eq!(objects.len(), 101);
}

#[test]
fn a_sliced_debug_string_equals_one_pass() {
    let mut k = Kit::new(1_000_000);
    k.ask(
        B,
        Request::SetOptions {
            client_name: "q".into(),
            output_memory_quota: 100_000,
        },
    );
    for i in 0..50 {
        k.put(B, oid(i), 10, 0);
        k.put(A, oid(100 + i), 10, 0);
    }
    k.get(A, &[oid(3), oid(4)], 0);
    let one_pass = build(&k, LongRequest::DebugString, usize::MAX);
    assert_eq!(build(&k, LongRequest::DebugString, 1), one_pass);
    let Reply::DebugString { text } = k.long_reply(LongRequest::DebugString) else {
        panic!("not a debug string");
    };
    assert!(
        text.contains("quota map size: 50\npinned quota map size: 2\n"),
        "{text}"
    );
}
