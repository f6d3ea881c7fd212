//! Create, seal, abort, delete, release, disconnect (protocol.md §10.3–§10.9,
//! §10.14).

use plasma_protocol::{ErrorCode, ObjectSpec, Reply, Request};

use crate::core::testkit::{create_req, deletions, digest_of, oid, replies, seals, Kit};
use crate::core::{Effect, Violation};

use super::{A, B, C};

#[test]
fn create_reply_carries_the_spec_and_the_fd_once() {
    let mut k = Kit::new(1_000_000);
    let fx = k.run(A, create_req(oid(1), 100, 7));
    let Effect::Reply {
        reply:
            Reply::Create {
                object,
                error,
                store_fd,
                mmap_size,
                ..
            },
        fds,
        ..
    } = &fx[0]
    else {
        panic!("{fx:?}");
    };
    assert_eq!(*error, ErrorCode::Ok);
    assert_eq!(
        (object.segment_index, *store_fd, fds.as_slice()),
        (1, 1, &[1][..])
    );
    assert_eq!(object.data_offset % 64, 0);
    assert_eq!(object.metadata_offset, object.data_offset + 100);
    assert_eq!((object.data_size, object.metadata_size), (100, 7));
    assert_eq!(*mmap_size, k.store.config().mmap_size);
    // Second create on the same connection: no fd.
    let fx = k.run(A, create_req(oid(2), 0, 0));
    let Effect::Reply {
        fds,
        reply: Reply::Create { object, .. },
        ..
    } = &fx[0]
    else {
        panic!()
    };
    assert!(fds.is_empty());
    assert_ne!(
        object.data_offset, 0,
        "zero-size objects get their own slot too"
    );
    // Errors: zero spec, no fd.
    let fx = k.run(C, create_req(oid(1), 1, 0));
    assert_eq!(
        fx,
        vec![Effect::Reply {
            to: C,
            reply: Reply::Create {
                id: oid(1),
                object: ObjectSpec::default(),
                error: ErrorCode::ObjectExists,
                store_fd: 0,
                mmap_size: 0
            },
            fds: vec![]
        }]
    );
    // Another client gets the segment with its first found object only.
    k.seal(A, oid(1));
    let fx = k.get(B, &[oid(9)], 0);
    let Effect::Reply {
        fds,
        reply: Reply::Get { store_fds, .. },
        ..
    } = &fx[0]
    else {
        panic!()
    };
    assert!(fds.is_empty() && store_fds.is_empty());
    let fx = k.get(B, &[oid(1), oid(1)], 0);
    let Effect::Reply {
        fds,
        reply:
            Reply::Get {
                store_fds,
                mmap_sizes,
                objects,
                ..
            },
        ..
    } = &fx[0]
    else {
        panic!()
    };
    assert_eq!((fds.as_slice(), store_fds.as_slice()), (&[1][..], &[1][..]));
    assert_eq!(mmap_sizes.len(), 1);
    assert_eq!(objects[0], objects[1]);
    assert_eq!(k.ref_count(oid(1)), Some(2), "duplicates hold once");
    let fx = k.get(B, &[oid(1)], 0);
    let Effect::Reply {
        fds,
        reply: Reply::Get { store_fds, .. },
        ..
    } = &fx[0]
    else {
        panic!()
    };
    assert!(fds.is_empty());
    assert_eq!(store_fds, &vec![1], "store_fds lists known segments too");
}

#[test]
fn device_other_than_host_is_a_violation() {
    let mut k = Kit::new(1_000_000);
    let req = Request::Create {
        id: oid(1),
        evict_if_full: true,
        data_size: 1,
        metadata_size: 0,
        device_num: 1,
    };
    assert_eq!(k.try_run(A, req), Err(Violation::UnsupportedDevice(1)));
    assert_eq!(
        k.try_run(A, Request::Disconnect),
        Err(Violation::DisconnectRequest)
    );
}

#[test]
fn oversized_and_overflowing_creates_are_out_of_memory() {
    let mut k = Kit::new(1_000_000);
    assert_eq!(k.create(A, oid(1), u64::MAX, 1), ErrorCode::OutOfMemory);
    assert_eq!(k.create(A, oid(2), u64::MAX, 0), ErrorCode::OutOfMemory);
    assert_eq!(k.create(A, oid(3), 1_000_001, 0), ErrorCode::OutOfMemory);
    assert_eq!(k.create(A, oid(4), 1_000_000, 0), ErrorCode::Ok);
    assert_eq!(k.store.object_count(), 1);
}

