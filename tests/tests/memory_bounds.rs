//! The store's own memory stays bounded whatever its peers do, with the
//! default limits (README, "Limits"): partly sent frames share one input
//! budget, unread replies and notifications are capped per connection, and
//! an idle connection costs a few KiB.
//!
//! Before: two connections streaming unfinished frames took the store to
//! 2 GB, a client flooding `list` queued 270 MB, a subscriber that never
//! read was kept at any size up to 256 MiB, each idle connection kept a
//! 64 KiB read buffer.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use plasma_e2e::procfs::{peak_rss_bytes, rss_bytes};
use plasma_e2e::{eventually, frame_with_len, RawConnection, TestStore, PATIENCE};
use plasma_protocol::Request;

const MB: u64 = 1 << 20;

/// Seals `n` empty objects (no arena byte touched).
fn seal_empty_objects(store: &TestStore, n: usize) {
    RawConnection::connect_handshake(store.socket())
        .0
        .seal_empty_objects(n);
}

#[test]
fn unfinished_frames_of_many_connections_share_one_budget() {
    // -m 10 MB: frames up to 26 MiB, 26 MiB of partial input in all.
    let store = TestStore::builder().memory(10_000_000).start();
    let before = peak_rss_bytes(store.pid());
    let payload = vec![0u8; 19 << 20];
    let writers: Vec<_> = (0..6)
        .map(|_| {
            let mut s = UnixStream::connect(store.socket()).unwrap();
            let mut frame = frame_with_len(0, 3, 20 << 20, b"");
            frame.extend_from_slice(&payload);
            std::thread::spawn(move || {
                // Blocks for good once the store stops reading this one.
                let _ = s.write_all(&frame);
                s
            })
        })
        .collect();
    eventually("one connection's 19 MiB are read", || {
        writers.iter().any(|w| w.is_finished())
    });
    // A measurement window: the store could go on reading the others.
    std::thread::sleep(Duration::from_secs(1));
    // The budget (26 MiB) plus one copy of a buffer while it grows.
    let grown = peak_rss_bytes(store.pid()).saturating_sub(before);
    assert!(
        grown < 64 * MB,
        "partial frames grew the store by {} MiB",
        grown / MB
    );
    let finished = writers.iter().filter(|w| w.is_finished()).count();
    assert!(finished <= 2, "{finished} of 6 oversized frames were read");
    // Everyone else is served meanwhile.
    assert!(store.client().list().unwrap().is_empty());
}

#[test]
fn a_client_flooding_list_without_reading_is_dropped_at_its_cap() {
    let store = TestStore::builder().memory(10_000_000).start();
    seal_empty_objects(&store, 20_000);
    let before = peak_rss_bytes(store.pid());
    let (mut flood, _) = RawConnection::connect_handshake(store.socket());
    let mut frames = Vec::new();
    let mut enc = plasma_protocol::Encoder::new();
    for _ in 0..100 {
        enc.encode_request(&Request::List, &mut frames);
    }
    flood.send(&frames).unwrap();
    // Each reply is about 2 MB; nothing is read.
    eventually("the store drops the client that does not read", || {
        store.stderr_text().contains("the client does not read")
    });
    let grown = peak_rss_bytes(store.pid()).saturating_sub(before);
    assert!(
        grown < 48 * MB,
        "the flood grew the store by {} MiB",
        grown / MB
    );
    // Dropped: what is left to read ends early.
    let mut replies = 0;
    while let Ok(Some(_)) = flood.read_reply() {
        replies += 1;
    }
    assert!(replies < 100, "all {replies} replies were kept for it");
    assert_eq!(store.client().list().unwrap().len(), 20_000);
}

#[test]
fn a_subscriber_that_never_reads_is_cut_off_at_8_mib() {
    let store = TestStore::builder().memory(20_000_000).start();
    let mut sub = store.client().subscribe().unwrap();
    // 30 messages of 5,000 notifications (about 13 MB), none read.
    seal_empty_objects(&store, 150_000);
    let mut seen = 0;
    while let Ok(Some(_)) = sub.recv_timeout(Duration::from_secs(1)) {
        seen += 1;
    }
    assert!(seen < 150_000, "all {seen} notifications were kept for it");
    assert!(store.stderr_text().contains("the subscriber does not read"));
}

#[test]
fn an_idle_connection_costs_a_few_kib() {
    raise_own_descriptor_limit(2000);
    let store = TestStore::start();
    let before = rss_bytes(store.pid());
    let idle: Vec<RawConnection> = (0..500)
        .map(|_| RawConnection::connect_handshake(store.socket()).0)
        .collect();
    let per_connection = rss_bytes(store.pid()).saturating_sub(before) / idle.len() as u64;
    assert!(
        per_connection < 16 << 10,
        "{per_connection} bytes per idle connection"
    );
    let _ = PATIENCE;
}

fn raise_own_descriptor_limit(want: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).unwrap();
    }
}
