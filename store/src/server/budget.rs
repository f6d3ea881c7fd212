//! One budget for the partly read input of all connections together.
//!
//! Each connection reads small requests into a buffer of a few KiB to
//! 64 KiB ([`LARGE_SPARE`]), free of charge. A larger frame is charged
//! whole against `--input-budget` as soon as its header has arrived (its
//! buffer grows towards it as the bytes come): reserving whole frames, not
//! the bytes read so far, means connections cannot all stop half-way, each
//! waiting for the others. A connection whose frame does not fit the rest
//! of the budget is not read (its bytes wait in the kernel's socket
//! buffer) until another connection's charge goes down; one that is the
//! only one charged may always take its frame, so a frame up to
//! `--max-frame` always gets through. Its frame deadline keeps running
//! while it waits.

use std::collections::BTreeSet;

use super::input::LARGE_SPARE;
use crate::core::ClientId;

/// What a buffer of `allocated` bytes is charged.
pub(super) fn charge(allocated: usize) -> u64 {
    allocated.saturating_sub(LARGE_SPARE) as u64
}

/// The budget's state.
#[derive(Debug, Default)]
pub(super) struct InputBudget {
    /// Σ charges of all connections.
    in_use: u64,
    /// Connections waiting for the budget to go down.
    waiting: BTreeSet<ClientId>,
    /// The budget went down since waiting connections were last woken.
    released: bool,
}

impl InputBudget {
    /// Whether a connection charged `current` may grow to be charged
    /// `wanted` under `limit`.
    pub(super) fn admits(&self, current: u64, wanted: u64, limit: u64) -> bool {
        let others = self.in_use - current;
        wanted <= current || others == 0 || others + wanted <= limit
    }

    /// Replaces a connection's charge `old` with `new`.
    pub(super) fn recharge(&mut self, old: u64, new: u64) {
        self.in_use = self.in_use - old + new;
        if new < old {
            self.released = true;
        }
    }

    /// Notes that `id` waits for budget.
    pub(super) fn wait(&mut self, id: ClientId) {
        self.waiting.insert(id);
    }

    /// The connections to try again, if the budget went down.
    pub(super) fn take_woken(&mut self) -> Vec<ClientId> {
        if !std::mem::take(&mut self.released) {
            return Vec::new();
        }
        std::mem::take(&mut self.waiting).into_iter().collect()
    }

    /// Bytes charged now.
    #[cfg(test)]
    pub(super) fn in_use(&self) -> u64 {
        self.in_use
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_free() {
        assert_eq!(charge(0), 0);
        assert_eq!(charge(LARGE_SPARE), 0);
        assert_eq!(charge(LARGE_SPARE + 10), 10);
    }

    #[test]
    fn growth_past_the_limit_waits_unless_alone() {
        let mut b = InputBudget::default();
        assert!(b.admits(0, 5000, 1000), "alone, any frame may come");
        b.recharge(0, 900);
        assert!(b.admits(0, 100, 1000));
        assert!(!b.admits(0, 101, 1000));
        assert!(b.admits(900, 5000, 1000), "the only one charged");
        assert!(b.admits(0, 0, 1000), "shrinking or staying is free");
        b.wait(7);
        assert!(b.take_woken().is_empty(), "nothing released yet");
        b.recharge(900, 0);
        assert_eq!(b.take_woken(), vec![7]);
        assert_eq!(b.in_use(), 0);
    }
}
