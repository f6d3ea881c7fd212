//! One request cannot stall everyone: a List of 200,000 objects, and the
//! 200,000 deletion notifications of one eviction, are sent in slices
//! between other clients' requests.
//!
//! Before: `list` at 200,000 objects held the loop for about 150 ms and
//! every other client waited; the store handled nothing else until the
//! whole reply was built and written.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recv, setsockopt, sockopt, MsgFlags};
use plasma_e2e::procfs::is_busy;
use plasma_e2e::{within, RawConnection, TestStore, PATIENCE};
use plasma_protocol::{Encoder, Reply, Request, HEADER_LEN};

const OBJECTS: usize = 200_000;

/// A connection the store has accepted (a Connect answered).
fn connected(store: &TestStore) -> UnixStream {
    let s = UnixStream::connect(store.socket()).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut frame = Vec::new();
    Encoder::new().encode_request(&Request::Connect, &mut frame);
    (&s).write_all(&frame).unwrap();
    read_frame(&s);
    s
}

/// Sends a List on `s`, the reply not read.
fn send_list(s: &UnixStream) {
    let mut frame = Vec::new();
    Encoder::new().encode_request(&Request::List, &mut frame);
    (&*s).write_all(&frame).unwrap();
}

fn read_frame(mut s: &UnixStream) -> Vec<u8> {
    let mut frame = vec![0u8; HEADER_LEN];
    s.read_exact(&mut frame).unwrap();
    let len = u64::from_le_bytes(frame[16..24].try_into().unwrap()) as usize;
    frame.resize(HEADER_LEN + len, 0);
    s.read_exact(&mut frame[HEADER_LEN..]).unwrap();
    frame
}

#[test]
fn another_client_is_answered_while_a_huge_list_is_built() {
    let store = TestStore::builder().memory(20_000_000).start();
    RawConnection::connect_handshake(store.socket())
        .0
        .seal_empty_objects(OBJECTS);
    let pid = store.pid();
    let lister = connected(&store);
    let (mut other, _) = RawConnection::connect_handshake(store.socket());

    send_list(&lister);
    // Once the store is at work on the List, another client asks: it is
    // answered between two slices of the List, not after all of it.
    within("the store starts on the list", move || {
        while !is_busy(pid) {
            std::hint::spin_loop();
        }
    });
    assert!(other.still_answers());
    // Nothing of the list has been sent yet: it is still being built.
    let mut byte = [0u8; 1];
    let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
    match recv(lister.as_raw_fd(), &mut byte, flags) {
        Err(nix::errno::Errno::EAGAIN) => {}
        other => panic!("the list was done before the other client's turn: {other:?}"),
    }
    let sliced = read_frame(&lister);

    // The same bytes as a list nobody interrupts.
    send_list(&lister);
    let again = read_frame(&lister);
    assert_eq!(sliced.len(), again.len());
    assert!(sliced == again, "the two list replies differ");
    let f = plasma_protocol::parse_frame(&sliced, u64::MAX)
        .unwrap()
        .unwrap()
        .0;
    match plasma_protocol::decode_reply(f.msg_type, f.payload).unwrap() {
        Reply::List { objects } => assert_eq!(objects.len(), OBJECTS),
        other => panic!("{other:?}"),
    }
}

/// Reads one notification message's entries from `s` (blocking).
fn next_message(s: &mut UnixStream, buf: &mut Vec<u8>) -> Vec<plasma_protocol::ObjectInfo> {
    loop {
        if let Some((infos, used)) = plasma_protocol::decode_notification(buf, u64::MAX).unwrap() {
            buf.drain(..used);
            return infos;
        }
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "the notification socket closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn the_deletions_of_a_huge_eviction_go_out_between_other_clients_requests() {
    const N: usize = 100_000;
    let store = TestStore::builder().memory(20_000_000).start();
    let pid = store.pid();
    let ids = RawConnection::connect_handshake(store.socket())
        .0
        .seal_empty_objects(N);
    // A subscriber whose socket takes everything at once (as root, beyond
    // the usual limit): what the store has sent can be counted unread.
    let (mut notes, theirs) = UnixStream::pair().unwrap();
    notes.set_read_timeout(Some(PATIENCE)).unwrap();
    if setsockopt(&theirs, sockopt::SndBufForce, &(1 << 30)).is_err() {
        // Not root (CI is): the socket holds less, and the check below
        // can no longer tell the old store from this one, but still holds.
        let _ = setsockopt(&theirs, sockopt::SndBuf, &(1 << 30));
    }
    let (mut sub, _) = RawConnection::connect_handshake(store.socket());
    sub.send_request(&Request::Subscribe).unwrap();
    plasma_protocol::fd::send_fd(sub.stream().as_fd(), theirs.as_fd()).unwrap();
    drop(theirs);
    let mut buf = Vec::new();
    for _ in 0..N {
        assert!(!next_message(&mut notes, &mut buf)[0].is_deletion);
    }
    assert!(buf.is_empty());

    let (mut evicter, _) = RawConnection::connect_handshake(store.socket());
    let (mut other, _) = RawConnection::connect_handshake(store.socket());
    evicter
        .send_request(&Request::Evict { num_bytes: 1 << 40 })
        .unwrap();
    within("the store starts on the eviction", move || {
        while !is_busy(pid) {
            std::hint::spin_loop();
        }
    });
    assert!(other.still_answers());
    // Not all deletions were sent before the other client's turn.
    let mut sent = vec![0u8; 64 << 20];
    let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
    let available = recv(notes.as_raw_fd(), &mut sent, flags).unwrap_or(0);
    let mut one = Vec::new();
    Encoder::new().encode_notification(
        &[plasma_protocol::ObjectInfo {
            object_id: ids[0],
            is_deletion: true,
            ..Default::default()
        }],
        &mut one,
    );
    assert!(
        available < N * one.len(),
        "all {N} deletions were sent before the other client was answered"
    );
    assert_eq!(
        evicter.read_reply().unwrap(),
        Some(Reply::Evict { num_bytes: 0 })
    );
    // Every one arrives, least recently released (first sealed) first.
    for id in &ids {
        let infos = next_message(&mut notes, &mut buf);
        assert_eq!((infos[0].object_id, infos[0].is_deletion), (*id, true));
    }
}
