//! Time as the core sees it: passed in by the caller, so tests can use a
//! manual clock.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The current time, in the two forms the store needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Monotonic time, for Get deadlines.
    pub now: Instant,
    /// Unix seconds, for `create_time` and `construct_duration`
    /// (protocol.md §14.13: whole seconds, not milliseconds).
    pub unix_secs: i64,
    /// `CLOCK_MONOTONIC` in nanoseconds: the clock direct clients stamp
    /// their releases with, so the store can order them among its own
    /// (docs/design.md, "Releases, and what the store learns when").
    pub mono_ns: u64,
}

impl Clock {
    /// The system's current time.
    pub fn system() -> Self {
        let unix_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let mono_ns = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| (t.tv_sec() as u64).saturating_mul(1_000_000_000) + t.tv_nsec() as u64)
            .unwrap_or(0);
        Self {
            now: Instant::now(),
            unix_secs,
            mono_ns,
        }
    }

    /// This clock moved forward by `ms` milliseconds (both fields; the Unix
    /// time in whole seconds). Handy for tests.
    pub fn advanced_ms(&self, ms: u64) -> Self {
        Self {
            now: self.now + std::time::Duration::from_millis(ms),
            unix_secs: self.unix_secs + i64::try_from(ms / 1000).unwrap_or(i64::MAX),
            mono_ns: self.mono_ns.saturating_add(ms.saturating_mul(1_000_000)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_in_unix_seconds() {
        let c = Clock::system();
        // After 2020-01-01 and before 2200: seconds, not milliseconds.
        assert!(c.unix_secs > 1_577_836_800 && c.unix_secs < 7_258_118_400);
    }

    #[test]
    fn advancing_moves_both_fields() {
        let c = Clock::system();
        let d = c.advanced_ms(2500);
        assert_eq!(d.unix_secs, c.unix_secs + 2);
        assert_eq!(d.now - c.now, std::time::Duration::from_millis(2500));
    }
}
