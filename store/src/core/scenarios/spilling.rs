//! Spilling to disk (issue 14): evictions under pressure become writes,
//! requests for a spilled object bring it back with one read, failures are
//! per object, and the loop's disk work is played by the kit.

use plasma_protocol::{ErrorCode, ObjectId, ObjectSpec, Reply, Request, Residence};

use crate::core::testkit::{crc32, deletions, oid, replies, resumed, Failure, Kit};
use crate::core::{DiskOp, Effect, Notice, RestoreError, SpillError, SpillFile};

use super::{A, B, C};

/// Bytes of object `n`: recognisable, different per object.
fn bytes(n: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32 * 7 + n) as u8).collect()
}

/// Create-and-seal of object `n` with `data` bytes of data and 10 of
/// metadata; its effects.
fn cas_request(k: &mut Kit, c: u64, n: u32, data: usize) -> Vec<Effect> {
    let (d, m) = (bytes(n, data), bytes(n + 1, 10));
    k.run(
        c,
        Request::CreateAndSeal {
            id: oid(n),
            evict_if_full: true,
            data: &d,
            metadata: &m,
            digest: [n as u8; 8],
        },
    )
}

/// [`cas_request`], expected to be answered OK.
fn cas(k: &mut Kit, c: u64, n: u32, data: usize) -> Vec<Effect> {
    let fx = cas_request(k, c, n, data);
    let ok = Reply::CreateAndSeal {
        error: ErrorCode::Ok,
    };
    assert!(replies(&fx).contains(&(c, ok)), "{fx:?}");
    fx
}

/// [`cas_request`], expected to be deferred.
fn cas_deferred(k: &mut Kit, c: u64, n: u32, data: usize) -> Vec<Effect> {
    let fx = cas_request(k, c, n, data);
    assert!(k.is_deferred(c), "not deferred: {fx:?}");
    assert!(
        replies(&fx).is_empty(),
        "a deferred request answered: {fx:?}"
    );
    fx
}

/// The writes among `effects`.
fn writes(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Disk(DiskOp::Write { .. })))
        .count()
}

fn list_residence(k: &mut Kit, id: ObjectId) -> Residence {
    k.list(C)
        .into_iter()
        .find(|i| i.object_id == id)
        .map(|i| i.residence)
        .expect("listed")
}

/// The spec a GetReply gives `c` for its only id.
fn got(effects: &[Effect], c: u64) -> Option<ObjectSpec> {
    replies(effects).into_iter().find_map(|(to, r)| match r {
        Reply::Get { objects, .. } if to == c => Some(objects[0]),
        _ => None,
    })
}

/// The object's bytes in the arena, as a client would read them.
fn read(k: &mut Kit, spec: ObjectSpec) -> Vec<u8> {
    k.store
        .memory_mut()
        .read(spec.data_offset, spec.data_size + spec.metadata_size)
}

/// A store of 1000 bytes holding object 1 (600 + 10 bytes) spilled to disk.
fn one_spilled() -> Kit {
    let mut k = Kit::spilling(1000, 1 << 20);
    k.run(C, Request::Subscribe);
    cas(&mut k, A, 1, 600);
    let fx = cas_deferred(&mut k, A, 2, 600);
    assert_eq!(writes(&fx), 1, "object 1 is written out: {fx:?}");
    assert!(deletions(&fx).is_empty(), "a spill is not a deletion");
    assert_eq!(list_residence(&mut k, oid(1)), Residence::Spilling);
    let fx = k.finish_writes();
    assert_eq!(resumed(&fx), vec![A], "the deferred create may go on");
    cas(&mut k, A, 2, 600);
    k
}

