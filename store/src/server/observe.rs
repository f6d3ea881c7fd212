//! What the loop keeps for operators: when it started, how long requests
//! take, and the metrics endpoint's requests for snapshots. The loop adds
//! its own figures (queued bytes, uptime) to the core's counters here, for
//! Stats replies and snapshots alike.

use std::time::Instant;

use plasma_protocol::StoreStats;

use super::event_loop::EventLoop;
use crate::metrics::latency::Latencies;
use crate::metrics::{Snapshot, SnapshotRequests};

/// The loop's operator state.
#[derive(Debug)]
pub(super) struct Observer {
    started: Instant,
    /// Request latencies by type.
    pub latencies: Latencies,
    snapshots: Option<SnapshotRequests>,
    /// Report stopping to a service manager (`drain.rs`).
    pub systemd: bool,
}

impl Observer {
    pub(super) fn new() -> Self {
        Observer {
            started: Instant::now(),
            latencies: Latencies::default(),
            snapshots: None,
            systemd: false,
        }
    }

    /// Serve snapshots to the metrics endpoint from now on.
    pub(super) fn attach(&mut self, requests: SnapshotRequests) {
        self.snapshots = Some(requests);
    }
}

impl EventLoop {
    /// Fills in the figures only the loop knows.
    pub(super) fn add_loop_stats(&self, stats: &mut StoreStats) {
        stats.queued_bytes = self
            .conns
            .values()
            .map(|c| c.output.queued() + c.subscriber.as_ref().map_or(0, |s| s.queued()))
            .sum();
        stats.uptime_ms =
            u64::try_from(self.observer.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    }

    /// Everything `/metrics` shows, now.
    pub(super) fn snapshot(&self) -> Snapshot {
        let mut stats = self.store.stats();
        self.add_loop_stats(&mut stats);
        Snapshot {
            stats,
            latencies: self.observer.latencies.clone(),
        }
    }

    /// Answers the metrics endpoint's waiting requests (after a wake-up).
    pub(super) fn answer_snapshot_requests(&self) {
        if let Some(requests) = &self.observer.snapshots {
            requests.answer_all(|| self.snapshot());
        }
    }
}
