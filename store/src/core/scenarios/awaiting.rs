//! Await and Unawait, our protocol additions: pushes with holds, in the
//! seal's order of effects, and registrations that end cleanly.

use plasma_protocol::{ErrorCode, ObjectId, Reply, Request};

use crate::core::testkit::{digest_of, oid, replies, Kit};
use crate::core::{Audience, Effect, Violation};

use super::{A, B, C};

fn await_ids(k: &mut Kit, c: u64, ids: &[ObjectId]) -> Vec<Effect> {
    k.run(c, Request::Await { ids: ids.to_vec() })
}

/// The ids pushed to `c` among `effects`, in order.
fn pushed(effects: &[Effect], c: u64) -> Vec<ObjectId> {
    replies(effects)
        .into_iter()
        .filter_map(|(to, r)| match r {
            Reply::ObjectReady { id, .. } if to == c => Some(id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_sealed_object_is_pushed_at_once_with_a_hold_and_the_segment_fd() {
    let mut k = Kit::new(1_000_000);
    k.put(A, oid(1), 10, 3);
    let fx = await_ids(&mut k, B, &[oid(1)]);
    let [Effect::Reply {
        to,
        reply:
            Reply::ObjectReady {
                id,
                object,
                store_fd,
                ..
            },
        fds,
    }] = &fx[..]
    else {
        panic!("{fx:?}")
    };
    assert_eq!((*to, *id, *store_fd), (B, oid(1), 1));
    assert_eq!((object.data_size, object.metadata_size), (10, 3));
    assert_eq!(fds, &vec![1], "first segment use on this connection");
    assert_eq!(k.ref_count(oid(1)), Some(1));
    assert_eq!(k.store.awaited_by(B), 0, "nothing left registered");
    // The hold is an ordinary one: released like a Get's.
    k.release(B, oid(1));
    assert_eq!(k.ref_count(oid(1)), Some(0));
    // A second push needs no fd.
    k.put(A, oid(2), 1, 0);
    let fx = await_ids(&mut k, B, &[oid(2)]);
    assert!(matches!(&fx[..], [Effect::Reply { fds, .. }] if fds.is_empty()));
}

#[test]
fn a_seal_pushes_after_its_notification_and_before_the_seal_reply() {
    let mut k = Kit::new(1_000_000);
    k.run(C, Request::Subscribe);
    assert!(await_ids(&mut k, B, &[oid(1), oid(1)]).is_empty());
    assert_eq!(k.store.awaited_by(B), 1, "one registration per id");
    k.create(A, oid(1), 4, 0);
    let fx = k.seal(A, oid(1));
    assert!(
        matches!(
            &fx[..],
            [
                Effect::Notify {
                    to: Audience::Subscribers,
                    ..
                },
                Effect::Reply {
                    to: B,
                    reply: Reply::ObjectReady { .. },
                    ..
                },
                Effect::Reply {
                    to: A,
                    reply: Reply::Seal {
                        error: ErrorCode::Ok,
                        ..
                    },
                    ..
                },
            ]
        ),
        "{fx:?}"
    );
    assert_eq!(k.ref_count(oid(1)), Some(2), "creator and awaiter");
    assert_eq!(k.store.awaited_by(B), 0);
}

#[test]
fn create_and_seal_and_batches_push_too() {
    let mut k = Kit::new(1_000_000);
    await_ids(&mut k, B, &[oid(1), oid(2), oid(3)]);
    let fx = k.run(
        A,
        Request::CreateAndSeal {
            id: oid(1),
            evict_if_full: true,
            data: b"one",
            metadata: b"",
            digest: digest_of(oid(1)),
        },
    );
    assert_eq!(pushed(&fx, B), vec![oid(1)]);
    let fx = k.run(
        A,
        Request::CreateAndSealBatch {
            ids: vec![oid(2), oid(3)],
            evict_if_full: true,
            data: vec![b"two", b"three"],
            metadata: vec![b"", b""],
            digests: vec![[0; 8], [0; 8]],
        },
    );
    assert_eq!(pushed(&fx, B), vec![oid(2), oid(3)]);
    assert_eq!(k.ref_count(oid(3)), Some(1), "only the awaiter holds it");
}

#[test]
fn unawait_answers_with_the_registrations_it_removed() {
    let mut k = Kit::new(1_000_000);
    await_ids(&mut k, B, &[oid(1), oid(2)]);
    let r = k.ask(
        B,
        Request::Unawait {
            ids: vec![oid(2), oid(3), oid(2)],
        },
    );
    assert_eq!(
        r,
        Reply::Unawait {
            removed: vec![oid(2)]
        }
    );
    k.create(A, oid(2), 1, 0);
    assert!(pushed(&k.seal(A, oid(2)), B).is_empty());
    k.create(A, oid(1), 1, 0);
    assert_eq!(pushed(&k.seal(A, oid(1)), B), vec![oid(1)]);
}

#[test]
fn an_aborted_object_is_pushed_once_created_again_and_sealed() {
    let mut k = Kit::new(1_000_000);
    await_ids(&mut k, B, &[oid(1)]);
    k.create(A, oid(1), 8, 0);
    k.run(A, Request::Abort { id: oid(1) });
    assert_eq!(k.store.awaited_by(B), 1);
    k.create(A, oid(1), 8, 0);
    assert_eq!(pushed(&k.seal(A, oid(1)), B), vec![oid(1)]);
}

#[test]
fn registrations_end_with_the_connection() {
    let mut k = Kit::new(1_000_000);
    await_ids(&mut k, B, &[oid(1)]);
    await_ids(&mut k, C, &[oid(1)]);
    k.disconnect(B);
    k.create(A, oid(1), 8, 0);
    let fx = k.seal(A, oid(1));
    assert!(pushed(&fx, B).is_empty());
    assert_eq!(pushed(&fx, C), vec![oid(1)]);
}

#[test]
fn a_held_object_deleted_meanwhile_waits_for_the_pushed_hold() {
    // The push is a hold like any other: a delete while it lives is
    // deferred until the awaiter releases it.
    let mut k = Kit::new(1_000_000);
    k.put(A, oid(1), 8, 0);
    await_ids(&mut k, B, &[oid(1)]);
    let r = k.ask(A, Request::Delete { ids: vec![oid(1)] });
    assert_eq!(
        r,
        Reply::Delete {
            ids: vec![oid(1)],
            errors: vec![ErrorCode::ObjectInUse]
        }
    );
    k.release(B, oid(1));
    assert!(!k.contains(A, oid(1)));
}

#[test]
fn releasing_a_pushed_object_twice_is_a_violation() {
    let mut k = Kit::new(1_000_000);
    k.put(A, oid(1), 8, 0);
    await_ids(&mut k, B, &[oid(1)]);
    k.release(B, oid(1));
    assert_eq!(
        k.try_run(B, Request::Release { id: oid(1) }),
        Err(Violation::ReleaseNotHeld(oid(1)))
    );
}

#[test]
fn a_creator_awaiting_its_own_create_and_seal_keeps_the_pushed_hold() {
    // create-and-seal holds the object for its creator only for the
    // duration of the request; the push must take a hold of its own.
    let mut k = Kit::new(1_000_000);
    await_ids(&mut k, A, &[oid(1), oid(2)]);
    let fx = k.run(
        A,
        Request::CreateAndSeal {
            id: oid(1),
            evict_if_full: true,
            data: b"mine",
            metadata: b"",
            digest: digest_of(oid(1)),
        },
    );
    assert_eq!(pushed(&fx, A), vec![oid(1)]);
    assert_eq!(k.ref_count(oid(1)), Some(1));
    let fx = k.run(
        A,
        Request::CreateAndSealBatch {
            ids: vec![oid(2)],
            evict_if_full: true,
            data: vec![b"two"],
            metadata: vec![b""],
            digests: vec![[0; 8]],
        },
    );
    assert_eq!(pushed(&fx, A), vec![oid(2)]);
    assert_eq!(k.ref_count(oid(2)), Some(1));
    k.release(A, oid(1));
    k.release(A, oid(2));
    assert_eq!(
        (k.ref_count(oid(1)), k.ref_count(oid(2))),
        (Some(0), Some(0))
    );
}