#[test]
fn an_object_pushed_out_of_memory_is_spilled_not_deleted() {
    let mut k = one_spilled();
    assert!(k.contains(B, oid(2)));
    assert_eq!(list_residence(&mut k, oid(1)), Residence::Disk);
    let s = k.store.spill_stats();
    assert_eq!((s.spilled_objects, s.spilled_bytes), (1, 610));
    assert_eq!((s.spills, s.spill_bytes), (1, 610));
    assert_eq!(k.store.allocated(), 610, "only object 2 in memory");
    assert_eq!(k.disk.len(), 1);
    // Stats carries the same figures, and the directory's limit.
    let stats = k.store.stats();
    assert_eq!((stats.spill, stats.spill_limit), (s, 1 << 20));
    assert_eq!(
        stats.sealed.objects, 1,
        "the spilled object is not in memory"
    );
}

#[test]
fn a_get_brings_a_spilled_object_back_with_its_bytes_digest_and_times() {
    let mut k = one_spilled();
    let before = k.list(C).into_iter().find(|i| i.object_id == oid(1));
    // Timeout 0: the object exists, so the Get waits for its restore.
    let fx = k.get(B, &[oid(1)], 0);
    assert!(got(&fx, B).is_none(), "answered before the restore: {fx:?}");
    assert_eq!(writes(&fx), 1, "object 2 makes room");
    assert!(k.finish_reads().is_empty(), "the read waits for memory");
    let fx = k.finish_writes();
    assert!(got(&fx, B).is_none());
    assert_eq!(list_residence(&mut k, oid(1)), Residence::Restoring);
    let fx = k.finish_reads();
    let spec = got(&fx, B).expect("answered once restored");
    assert!(spec.is_available());
    let mut want = bytes(1, 600);
    want.extend(bytes(2, 10));
    assert_eq!(read(&mut k, spec), want);
    assert_eq!(k.ref_count(oid(1)), Some(1), "held by the Get");
    let after = k.list(C).into_iter().find(|i| i.object_id == oid(1));
    assert_eq!(
        after
            .as_ref()
            .map(|i| (i.digest, i.create_time, i.residence)),
        before.map(|i| (i.digest, i.create_time, Residence::Memory))
    );
    assert_eq!(after.map(|i| i.digest), Some(Some([1; 8])));
    assert_eq!(k.disk.len(), 1, "object 2's file only");
    let s = k.store.spill_stats();
    assert_eq!((s.restores, s.restore_bytes), (1, 610));
}

#[test]
fn several_requests_for_one_spilled_object_share_one_read() {
    let mut k = one_spilled();
    k.get(A, &[oid(1)], -1);
    k.get(B, &[oid(1)], -1);
    k.run(C, Request::Await { ids: vec![oid(1)] });
    k.finish_writes();
    let reads =
        k.io.iter()
            .filter(|op| matches!(op, DiskOp::Read { .. }))
            .count();
    assert_eq!(reads, 1);
    let fx = k.finish_reads();
    assert!(got(&fx, A).is_some_and(|s| s.is_available()));
    assert!(got(&fx, B).is_some_and(|s| s.is_available()));
    assert!(replies(&fx)
        .iter()
        .any(|(to, r)| *to == C && matches!(r, Reply::ObjectReady { .. })));
    assert_eq!(k.ref_count(oid(1)), Some(3));
}

#[test]
fn a_get_racing_the_spill_is_served_from_memory_and_the_spill_abandoned() {
    let mut k = Kit::spilling(1000, 1 << 20);
    cas(&mut k, A, 1, 600);
    cas_deferred(&mut k, A, 2, 600);
    // The write runs; the object is still readable and is got at once.
    let fx = k.get(B, &[oid(1)], 0);
    let spec = got(&fx, B).expect("answered from memory");
    let mut want = bytes(1, 600);
    want.extend(bytes(2, 10));
    assert_eq!(read(&mut k, spec), want);
    let fx = k.finish_writes();
    assert_eq!(resumed(&fx), vec![A]);
    assert!(k.disk.is_empty(), "the file of an abandoned spill goes");
    assert_eq!(k.store.spill_stats().spills_abandoned, 1);
    assert_eq!(list_residence(&mut k, oid(1)), Residence::Memory);
    // The create, handed in again, finds the memory still held.
    let d = bytes(2, 600);
    let fx = k.run(
        A,
        Request::CreateAndSeal {
            id: oid(2),
            evict_if_full: true,
            data: &d,
            metadata: b"",
            digest: [0; 8],
        },
    );
    assert!(replies(&fx).contains(&(
        A,
        Reply::CreateAndSeal {
            error: ErrorCode::OutOfMemory
        }
    )));
    // Released, it spills like any other.
    k.release(B, oid(1));
    cas_deferred(&mut k, A, 2, 600);
}

