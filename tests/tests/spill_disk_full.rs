//! A full spill disk (issue 14): objects pushed out of memory that cannot be
//! spilled are dropped, as without spilling, with one log line for the
//! episode; no request fails for it. Two ways to be full: the filesystem
//! (a tmpfs of the store's own, which needs root; without root the test
//! says so and uses the second way) and `--spill-max`.

use plasma_client::Client;
use plasma_e2e::{eventually, pattern, tmpfs_possible, SpillPlace, TestStore};
use plasma_protocol::ObjectId;

const MIB: u64 = 1 << 20;

/// Puts 16 objects of 1 MiB into a 4 MiB store spilling to `place`; checks
/// that every create succeeded, that some objects were spilled and some
/// dropped, that `line` was logged exactly once while the disk stayed full,
/// and that each object is then either served with its own bytes or absent.
fn fill_past_a_full_disk(place: SpillPlace, max: Option<u64>, line: &str) {
    let store = TestStore::builder()
        .memory(4 * MIB)
        .spill(place, max)
        .start();
    let client = store.client();
    let size = MIB as usize;
    let ids: Vec<ObjectId> = (0..16)
        .map(|i| {
            let id = ObjectId::random();
            client
                .create_and_seal(id, &pattern(i, size), b"")
                .expect("no create fails for a full spill disk");
            id
        })
        .collect();
    let dropped = store.debug_figure("objects dropped instead of spilled");
    assert!(dropped >= 1, "{}", store.debug_text());
    assert!(store.debug_figure("spills") >= 1, "{}", store.debug_text());
    // One episode so far: nothing has left the disk since it filled. (The
    // reads below bring objects back and remove their files, so later
    // spills may succeed and a new episode begin.)
    eventually("the spill writes have ended", || {
        store.debug_figure("spills in flight") == 0
    });
    let stderr = store.stderr_text();
    assert_eq!(stderr.matches(line).count(), 1, "{stderr}");
    let (mut served, mut absent) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        match Client::try_get(&client, &[*id]).unwrap().pop().flatten() {
            Some(b) => {
                assert!(b.data() == &pattern(i as u64, size)[..], "object {i}");
                served += 1;
            }
            None => absent += 1,
        }
    }
    assert!(
        served >= 4 && absent >= 1,
        "{served} served, {absent} absent"
    );
}

#[test]
fn a_full_spill_filesystem_drops_objects_with_one_log_line() {
    if tmpfs_possible() {
        // 3 MiB of tmpfs: the filesystem is full long before the limit.
        fill_past_a_full_disk(
            SpillPlace::Tmpfs(3 * MIB),
            Some(1 << 30),
            "its filesystem is full",
        );
    } else {
        println!("no tmpfs of its own without root: --spill-max plays the full disk");
        fill_past_a_full_disk(
            SpillPlace::Own,
            Some(3 * MIB),
            "its --spill-max of 3145728 bytes is reached",
        );
    }
}

#[test]
fn a_spill_max_reached_drops_objects_with_one_log_line() {
    fill_past_a_full_disk(
        SpillPlace::Own,
        Some(5 * MIB / 2),
        "its --spill-max of 2621440 bytes is reached",
    );
}
