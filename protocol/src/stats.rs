//! What a StatsReply carries (our addition, docs/design.md "Our protocol
//! additions"): the store's counters, as one plain value.

use crate::MessageType;

/// A number of objects and their data + metadata bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Objects.
    pub objects: u64,
    /// Σ data + metadata bytes.
    pub bytes: u64,
}

/// The store's counters at one moment.
///
/// Memory by state: `created` (unsealed) + `sealed` is what the byte budget
/// counts; `sealed` splits into `held` (some client holds it) and
/// `evictable` (nobody does: the store may evict it); `external` objects
/// were evicted into the `-e hashtable://` store and occupy no arena memory.
///
/// Counters (`evictions`, `deletions`, `creates_refused`, `requests`) count
/// from the store's start.
///
/// ```
/// use plasma_protocol::{MessageType, StoreStats};
/// let mut stats = StoreStats::default();
/// stats.requests.push((MessageType::GetRequest.as_i64(), 3));
/// assert_eq!(stats.requests_of(MessageType::GetRequest), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// The `-m` byte budget.
    pub capacity: u64,
    /// Unsealed objects.
    pub created: Tally,
    /// Sealed objects in memory (`held` + `evictable`).
    pub sealed: Tally,
    /// Sealed objects some client holds.
    pub held: Tally,
    /// Sealed objects nobody holds.
    pub evictable: Tally,
    /// Objects moved to the external store.
    pub external: Tally,
    /// Connected clients.
    pub clients: u64,
    /// Clients with a notification socket.
    pub subscribers: u64,
    /// Gets waiting for objects.
    pub waiting_gets: u64,
    /// Await registrations not pushed yet.
    pub pending_awaits: u64,
    /// Objects evicted (deleted, or moved to the external store) to make
    /// room or on an Evict request, and their bytes.
    pub evictions: Tally,
    /// Objects deleted by a Delete request (at once or on their last
    /// release).
    pub deletions: u64,
    /// Creates refused for lack of space (each object of a batch counts).
    pub creates_refused: u64,
    /// Requests handled, by message type number, types never seen left out.
    pub requests: Vec<(i64, u64)>,
    /// Bytes of replies and notifications queued for peers that have not
    /// read them yet.
    pub queued_bytes: u64,
    /// Milliseconds since the store started serving.
    pub uptime_ms: u64,
    /// Bytes the spill directory may hold (`--spill-max`); 0: spilling is
    /// off, and every [`StoreStats::spill`] figure is 0.
    pub spill_limit: u64,
    /// What spilling to disk holds and has done.
    pub spill: SpillStats,
}

/// Spilling to disk, as a StatsReply reports it (and the store counts it).
/// Counts from the store's start, except the first four (now).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpillStats {
    /// Objects on disk now (spilled, or being restored).
    pub spilled_objects: u64,
    /// Their data + metadata bytes.
    pub spilled_bytes: u64,
    /// Writes under way.
    pub spills_in_flight: u64,
    /// Reads under way.
    pub restores_in_flight: u64,
    /// Spills completed.
    pub spills: u64,
    /// Their bytes.
    pub spill_bytes: u64,
    /// Restores completed.
    pub restores: u64,
    /// Their bytes.
    pub restore_bytes: u64,
    /// Spills abandoned because the object was held when its write ended
    /// (it stays in memory).
    pub spills_abandoned: u64,
    /// Spill writes that failed, for any reason.
    pub spill_failures: u64,
    /// Objects dropped instead of spilled: the disk or the limit was full,
    /// or the write failed.
    pub dropped: u64,
    /// Restores that failed (file missing, corrupt, unreadable): objects
    /// lost.
    pub restore_failures: u64,
}

impl StoreStats {
    /// How many requests of type `t` the store handled.
    pub fn requests_of(&self, t: MessageType) -> u64 {
        self.requests
            .iter()
            .filter(|(n, _)| *n == t.as_i64())
            .map(|(_, c)| *c)
            .sum()
    }
}
