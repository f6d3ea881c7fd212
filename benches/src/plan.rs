//! How much of everything a run does: the full run, or `--quick` (a smoke
//! run for CI that only checks the harness works).

use crate::placement::Placement;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Iteration counts, sizes and capacities of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `--quick`.
    pub quick: bool,
    /// Repetitions of each measurement (stores alternating).
    pub reps: usize,
    /// Placements for small-object workloads.
    pub placements: Vec<Placement>,
    /// Size of the small objects (1 KiB).
    pub small_size: u64,
    /// Timed operations per repetition, Rust and C++ clients.
    pub small_iters: u64,
    /// Timed operations per repetition, Python client.
    pub py_iters: u64,
    /// Untimed operations before each timed loop.
    pub warmup: u64,
    /// Store capacity for small-object workloads.
    pub small_capacity: u64,
    /// The large object (256 MiB).
    pub big_size: u64,
    /// Timed large puts per repetition (warm pages).
    pub big_iters: u64,
    /// Store capacity for large-object workloads.
    pub big_capacity: u64,
    /// Objects per CreateAndSealBatch.
    pub batch_size: u64,
    /// Batches per repetition.
    pub batch_iters: u64,
    /// Objects in the store for the memory and eviction workloads.
    pub million: u64,
    /// Size of each of those objects.
    pub million_object_size: u64,
    /// Objects per CreateAndSealBatch while filling.
    pub fill_batch: u64,
    /// Repetitions of the million-object workloads.
    pub million_reps: usize,
    /// Object sizes of the sweep (plots); includes the three of W9.
    pub sweep_sizes: Vec<u64>,
    /// The sizes whose get latency must not depend on size (W9).
    pub flat_sizes: Vec<u64>,
    /// Bytes each sweep put moves per repetition (bounds iterations).
    pub sweep_bytes: u64,
    /// Half round trips per ping-pong anchor.
    pub pingpong_iters: u64,
    /// Copies per memcpy anchor.
    pub memcpy_iters: u64,
    /// Seals per as_future latency repetition (W10).
    pub await_count: usize,
    /// Futures pending at once for the memory figure (W11, W16).
    pub await_pending: usize,
    /// The numpy array of the Python large-value workload (W14).
    pub py_big_size: u64,
    /// Timed puts (and gets) of it per repetition.
    pub py_big_iters: u64,
    /// Idle connected clients of the hostile load (W17).
    pub hostile_idle: usize,
    /// Slowloris peers of the hostile load.
    pub hostile_slowloris: usize,
    /// Puts and gets measured in each phase of the hostile workload.
    pub hostile_iters: u64,
}

impl Plan {
    /// The full run: several repetitions, 1,000,000 objects, 256 MiB objects.
    pub fn full() -> Plan {
        Plan {
            quick: false,
            reps: 5,
            placements: Placement::ALL.to_vec(),
            small_size: KIB,
            small_iters: 10_000,
            py_iters: 5_000,
            warmup: 200,
            small_capacity: GIB,
            big_size: 256 * MIB,
            big_iters: 8,
            big_capacity: GIB,
            batch_size: 1000,
            batch_iters: 50,
            million: 1_000_000,
            million_object_size: 64,
            fill_batch: 1000,
            million_reps: 3,
            sweep_sizes: vec![64, KIB, 64 * KIB, MIB, 16 * MIB, 256 * MIB],
            flat_sizes: vec![64, MIB, 256 * MIB],
            sweep_bytes: 2 * GIB,
            pingpong_iters: 20_000,
            memcpy_iters: 4,
            await_count: 3000,
            await_pending: 100_000,
            py_big_size: 100_000_000,
            py_big_iters: 8,
            hostile_idle: 1000,
            hostile_slowloris: 100,
            hostile_iters: 10_000,
        }
    }

    /// The smoke run: one repetition, tiny counts, 16 MiB instead of
    /// 256 MiB, 10,000 objects instead of 1,000,000, unpinned only.
    pub fn quick() -> Plan {
        Plan {
            quick: true,
            reps: 1,
            placements: vec![Placement::Unpinned],
            small_size: KIB,
            small_iters: 200,
            py_iters: 100,
            warmup: 10,
            small_capacity: 64 * MIB,
            big_size: 16 * MIB,
            big_iters: 2,
            big_capacity: 64 * MIB,
            batch_size: 100,
            batch_iters: 5,
            million: 10_000,
            million_object_size: 64,
            fill_batch: 1000,
            million_reps: 1,
            sweep_sizes: vec![64, KIB, MIB, 16 * MIB],
            flat_sizes: vec![64, MIB, 16 * MIB],
            sweep_bytes: 32 * MIB,
            pingpong_iters: 2_000,
            memcpy_iters: 2,
            await_count: 200,
            await_pending: 10_000,
            py_big_size: 16 * MIB,
            py_big_iters: 2,
            hostile_idle: 1000,
            hostile_slowloris: 100,
            hostile_iters: 500,
        }
    }

    /// Timed puts of `size` bytes in one sweep repetition.
    pub fn sweep_put_iters(&self, size: u64) -> u64 {
        (self.sweep_bytes / size.max(1)).clamp(4, self.sweep_max_iters())
    }

    /// Timed gets per sweep repetition (gets do not touch the bytes).
    pub fn sweep_get_iters(&self) -> u64 {
        self.sweep_max_iters()
    }

    fn sweep_max_iters(&self) -> u64 {
        (self.small_iters / 4).max(10)
    }
}

/// `1 KiB`, `256 MiB`, `64 B`: sizes as the tables print them.
pub fn size_label(size: u64) -> String {
    if size >= GIB && size.is_multiple_of(GIB) {
        format!("{} GiB", size / GIB)
    } else if size >= MIB && size.is_multiple_of(MIB) {
        format!("{} MiB", size / MIB)
    } else if size >= KIB && size.is_multiple_of(KIB) {
        format!("{} KiB", size / KIB)
    } else {
        format!("{size} B")
    }
}

/// `1,000,000`: counts as the tables print them.
pub fn count_label(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts_read_naturally() {
        assert_eq!(size_label(64), "64 B");
        assert_eq!(size_label(1024), "1 KiB");
        assert_eq!(size_label(256 << 20), "256 MiB");
        assert_eq!(size_label(1500), "1500 B");
        assert_eq!(count_label(1_000_000), "1,000,000");
        assert_eq!(count_label(999), "999");
        assert_eq!(count_label(10_000), "10,000");
    }

    #[test]
    fn sweep_iterations_are_bounded_both_ways() {
        let p = Plan::full();
        assert_eq!(p.sweep_put_iters(64), p.small_iters / 4);
        assert_eq!(p.sweep_put_iters(256 << 20), 8);
        assert_eq!(p.sweep_put_iters(1 << 40), 4);
    }

    #[test]
    fn the_big_objects_fit_the_big_store_twice() {
        for p in [Plan::full(), Plan::quick()] {
            assert!(p.big_capacity >= 2 * p.big_size);
            assert!(p.sweep_sizes.iter().all(|&s| s <= p.big_size));
            assert!(p.flat_sizes.iter().all(|s| p.sweep_sizes.contains(s)));
        }
    }
}