#[test]
fn a_get_released_before_the_write_ends_lets_the_spill_finish() {
    let mut k = Kit::spilling(1000, 1 << 20);
    cas(&mut k, A, 1, 600);
    cas_deferred(&mut k, A, 2, 600);
    k.get(B, &[oid(1)], 0);
    k.release(B, oid(1));
    k.finish_writes();
    assert_eq!(list_residence(&mut k, oid(1)), Residence::Disk);
}

#[test]
fn a_corrupt_spill_file_is_a_clean_not_available_and_a_deletion() {
    let mut k = one_spilled();
    for b in k.disk.values_mut() {
        b[3] ^= 0xff;
    }
    k.get(B, &[oid(1)], -1);
    k.finish_writes();
    let fx = k.finish_reads();
    assert_eq!(got(&fx, B), Some(ObjectSpec::NOT_AVAILABLE));
    assert_eq!(deletions(&fx), vec![oid(1)], "subscribers learn it is gone");
    assert!(!k.contains(B, oid(1)));
    assert!(k.disk.len() == 1, "the corrupt file is removed");
    assert_eq!(k.store.spill_stats().restore_failures, 1);
}

#[test]
fn a_missing_spill_file_answers_contains_with_0() {
    let mut k = one_spilled();
    k.disk.clear();
    let fx = k.run(B, Request::Contains { id: oid(1) });
    assert!(replies(&fx).is_empty(), "Contains waits for the restore");
    assert!(k.store.has_pending_get(B));
    k.finish_writes();
    let fx = k.finish_io(false, |_| Some(Failure::Read(RestoreError::Missing)));
    assert!(replies(&fx).contains(&(
        B,
        Reply::Contains {
            id: oid(1),
            has_object: false
        }
    )));
}

#[test]
fn contains_of_a_spilled_object_brings_it_back_without_a_hold() {
    let mut k = one_spilled();
    k.run(B, Request::Contains { id: oid(1) });
    k.finish_writes();
    let fx = k.finish_reads();
    assert!(replies(&fx).contains(&(
        B,
        Reply::Contains {
            id: oid(1),
            has_object: true
        }
    )));
    assert_eq!(k.ref_count(oid(1)), Some(0));
    assert_eq!(list_residence(&mut k, oid(1)), Residence::Memory);
}

#[test]
fn a_timeout_does_not_cut_a_restore_short() {
    let mut k = one_spilled();
    k.get(B, &[oid(1), oid(9)], 5);
    assert!(k.expire_after(10).is_empty(), "the restore is under way");
    k.finish_writes();
    let fx = k.finish_reads();
    let objects = replies(&fx)
        .into_iter()
        .find_map(|(to, r)| match r {
            Reply::Get { objects, .. } if to == B => Some(objects),
            _ => None,
        })
        .expect("answered when the restore ended");
    assert!(objects[0].is_available());
    assert!(!objects[1].is_available(), "the absent id timed out");
}

#[test]
fn delete_removes_the_file_of_a_spilled_object() {
    let mut k = one_spilled();
    let fx = k.run(B, Request::Delete { ids: vec![oid(1)] });
    assert!(replies(&fx).contains(&(
        B,
        Reply::Delete {
            ids: vec![oid(1)],
            errors: vec![ErrorCode::Ok]
        }
    )));
    assert_eq!(deletions(&fx), vec![oid(1)]);
    assert!(k.disk.is_empty());
    assert_eq!(k.store.spill_stats().spilled_objects, 0);
}

