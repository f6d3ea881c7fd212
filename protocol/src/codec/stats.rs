//! StatsRequest (68, an empty table) and StatsReply (69), our addition.
//!
//! StatsReply's table: slots 0–20 are `uint64` scalars in the order of
//! [`scalars`] (absent = 0, so a reader older than a later slot ignores it
//! and one newer reads 0); slot 21 `request_types: [int64]` and slot 22
//! `request_counts: [uint64]` pair up position by position; slots 23–35
//! are the spilling scalars, in the order of [`spill_scalars`].

use super::wire::{table_verifier, verify_root, vt, Fbb, I64VecField, Root};
use super::DecodeError;
use crate::{Reply, SpillStats, StoreStats, Tally};

/// Number of scalar slots.
const SCALARS: usize = 21;
/// Slot of the request type numbers; the counts follow in the next one.
const REQUEST_TYPES: u16 = SCALARS as u16;
const REQUEST_COUNTS: u16 = REQUEST_TYPES + 1;
/// First slot of the spilling scalars, and their number.
const SPILL_FIRST: u16 = REQUEST_COUNTS + 1;
const SPILL_SCALARS: usize = 13;

table_verifier!(
    /// `StatsReply`.
    StatsReplyTable {
        0 "capacity": u64,
        1 "created_objects": u64,
        2 "created_bytes": u64,
        3 "sealed_objects": u64,
        4 "sealed_bytes": u64,
        5 "held_objects": u64,
        6 "held_bytes": u64,
        7 "evictable_objects": u64,
        8 "evictable_bytes": u64,
        9 "external_objects": u64,
        10 "external_bytes": u64,
        11 "clients": u64,
        12 "subscribers": u64,
        13 "waiting_gets": u64,
        14 "pending_awaits": u64,
        15 "evictions": u64,
        16 "evicted_bytes": u64,
        17 "deletions": u64,
        18 "creates_refused": u64,
        19 "queued_bytes": u64,
        20 "uptime_ms": u64,
        21 "request_types": I64VecField,
        22 "request_counts": I64VecField,
        23 "spill_limit": u64,
        24 "spilled_objects": u64,
        25 "spilled_bytes": u64,
        26 "spills_in_flight": u64,
        27 "restores_in_flight": u64,
        28 "spills": u64,
        29 "spill_bytes": u64,
        30 "restores": u64,
        31 "restore_bytes": u64,
        32 "spills_abandoned": u64,
        33 "spill_failures": u64,
        34 "spill_dropped": u64,
        35 "restore_failures": u64,
    }
);

/// The scalar fields in slot order (the wire layout; the verifier above
/// lists the same order by name).
fn scalars(s: &StoreStats) -> [u64; SCALARS] {
    [
        s.capacity,
        s.created.objects,
        s.created.bytes,
        s.sealed.objects,
        s.sealed.bytes,
        s.held.objects,
        s.held.bytes,
        s.evictable.objects,
        s.evictable.bytes,
        s.external.objects,
        s.external.bytes,
        s.clients,
        s.subscribers,
        s.waiting_gets,
        s.pending_awaits,
        s.evictions.objects,
        s.evictions.bytes,
        s.deletions,
        s.creates_refused,
        s.queued_bytes,
        s.uptime_ms,
    ]
}

/// The spilling scalars in slot order, from [`SPILL_FIRST`].
fn spill_scalars(s: &StoreStats) -> [u64; SPILL_SCALARS] {
    let p = &s.spill;
    [
        s.spill_limit,
        p.spilled_objects,
        p.spilled_bytes,
        p.spills_in_flight,
        p.restores_in_flight,
        p.spills,
        p.spill_bytes,
        p.restores,
        p.restore_bytes,
        p.spills_abandoned,
        p.spill_failures,
        p.dropped,
        p.restore_failures,
    ]
}

/// The spill limit and figures from their slots' values.
fn spill_from_scalars(v: [u64; SPILL_SCALARS]) -> (u64, SpillStats) {
    let [limit, spilled_objects, spilled_bytes, spills_in_flight, restores_in_flight, spills, spill_bytes, restores, restore_bytes, spills_abandoned, spill_failures, dropped, restore_failures] =
        v;
    let spill = SpillStats {
        spilled_objects,
        spilled_bytes,
        spills_in_flight,
        restores_in_flight,
        spills,
        spill_bytes,
        restores,
        restore_bytes,
        spills_abandoned,
        spill_failures,
        dropped,
        restore_failures,
    };
    (limit, spill)
}

fn from_scalars(v: [u64; SCALARS], requests: Vec<(i64, u64)>) -> StoreStats {
    let tally = |objects, bytes| Tally { objects, bytes };
    let [capacity, c_o, c_b, s_o, s_b, h_o, h_b, e_o, e_b, x_o, x_b, clients, subscribers, waiting_gets, pending_awaits, ev_o, ev_b, deletions, creates_refused, queued_bytes, uptime_ms] =
        v;
    StoreStats {
        capacity,
        created: tally(c_o, c_b),
        sealed: tally(s_o, s_b),
        held: tally(h_o, h_b),
        evictable: tally(e_o, e_b),
        external: tally(x_o, x_b),
        clients,
        subscribers,
        waiting_gets,
        pending_awaits,
        evictions: tally(ev_o, ev_b),
        deletions,
        creates_refused,
        requests,
        queued_bytes,
        uptime_ms,
        spill_limit: 0,
        spill: SpillStats::default(),
    }
}

pub(crate) fn decode_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    let t = verify_root::<StatsReplyTable>(payload)?;
    let mut v = [0u64; SCALARS];
    for (slot, value) in (0u16..).zip(v.iter_mut()) {
        *value = t.u64(slot)?;
    }
    let types = t.vector_or_empty(REQUEST_TYPES)?;
    let counts = t.vector_or_empty(REQUEST_COUNTS)?;
    if types.len() != counts.len() {
        return Err(DecodeError::LengthMismatch("request_counts"));
    }
    let requests = (0..types.len())
        .map(|i| Ok((types.i64(i)?, counts.i64(i)? as u64)))
        .collect::<Result<_, DecodeError>>()?;
    let mut spill = [0u64; SPILL_SCALARS];
    for (slot, value) in (SPILL_FIRST..).zip(spill.iter_mut()) {
        *value = t.u64(slot)?;
    }
    let mut stats = from_scalars(v, requests);
    (stats.spill_limit, stats.spill) = spill_from_scalars(spill);
    Ok(Reply::Stats(Box::new(stats)))
}

pub(crate) fn encode_reply(fbb: &mut Fbb, stats: &StoreStats) -> Root {
    // Counts travel as the bits of a uint64 in an [int64]-shaped vector.
    let counts: Vec<i64> = stats.requests.iter().map(|&(_, c)| c as i64).collect();
    let counts = fbb.create_vector(&counts);
    let types: Vec<i64> = stats.requests.iter().map(|&(t, _)| t).collect();
    let types = fbb.create_vector(&types);
    let start = fbb.start_table();
    for (slot, value) in (0u16..).zip(scalars(stats)) {
        fbb.push_slot(vt(slot), value, 0);
    }
    fbb.push_slot_always(vt(REQUEST_TYPES), types);
    fbb.push_slot_always(vt(REQUEST_COUNTS), counts);
    for (slot, value) in (SPILL_FIRST..).zip(spill_scalars(stats)) {
        fbb.push_slot(vt(slot), value, 0);
    }
    fbb.end_table(start)
}
