//! The exact sequences pyarrow's test_plasma.py depends on
//! (test-plasma-coverage.md, "Tests that depend on exact store behaviour").

use plasma_protocol::{ErrorCode, Reply, Request};

use crate::core::testkit::{create_req, deletions, messages, oid, replies, seals, Kit};
use crate::core::Audience;

use super::{A, B, C};

#[test]
fn connect_reports_the_exact_capacity() {
    let mut k = Kit::new(10_000);
    assert_eq!(
        k.ask(A, Request::Connect),
        Reply::Connect {
            memory_capacity: 10_000
        }
    );
}

#[test]
fn test_evict_sequence() {
    let mut k = Kit::new(100_000_000);
    k.put(A, oid(1), 1000, 0);
    assert_eq!(k.evict(A, 1), 1000);

    assert_eq!(k.create(A, oid(2), 999, 0), ErrorCode::Ok);
    k.put(A, oid(3), 998, 0);
    assert_eq!(k.evict(A, 1000), 998);

    k.put(A, oid(4), 997, 0);
    k.seal(A, oid(2));
    k.release(A, oid(2));
    assert_eq!(k.evict(A, 1), 997);
    assert_eq!(k.evict(A, 1), 999);

    for (id, size) in [(5, 996), (6, 995), (7, 994)] {
        assert_eq!(k.create(A, oid(id), size, 0), ErrorCode::Ok);
    }
    for id in [5, 6, 7] {
        k.seal(A, oid(id));
    }
    for id in [5, 6, 7] {
        k.release(A, oid(id));
    }
    assert_eq!(k.evict(A, 2000), 996 + 995 + 994);
    assert_eq!(k.store.object_count(), 0);
}

#[test]
fn test_store_full_sequence() {
    const P: u64 = 1_000_000;
    let mut k = Kit::new(100 * P);
    let mut n = 0;
    let mut next = || {
        n += 1;
        oid(n)
    };
    // Held object of 50 %.
    let held = next();
    assert_eq!(k.create(A, held, 50 * P, 0), ErrorCode::Ok);
    k.seal(A, held);
    // 50 % + 9000, split between data and metadata.
    assert_eq!(
        k.create(A, next(), 30 * P, 20 * P + 9000),
        ErrorCode::OutOfMemory
    );
    let (x, y) = (next(), next());
    k.put(A, x, 20 * P, 0);
    k.put(A, y, 20 * P, 0);
    assert_eq!(k.store.allocated(), 90 * P);
    // need 40 % + 9000: both released objects go, and it still fails.
    let fx = k.run(A, create_req(next(), 10, 50 * P + 8990));
    assert!(matches!(
        replies(&fx)[0].1,
        Reply::Create {
            error: ErrorCode::OutOfMemory,
            ..
        }
    ));
    assert!(!k.contains(A, x) && !k.contains(A, y));
    assert_eq!(k.store.allocated(), 50 * P);
    for (size, fail) in [(20 * P, 30 * P + 9000), (10 * P, 20 * P + 9000)] {
        let id = next();
        assert_eq!(k.create(A, id, size, 0), ErrorCode::Ok);
        k.seal(A, id);
        assert_eq!(k.create(A, next(), fail, 0), ErrorCode::OutOfMemory);
    }
    assert_eq!(k.store.allocated(), 80 * P);
    assert_eq!(k.store.object_count(), 3, "failed creates left entries");
}

#[test]
fn test_use_full_memory_sequence() {
    const M: u64 = 100_000_000;
    let mut k = Kit::new(M);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..100 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let size = 1 + seed % (M / 20 - 1);
        k.put(B, oid(i), size, 0);
    }
    for i in 100..102 {
        k.put(B, oid(i), M, 0);
    }
    assert_eq!(k.store.allocated(), M);
    for i in 102..105 {
        assert_eq!(k.create(B, oid(i), M + 9000, 0), ErrorCode::OutOfMemory);
        // No zombie entry: a retry is OutOfMemory again, not ObjectExists.
        assert_eq!(k.create(B, oid(i), M + 9000, 0), ErrorCode::OutOfMemory);
    }
    // Unlike Plasma 11, the impossible creates evicted nothing: the last
    // full-size object is still there.
    assert_eq!(k.store.object_count(), 1);
    assert_eq!(k.store.allocated(), M);
    assert!(k.contains(B, oid(101)));
}

#[test]
fn test_subscribe_deletions_sequence() {
    let mut k = Kit::new(1_000_000);
    k.run(B, Request::Subscribe);
    for i in 0..20 {
        let fx = k.put(A, oid(i), 1 + u64::from(i), u64::from(i % 3) + 1);
        assert_eq!(seals(&fx), vec![oid(i)]);
    }
    for i in 0..20 {
        let fx = k.run(A, Request::Evict { num_bytes: 1 });
        assert_eq!(deletions(&fx), vec![oid(i)]);
        let want = 1 + u64::from(i) + u64::from(i % 3) + 1;
        assert_eq!(replies(&fx)[0].1, Reply::Evict { num_bytes: want });
    }
    // Nine zero-size objects then one non-empty: one evict(1) sweeps all.
    for i in 100..109 {
        k.put(A, oid(i), 0, 0);
    }
    k.put(A, oid(109), 50, 5);
    let fx = k.run(A, Request::Evict { num_bytes: 1 });
    assert_eq!(deletions(&fx), (100..110).map(oid).collect::<Vec<_>>());
    assert_eq!(replies(&fx)[0].1, Reply::Evict { num_bytes: 55 });
    // Each deletion is its own message to the subscribers.
    let notes = messages(&fx)
        .iter()
        .filter(|(to, infos)| *to == Audience::Subscribers && infos.len() == 1)
        .count();
    assert_eq!(notes, 10);
}

#[test]
fn create_evicts_at_least_a_fifth_of_capacity() {
    // §10.3 example: ten released 100 000-byte objects in a 10^6 store.
    let mut k = Kit::new(1_000_000);
    k.run(C, Request::Subscribe);
    for i in 0..10 {
        k.put(A, oid(i), 100_000, 0);
    }
    let fx = k.run(A, create_req(oid(99), 150_000, 0));
    assert_eq!(deletions(&fx), vec![oid(0), oid(1)]);
    assert_eq!(k.store.allocated(), 950_000);
}
