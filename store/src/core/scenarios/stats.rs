//! The Stats request: what the counters say after known operations.

use plasma_protocol::{MessageType, Reply, Request, StoreStats, Tally};

use super::super::testkit::{create_req, oid, Kit};
use super::super::StoreConfig;
use super::{A, B};

fn stats(k: &mut Kit, c: u64) -> StoreStats {
    match k.ask(c, Request::Stats) {
        Reply::Stats(s) => *s,
        r => panic!("unexpected {r:?}"),
    }
}

fn tally(objects: u64, bytes: u64) -> Tally {
    Tally { objects, bytes }
}

#[test]
fn memory_is_split_by_state_and_follows_holds() {
    let mut k = Kit::new(10_000);
    k.run(A, create_req(oid(1), 100, 10)); // unsealed
    k.put(A, oid(2), 200, 0); // sealed, released: evictable
    k.put(A, oid(3), 300, 0);
    k.get(B, &[oid(3)], 0); // held by B
    let s = stats(&mut k, A);
    assert_eq!(s.capacity, 10_000);
    assert_eq!(s.created, tally(1, 110));
    assert_eq!(s.sealed, tally(2, 500));
    assert_eq!(s.held, tally(1, 300));
    assert_eq!(s.evictable, tally(1, 200));
    assert_eq!(s.clients, 2);

    k.release(B, oid(3));
    k.seal(A, oid(1)); // A still holds its creation
    let s = stats(&mut k, A);
    assert_eq!(s.created, tally(0, 0));
    assert_eq!(s.held, tally(1, 110));
    assert_eq!(s.evictable, tally(2, 500));
}

#[test]
fn evictions_deletions_and_refused_creates_are_counted() {
    let mut k = Kit::new(1000);
    k.put(A, oid(1), 400, 0);
    k.put(A, oid(2), 400, 0);
    // 400 more do not fit: the least recent object goes (at least 20 %).
    k.put(A, oid(3), 400, 0);
    k.get(B, &[oid(2), oid(3)], 0);
    // Nothing evictable is left for 500 bytes.
    k.run(A, create_req(oid(4), 500, 0));
    k.run(A, Request::Delete { ids: vec![oid(2)] }); // held by B: later
    let s = stats(&mut k, A);
    assert_eq!(s.evictions, tally(1, 400));
    assert_eq!(s.creates_refused, 1);
    assert_eq!(s.deletions, 0);
    k.release(B, oid(2)); // the deferred delete happens now
    k.run(A, Request::Delete { ids: vec![oid(9)] }); // not found: no deletion
    let s = stats(&mut k, A);
    assert_eq!(s.deletions, 1);
    assert_eq!(s.held, tally(1, 400));
}

#[test]
fn requests_are_counted_by_type_and_waits_are_seen() {
    let mut k = Kit::new(1000);
    k.put(A, oid(1), 10, 0);
    k.get(B, &[oid(7)], -1); // waits
    k.run(B, Request::Await { ids: vec![oid(8)] });
    let s = stats(&mut k, A);
    assert_eq!(s.requests_of(MessageType::CreateRequest), 1);
    assert_eq!(s.requests_of(MessageType::SealRequest), 1);
    assert_eq!(s.requests_of(MessageType::ReleaseRequest), 1);
    assert_eq!(s.requests_of(MessageType::GetRequest), 1);
    // This Stats request itself is counted before it is answered.
    assert_eq!(s.requests_of(MessageType::StatsRequest), 1);
    assert!(s.requests.iter().all(|&(_, n)| n > 0), "{:?}", s.requests);
    assert_eq!(s.waiting_gets, 1);
    assert_eq!(s.pending_awaits, 1);
    k.disconnect(B);
    let s = stats(&mut k, A);
    assert_eq!((s.waiting_gets, s.pending_awaits, s.clients), (0, 0, 1));
}

#[test]
fn objects_moved_to_the_external_store_are_counted_apart() {
    let mut config = super::super::testkit::config(1000);
    config.external_store = true;
    let mut k = Kit::with_config(StoreConfig { ..config });
    k.put(A, oid(1), 600, 0);
    k.put(A, oid(2), 600, 0); // moves oid(1) out
    let s = stats(&mut k, A);
    assert_eq!(s.external, tally(1, 600));
    assert_eq!(s.sealed, tally(1, 600));
    assert_eq!(s.evictions, tally(1, 600));
    k.get(B, &[oid(1)], 0); // brought back, oid(2) moved out
    let s = stats(&mut k, A);
    assert_eq!(s.external, tally(1, 600));
    assert_eq!(s.held, tally(1, 600));
}

#[test]
fn the_debug_text_announces_stats_after_the_await_line() {
    let mut k = Kit::new(1000);
    let Reply::DebugString { text } = k.ask(A, Request::DebugString) else {
        panic!("not a debug string");
    };
    // The two counter lines (tests wait on them) come last.
    let tail: Vec<&str> = text.lines().rev().skip(2).take(2).collect();
    assert_eq!(
        tail,
        [
            "plasma-store extensions: stats",
            plasma_protocol::EXTENSIONS_MARKER
        ]
    );
}
