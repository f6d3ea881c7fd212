//! Get: timeouts, holds, waking on seal (protocol.md §10.7, §10.4).

use plasma_protocol::{ErrorCode, ObjectSpec, Reply, Request};

use crate::core::testkit::{digest_of, oid, replies, Kit};
use crate::core::{Audience, Effect, Violation};

use super::{A, B, C};

#[test]
fn get_with_timeout_waits_then_answers_with_holds_kept() {
    let mut k = Kit::new(1_000_000);
    k.put(A, oid(1), 10, 0);
    let start = k.clock.now;
    assert!(k.get(B, &[oid(1), oid(2)], 100).is_empty());
    assert!(k.store.has_pending_get(B));
    assert_eq!(
        k.store.next_deadline(),
        Some(start + std::time::Duration::from_millis(100))
    );
    assert_eq!(k.ref_count(oid(1)), Some(1), "hold taken while waiting");
    assert!(k.expire_after(99).is_empty());
    let fx = k.expire_after(1);
    let Reply::Get { objects, .. } = &replies(&fx)[0].1 else {
        panic!()
    };
    assert!(objects[0].is_available());
    assert_eq!(objects[1], ObjectSpec::NOT_AVAILABLE);
    assert!(!k.store.has_pending_get(B));
    assert_eq!(k.store.next_deadline(), None);
    assert_eq!(k.ref_count(oid(1)), Some(1));
    // A later seal of oid(2) finds no waiter.
    k.put(A, oid(2), 5, 0);
    assert_eq!(k.ref_count(oid(2)), Some(0));
}

#[test]
fn zero_and_negative_timeouts_answer_at_once() {
    let mut k = Kit::new(1_000_000);
    for t in [0, -5, i64::MIN] {
        let fx = k.get(B, &[oid(1)], t);
        assert_eq!(replies(&fx).len(), 1, "timeout {t}");
    }
    // -1 waits forever.
    assert!(k.get(B, &[oid(1)], -1).is_empty());
    assert_eq!(k.store.next_deadline(), None);
    assert!(k.store.has_pending_get(B));
    assert_eq!(
        k.try_run(
            B,
            Request::Get {
                ids: vec![oid(1)],
                timeout_ms: 0
            }
        ),
        Err(Violation::GetWhilePending)
    );
}

#[test]
fn unsealed_objects_are_absent_even_for_their_creator() {
    let mut k = Kit::new(1_000_000);
    k.create(A, oid(1), 10, 0);
    let fx = k.get(A, &[oid(1)], 0);
    let Reply::Get { objects, .. } = &replies(&fx)[0].1 else {
        panic!()
    };
    assert_eq!(objects[0], ObjectSpec::NOT_AVAILABLE);
    assert!(!k.contains(A, oid(1)));
}

#[test]
fn seal_wakes_waiters_before_the_seal_reply() {
    let mut k = Kit::new(1_000_000);
    k.run(C, Request::Subscribe);
    k.put(A, oid(1), 10, 0);
    assert!(k.get(B, &[oid(1), oid(2), oid(2)], -1).is_empty());
    k.create(A, oid(2), 20, 3);
    let fx = k.seal(A, oid(2));
    assert_eq!(fx.len(), 3, "{fx:?}");
    assert!(
        matches!(&fx[0], Effect::Notify { to: Audience::Subscribers, infos } if infos[0].object_id == oid(2) && infos[0].digest == Some(digest_of(oid(2))))
    );
    let Effect::Reply {
        to: B,
        reply: Reply::Get { objects, ids, .. },
        fds,
    } = &fx[1]
    else {
        panic!("{fx:?}")
    };
    assert_eq!(ids.len(), 3);
    assert!(objects.iter().all(|o| o.is_available()));
    assert_eq!(fds, &vec![1]);
    assert_eq!(
        replies(&fx)[1],
        (
            A,
            Reply::Seal {
                id: oid(2),
                error: ErrorCode::Ok
            }
        )
    );
    assert_eq!(k.ref_count(oid(2)), Some(2));
    assert!(!k.store.has_pending_get(B));
}
