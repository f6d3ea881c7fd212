//! Prometheus metrics (`--metrics-listen ADDR:PORT`): a thread of its own
//! serves `GET /metrics` over HTTP (tiny_http) and, per scrape, asks the
//! event loop for a [`Snapshot`] through a channel, waking it with the
//! loop's waker. The loop answers at its next turn from counters it owns
//! (a copy of a few kilobytes), so scraping never takes a lock the loop
//! could wait on; a loop too busy to answer within
//! [`SNAPSHOT_PATIENCE`] gets the scrape a 503.

mod exposition;
mod http;
pub mod latency;

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::Duration;

use plasma_protocol::StoreStats;

pub use exposition::{render, CONTENT_TYPE};
pub use http::{MetricsError, MetricsServer};
use latency::Latencies;

/// How long a scrape waits for the loop's snapshot.
pub const SNAPSHOT_PATIENCE: Duration = Duration::from_secs(2);

/// Everything `/metrics` shows, taken by the loop at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The Stats request's counters.
    pub stats: StoreStats,
    /// Request latencies by type.
    pub latencies: Latencies,
}

/// The loop's end of the snapshot channel.
#[derive(Debug)]
pub struct SnapshotRequests(Receiver<SyncSender<Snapshot>>);

impl SnapshotRequests {
    /// Answers every waiting request with `make()` (never blocks: each
    /// answer channel has room for its one answer).
    pub fn answer_all(&self, mut make: impl FnMut() -> Snapshot) {
        for answer in self.0.try_iter() {
            let _ = answer.try_send(make());
        }
    }
}

/// The scraper's end: asks for a snapshot and wakes the loop.
struct SnapshotAsker {
    requests: Sender<SyncSender<Snapshot>>,
    wake: Box<dyn Fn() + Send>,
}

impl SnapshotAsker {
    /// A fresh snapshot, or `None` if the loop did not answer in time (or
    /// is gone).
    fn ask(&self) -> Option<Snapshot> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.requests.send(tx).ok()?;
        (self.wake)();
        rx.recv_timeout(SNAPSHOT_PATIENCE).ok()
    }
}

fn snapshot_channel(wake: Box<dyn Fn() + Send>) -> (SnapshotAsker, SnapshotRequests) {
    let (requests, rx) = mpsc::channel();
    (SnapshotAsker { requests, wake }, SnapshotRequests(rx))
}