#[test]
fn seal_errors_change_nothing() {
    let mut k = Kit::new(1_000_000);
    let r = k.ask(
        A,
        Request::Seal {
            id: oid(1),
            digest: [0; 8],
        },
    );
    assert_eq!(
        r,
        Reply::Seal {
            id: oid(1),
            error: ErrorCode::ObjectNotFound
        }
    );
    k.create(A, oid(1), 1, 0);
    let r = k.ask(
        B,
        Request::Seal {
            id: oid(1),
            digest: [0; 8],
        },
    );
    assert_eq!(
        r,
        Reply::Seal {
            id: oid(1),
            error: ErrorCode::ObjectNotFound
        }
    );
    k.seal(A, oid(1));
    let r = k.ask(
        A,
        Request::Seal {
            id: oid(1),
            digest: [0; 8],
        },
    );
    assert_eq!(
        r,
        Reply::Seal {
            id: oid(1),
            error: ErrorCode::ObjectExists
        }
    );
    assert_eq!(k.list(A)[0].digest, Some(digest_of(oid(1))));
}

#[test]
fn list_reports_sizes_state_refcount_and_seconds() {
    let mut k = Kit::new(1_000_000);
    k.create(A, oid(1), 11, 7);
    let l = k.list(A);
    assert_eq!(
        (l[0].data_size, l[0].metadata_size, l[0].digest),
        (11, 7, None)
    );
    assert_eq!(
        (l[0].construct_duration, l[0].create_time),
        (-1, 1_700_000_000)
    );
    k.expire_after(2000);
    k.seal(A, oid(1));
    let l = k.list(A);
    assert_eq!((l[0].construct_duration, l[0].ref_count), (2, 1));
    assert!(l[0].digest.is_some());
}

#[test]
fn delete_is_deferred_while_unsealed_or_held() {
    let mut k = Kit::new(1_000_000);
    k.run(C, Request::Subscribe);
    k.put(A, oid(1), 10, 0);
    k.create(A, oid(2), 10, 0);
    k.put(A, oid(3), 10, 0);
    k.get(B, &[oid(3)], 0);
    let fx = k.run(
        C,
        Request::Delete {
            ids: vec![oid(1), oid(2), oid(3), oid(4)],
        },
    );
    assert_eq!(deletions(&fx), vec![oid(1)]);
    assert_eq!(
        replies(&fx)[0].1,
        Reply::Delete {
            ids: vec![oid(1), oid(2), oid(3), oid(4)],
            errors: vec![
                ErrorCode::Ok,
                ErrorCode::ObjectNotSealed,
                ErrorCode::ObjectInUse,
                ErrorCode::ObjectNotFound
            ]
        }
    );
    let fx = k.release(B, oid(3));
    assert_eq!(deletions(&fx), vec![oid(3)]);
    let fx = k.seal(A, oid(2));
    assert_eq!(deletions(&fx), vec![]);
    let fx = k.release(A, oid(2));
    assert_eq!(deletions(&fx), vec![oid(2)]);
    assert_eq!(k.store.object_count(), 0);
    assert_eq!(k.store.allocated(), 0);
}

#[test]
fn release_of_an_unheld_object_is_a_violation() {
    let mut k = Kit::new(1_000_000);
    k.put(A, oid(1), 10, 0);
    assert_eq!(
        k.try_run(A, Request::Release { id: oid(1) }),
        Err(Violation::ReleaseNotHeld(oid(1)))
    );
    assert_eq!(
        k.try_run(A, Request::Release { id: oid(2) }),
        Err(Violation::ReleaseNotHeld(oid(2)))
    );
}

#[test]
fn released_unsealed_object_stays_until_its_creator_leaves() {
    // pyarrow releases an unsealed buffer it drops; a second create of the
    // id must still fail (test_create_existing).
    let mut k = Kit::new(1_000_000);
    k.create(A, oid(1), 100, 0);
    k.release(A, oid(1));
    assert_eq!(k.create(A, oid(1), 100, 0), ErrorCode::ObjectExists);
    assert_eq!(k.evict(A, 1000), 0);
    k.disconnect(A);
    assert_eq!(k.store.object_count(), 0);
    // Sealing after releasing puts it straight into the LRU.
    k.create(B, oid(2), 10, 0);
    k.release(B, oid(2));
    k.seal(B, oid(2));
    assert_eq!(k.evict(B, 1), 10);
}

#[test]
fn abort_frees_an_unsealed_object_of_its_creator_only() {
    let mut k = Kit::new(1_000_000);
    k.run(C, Request::Subscribe);
    k.create(A, oid(1), 500, 0);
    assert_eq!(
        k.try_run(B, Request::Abort { id: oid(1) }),
        Err(Violation::AbortNotCreator(oid(1)))
    );
    let fx = k.run(A, Request::Abort { id: oid(1) });
    assert_eq!(
        fx,
        vec![Effect::Reply {
            to: A,
            reply: Reply::Abort { id: oid(1) },
            fds: vec![]
        }]
    );
    assert_eq!(k.store.allocated(), 0);
    assert_eq!(
        k.try_run(A, Request::Abort { id: oid(1) }),
        Err(Violation::AbortNotFound(oid(1)))
    );
    k.put(A, oid(2), 1, 0);
    assert_eq!(
        k.try_run(A, Request::Abort { id: oid(2) }),
        Err(Violation::AbortNotUnsealed(oid(2)))
    );
}