#[test]
fn an_object_deleted_during_its_write_frees_memory_when_it_ends() {
    let mut k = Kit::spilling(1000, 1 << 20);
    cas(&mut k, A, 1, 600);
    cas_deferred(&mut k, A, 2, 600);
    let fx = k.run(B, Request::Delete { ids: vec![oid(1)] });
    assert_eq!(deletions(&fx), Vec::<ObjectId>::new(), "no subscriber");
    assert!(!k.contains(B, oid(1)));
    assert_eq!(k.store.allocated(), 610, "the extent waits for the write");
    let fx = k.finish_writes();
    assert_eq!(resumed(&fx), vec![A]);
    assert_eq!(k.store.allocated(), 0);
    assert!(k.disk.is_empty());
    cas(&mut k, A, 2, 600);
}

#[test]
fn a_full_spill_directory_drops_objects_with_one_notice_per_episode() {
    // Room on disk for one object.
    let mut k = Kit::spilling(1000, 700);
    k.run(C, Request::Subscribe);
    cas(&mut k, A, 1, 600);
    cas_deferred(&mut k, A, 2, 600);
    k.finish_writes();
    cas(&mut k, A, 2, 600);
    // Object 2 cannot be spilled: dropped, and said once.
    let fx = cas(&mut k, A, 3, 600);
    assert_eq!(deletions(&fx), vec![oid(2)]);
    let notices: Vec<_> = fx
        .iter()
        .filter(|e| matches!(e, Effect::Notice(_)))
        .collect();
    assert_eq!(
        notices,
        vec![&Effect::Notice(Notice::SpillDiskFull {
            id: oid(2),
            limit: Some(700)
        })]
    );
    let fx = cas(&mut k, A, 4, 600);
    assert_eq!(deletions(&fx), vec![oid(3)]);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Notice(_))),
        "same episode"
    );
    assert_eq!(k.store.spill_stats().dropped, 2);
    // Room again (object 1 deleted): the next spill succeeds, and a later
    // drop starts a new episode.
    k.run(B, Request::Delete { ids: vec![oid(1)] });
    cas_deferred(&mut k, A, 5, 600);
    k.finish_writes();
    cas(&mut k, A, 5, 600);
    let fx = cas(&mut k, A, 6, 600);
    assert!(fx.iter().any(|e| matches!(e, Effect::Notice(_))));
}

#[test]
fn a_write_under_way_when_the_disk_fills_does_not_end_the_episode() {
    let mut k = Kit::spilling(1300, 1 << 20);
    k.run(C, Request::Subscribe);
    cas(&mut k, A, 1, 600);
    cas(&mut k, A, 2, 600);
    // One large create writes both out at once.
    let fx = cas_deferred(&mut k, A, 3, 1190);
    assert_eq!(writes(&fx), 2);
    let files: Vec<SpillFile> =
        k.io.iter()
            .filter_map(|op| match op {
                DiskOp::Write { file, .. } => Some(*file),
                _ => None,
            })
            .collect();
    // The later write fails for lack of room first; the earlier one, under
    // way all along, succeeds after it.
    k.io.reverse();
    let later = files[1];
    let fx = k.finish_io(true, |f| {
        (f == later).then_some(Failure::Write(SpillError::NoSpace))
    });
    let notices = fx.iter().filter(|e| matches!(e, Effect::Notice(_))).count();
    assert_eq!(notices, 1, "{fx:?}");
    assert_eq!(resumed(&fx), vec![A]);
    cas(&mut k, A, 3, 1190);
    // Nothing started since the disk filled has succeeded: the next drop
    // belongs to the same episode, without a line of its own.
    cas_deferred(&mut k, A, 4, 600);
    let fx = k.finish_io(true, |_| Some(Failure::Write(SpillError::NoSpace)));
    assert_eq!(deletions(&fx), vec![oid(3)]);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Notice(_))),
        "a new episode: {fx:?}"
    );
    assert_eq!(k.store.spill_stats().dropped, 2);
}

