//! Request latency, one histogram per request type, recorded by the event
//! loop at O(1) per request into plain arrays (no atomics, no lock: the
//! loop owns them and hands out copies).

use std::time::Duration;

use plasma_protocol::MessageType;

/// Upper bounds of the buckets, in nanoseconds (2.5 µs to 1 s; slower
/// requests fall into the implicit `+Inf` bucket).
pub const BOUNDS_NS: [u64; 17] = [
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
];

/// Buckets per histogram: one per bound plus `+Inf`.
const BUCKETS: usize = BOUNDS_NS.len() + 1;

/// One histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    pub buckets: [u64; BUCKETS],
    /// Σ observed nanoseconds.
    pub sum_ns: u64,
    /// Observations.
    pub count: u64,
}

impl Histogram {
    fn record(&mut self, ns: u64) {
        let i = BOUNDS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(BUCKETS - 1);
        self.buckets[i] += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.count += 1;
    }
}

/// Time from a request's complete frame to its outcome written (or queued)
/// by the loop, per request type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latencies {
    by_type: [Histogram; MessageType::COUNT],
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            by_type: [Histogram::default(); MessageType::COUNT],
        }
    }
}

impl Latencies {
    /// Records one request of type `t` that took `took`.
    pub fn record(&mut self, t: MessageType, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.by_type[t.dense_index()].record(ns);
    }

    /// Every type with at least one observation, with its histogram.
    pub fn observed(&self) -> impl Iterator<Item = (MessageType, &Histogram)> {
        MessageType::ALL
            .into_iter()
            .chain(MessageType::EXTENSIONS)
            .map(|t| (t, &self.by_type[t.dense_index()]))
            .filter(|(_, h)| h.count > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_observation_lands_in_the_first_bucket_that_holds_it() {
        let mut l = Latencies::default();
        l.record(MessageType::GetRequest, Duration::from_nanos(2_500));
        l.record(MessageType::GetRequest, Duration::from_nanos(2_501));
        l.record(MessageType::GetRequest, Duration::from_secs(5));
        l.record(MessageType::SealRequest, Duration::ZERO);
        let seen: Vec<_> = l.observed().collect();
        assert_eq!(seen.len(), 2);
        let (t, get) = seen[1];
        assert_eq!(t, MessageType::GetRequest);
        assert_eq!(get.count, 3);
        assert_eq!(get.buckets[0], 1);
        assert_eq!(get.buckets[1], 1);
        assert_eq!(get.buckets[BUCKETS - 1], 1);
        assert_eq!(get.sum_ns, 5_000_005_001);
        assert_eq!(seen[0].1.buckets[0], 1);
    }
}