#[test]
fn disconnect_erases_unsealed_releases_holds_and_drops_the_get() {
    let mut k = Kit::new(1_000_000);
    k.run(C, Request::Subscribe);
    k.put(B, oid(1), 10, 0);
    k.get(A, &[oid(1)], 0);
    k.run(C, Request::Delete { ids: vec![oid(1)] });
    k.create(A, oid(2), 1000, 0);
    k.put(B, oid(3), 30, 0);
    k.get(A, &[oid(3)], 0);
    assert_eq!(k.store.allocated(), 1040);
    // B waits for A's unsealed object; A also waits for something.
    assert!(k.get(B, &[oid(2)], -1).is_empty());
    let fx = k.disconnect(A);
    assert_eq!(deletions(&fx), vec![oid(1)], "pending delete completes");
    assert!(replies(&fx).is_empty());
    assert_eq!(k.store.allocated(), 30);
    assert_eq!(k.ref_count(oid(3)), Some(0));
    assert!(k.store.has_pending_get(B), "B keeps waiting");
    // The id can be created again, and B's get completes then.
    k.create(C, oid(2), 5, 0);
    let fx = k.seal(C, oid(2));
    assert_eq!(replies(&fx)[0].0, B);
    // A client with a pending get disconnects: no reply, no waiter left.
    assert!(k.get(A, &[oid(77)], 1000).is_empty());
    k.disconnect(A);
    assert_eq!(k.store.next_deadline(), None);
    k.put(C, oid(77), 1, 0);
    assert_eq!(k.ref_count(oid(77)), Some(0));
}

#[test]
fn create_and_seal_copies_bytes_and_lands_in_the_lru() {
    let mut k = Kit::new(1_000_000);
    k.run(C, Request::Subscribe);
    assert!(k.get(B, &[oid(1)], -1).is_empty());
    let fx = k.run(
        A,
        Request::CreateAndSeal {
            id: oid(1),
            evict_if_full: true,
            data: b"hello",
            metadata: b"META",
            digest: [9; 8],
        },
    );
    assert_eq!(seals(&fx), vec![oid(1)]);
    assert_eq!(replies(&fx).len(), 2);
    assert_eq!(
        replies(&fx)[1],
        (
            A,
            Reply::CreateAndSeal {
                error: ErrorCode::Ok
            }
        )
    );
    let Reply::Get { objects, .. } = &replies(&fx)[0].1 else {
        panic!()
    };
    let spec = objects[0];
    let e = k.store.table.by_id(&oid(1)).unwrap();
    assert_eq!(k.store.memory.read(spec.data_offset, 9), b"helloMETA");
    assert_eq!((e.ref_count, e.digest), (1, [9; 8]));
    let again = k.ask(
        A,
        Request::CreateAndSeal {
            id: oid(1),
            evict_if_full: true,
            data: b"",
            metadata: b"",
            digest: [0; 8],
        },
    );
    assert_eq!(
        again,
        Reply::CreateAndSeal {
            error: ErrorCode::ObjectExists
        }
    );
    k.release(B, oid(1));
    assert_eq!(k.evict(A, 1), 9);
}

#[test]
fn batch_seals_in_one_message_or_undoes_everything() {
    let mut k = Kit::new(1_000_000);
    k.run(C, Request::Subscribe);
    k.put(A, oid(3), 1, 0);
    let fail = Request::CreateAndSealBatch {
        ids: vec![oid(1), oid(2), oid(3)],
        evict_if_full: true,
        data: vec![b"a", b"bb", b"c"],
        metadata: vec![b"", b"m", b""],
        digests: vec![[1; 8]; 3],
    };
    let fx = k.run(A, fail);
    assert_eq!(
        fx,
        vec![Effect::Reply {
            to: A,
            reply: Reply::CreateAndSealBatch {
                error: ErrorCode::ObjectExists
            },
            fds: vec![]
        }]
    );
    assert_eq!(k.store.object_count(), 1);
    let ok = Request::CreateAndSealBatch {
        ids: vec![oid(1), oid(2)],
        evict_if_full: true,
        data: vec![b"a", b"bb"],
        metadata: vec![b"", b"m"],
        digests: vec![[1; 8]; 2],
    };
    let fx = k.run(A, ok);
    assert_eq!(fx.len(), 2);
    let Effect::Notify { infos, .. } = &fx[0] else {
        panic!()
    };
    assert_eq!(
        infos.iter().map(|i| i.object_id).collect::<Vec<_>>(),
        vec![oid(1), oid(2)]
    );
    assert_eq!(k.evict(A, 100), 1 + 1 + 3);
    let bad = Request::CreateAndSealBatch {
        ids: vec![oid(5)],
        evict_if_full: true,
        data: vec![],
        metadata: vec![],
        digests: vec![],
    };
    assert_eq!(k.try_run(A, bad), Err(Violation::BatchLengthMismatch));
}