#[test]
fn a_disk_that_fills_up_under_a_write_drops_the_object() {
    let mut k = Kit::spilling(1000, 1 << 20);
    k.run(C, Request::Subscribe);
    cas(&mut k, A, 1, 600);
    cas_deferred(&mut k, A, 2, 600);
    let fx = k.finish_io(true, |_| Some(Failure::Write(SpillError::NoSpace)));
    assert_eq!(deletions(&fx), vec![oid(1)]);
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Notice(Notice::SpillDiskFull { limit: None, .. }))));
    assert_eq!(resumed(&fx), vec![A]);
    cas(&mut k, A, 2, 600);
    let s = k.store.spill_stats();
    assert_eq!((s.spill_failures, s.dropped, s.spilled_objects), (1, 1, 0));
}

#[test]
fn an_explicit_evict_still_deletes() {
    let mut k = Kit::spilling(1000, 1 << 20);
    k.run(C, Request::Subscribe);
    cas(&mut k, A, 1, 600);
    assert_eq!(k.evict(B, 1), 610);
    assert!(k.io.is_empty());
    assert!(!k.contains(B, oid(1)));
}

#[test]
fn a_deferred_client_that_leaves_is_forgotten() {
    let mut k = Kit::spilling(1000, 1 << 20);
    cas(&mut k, A, 1, 600);
    cas_deferred(&mut k, B, 2, 600);
    k.disconnect(B);
    assert!(!k.is_deferred(B));
    assert!(resumed(&k.finish_writes()).is_empty());
}

#[test]
fn a_spilled_object_cannot_be_created_again_and_survives_a_subscribe() {
    let mut k = one_spilled();
    assert_eq!(k.create(B, oid(1), 5, 0), ErrorCode::ObjectExists);
    let fx = k.run(B, Request::Subscribe);
    let backlog: Vec<ObjectId> = crate::core::testkit::seals(&fx);
    assert!(backlog.contains(&oid(1)), "{backlog:?}");
}

#[test]
fn an_await_of_a_spilled_object_is_pushed_once_restored() {
    let mut k = one_spilled();
    let fx = k.run(B, Request::Await { ids: vec![oid(1)] });
    assert!(replies(&fx).is_empty());
    assert_eq!(k.store.awaited_by(B), 1);
    k.finish_writes();
    let fx = k.finish_reads();
    assert!(replies(&fx)
        .iter()
        .any(|(to, r)| *to == B && matches!(r, Reply::ObjectReady { id, .. } if *id == oid(1))));
    assert_eq!(k.store.awaited_by(B), 0);
}

#[test]
fn restored_bytes_are_checked_against_the_crc_of_what_was_written() {
    let mut k = one_spilled();
    let (file, content) = k.disk.iter().next().map(|(f, b)| (*f, b.clone())).unwrap();
    assert_eq!(content.len(), 610);
    let mut want = bytes(1, 600);
    want.extend(bytes(2, 10));
    assert_eq!(content, want);
    k.get(B, &[oid(1)], -1);
    k.finish_writes();
    let read = k.io.iter().find_map(|op| match op {
        DiskOp::Read { file: f, crc, .. } if *f == file => Some(*crc),
        _ => None,
    });
    assert_eq!(read, Some(crc32(&want)));
}

#[test]
fn the_debug_text_counts_spills_after_the_marker() {
    let mut k = one_spilled();
    let Reply::DebugString { text } = k.ask(B, Request::DebugString) else {
        panic!()
    };
    let marker = text.find(plasma_protocol::EXTENSIONS_MARKER).unwrap();
    let ours = &text[marker..];
    for line in [
        "\nspilled objects: 1\n",
        "\nspilled bytes: 610\n",
        "\nspills: 1\n",
        "\nspill bytes: 610\n",
        "\nrestores: 0\n",
        "\nspill failures: 0\n",
        "\nrestore failures: 0",
    ] {
        assert!(ours.contains(line), "{line:?} in {ours}");
    }
    let plain = Kit::new(1000).ask(B, Request::DebugString);
    let Reply::DebugString { text } = plain else {
        panic!()
    };
    assert!(!text.contains("spill"), "no spill lines without spilling");
}
