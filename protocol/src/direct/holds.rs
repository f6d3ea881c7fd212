//! A connection's hold table: the slots its direct holds live in, and the
//! release log the store reads to learn when holds ended (docs/design.md,
//! "Releases, and what the store learns when").
//!
//! The client writes slots and appends records; the store writes a slot
//! only for a put's hold and reads everything else. The store never trusts
//! what it reads here: indexes are bounded by the geometry, and it keeps its
//! own copy of the log tail (sharing contract, rule 8).

use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::layout::{header, HoldsGeometry, LayoutError, HOLD_NONE};

/// One record of the release log: the slot value whose hold ended, and when
/// (`CLOCK_MONOTONIC` nanoseconds, the client's word for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldRecord {
    /// A [`pack_hold`](super::pack_hold) value.
    pub hold: u64,
    /// Release time, for ordering the records of several connections.
    pub stamp_ns: u64,
}

/// A view of a mapped hold table.
#[derive(Clone, Copy, Debug)]
pub struct HoldTable<'a> {
    words: &'a [AtomicU64],
    geo: HoldsGeometry,
}

impl<'a> HoldTable<'a> {
    /// Lays out a fresh (zeroed) segment.
    pub fn init(words: &'a [AtomicU64], geo: HoldsGeometry) -> Result<HoldTable<'a>, LayoutError> {
        geo.init(words)?;
        Ok(HoldTable { words, geo })
    }

    /// A view of a laid-out segment whose header must fit it.
    pub fn open(words: &'a [AtomicU64]) -> Result<HoldTable<'a>, LayoutError> {
        let geo = HoldsGeometry::read(words)?;
        Ok(HoldTable { words, geo })
    }

    /// The table's shape.
    pub fn geometry(&self) -> HoldsGeometry {
        self.geo
    }

    fn word(&self, i: usize) -> Option<&AtomicU64> {
        self.words.get(i)
    }

    fn slot_word(&self, slot: usize) -> Option<&AtomicU64> {
        (slot < self.geo.slots)
            .then(|| self.word(self.geo.slot_word(slot)))
            .flatten()
    }

    /// Client: stores the hold `value` in `slot`, then fences (sequentially
    /// consistent), so that the re-check that follows cannot be ordered
    /// before the claim. False if `slot` is out of range.
    pub fn claim(&self, slot: usize, value: u64) -> bool {
        let Some(w) = self.slot_word(slot) else {
            return false;
        };
        w.store(value, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        true
    }

    /// Client: ends the hold in `slot`. Every read of the object must come
    /// before it (release ordering).
    pub fn clear(&self, slot: usize) {
        if let Some(w) = self.slot_word(slot) {
            w.store(HOLD_NONE, Ordering::Release);
        }
    }

    /// Store: writes a put's hold into `slot` (the client named it free).
    /// False if `slot` is out of range.
    pub fn set(&self, slot: usize, value: u64) -> bool {
        match self.slot_word(slot) {
            Some(w) => {
                w.store(value, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// The value in `slot` (0 when out of range).
    pub fn slot(&self, slot: usize) -> u64 {
        self.slot_word(slot)
            .map_or(HOLD_NONE, |w| w.load(Ordering::Relaxed))
    }

    /// Store: every non-free slot value. The caller fenced (sequentially
    /// consistent) after retiring its victims.
    pub fn scan(&self, mut each: impl FnMut(u64)) {
        let start = self.geo.slot_word(0);
        if let Some(slots) = self.words.get(start..start + self.geo.slots) {
            for w in slots {
                let v = w.load(Ordering::Relaxed);
                if v != HOLD_NONE {
                    each(v);
                }
            }
        }
        fence(Ordering::Acquire);
    }

    /// The store's tail as last published (what the client may overwrite).
    fn shared_tail(&self) -> u64 {
        self.word(header::LOG_TAIL)
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    /// Client: records in the log the store has not read yet, given the
    /// client's own count of records written.
    pub fn log_len(&self, head: u64) -> u64 {
        head.wrapping_sub(self.shared_tail())
    }

    /// Client: appends `record` unless the log is full. `head` is the
    /// client's own count of records written (it never reads it back from
    /// the segment).
    pub fn log_push(&self, head: &mut u64, record: HoldRecord) -> bool {
        let log = self.geo.log as u64;
        if self.log_len(*head) >= log {
            return false;
        }
        let at = self.geo.record_word((*head % log) as usize);
        if let (Some(a), Some(b)) = (self.word(at), self.word(at + 1)) {
            a.store(record.hold, Ordering::Relaxed);
            b.store(record.stamp_ns, Ordering::Relaxed);
        }
        *head = head.wrapping_add(1);
        if let Some(w) = self.word(header::LOG_HEAD) {
            w.store(*head, Ordering::Release);
        }
        true
    }

    /// Store: moves every record written since `tail` (the store's own
    /// count, at most one log's worth) into `out`, and publishes the new
    /// tail for the client.
    pub fn drain(&self, tail: &mut u64, out: &mut Vec<HoldRecord>) {
        let head = self
            .word(header::LOG_HEAD)
            .map_or(*tail, |w| w.load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        let log = self.geo.log as u64;
        let n = head.wrapping_sub(*tail).min(log);
        for k in 0..n {
            let at = self.geo.record_word((tail.wrapping_add(k) % log) as usize);
            let read = |i| self.word(i).map_or(0, |w| w.load(Ordering::Relaxed));
            out.push(HoldRecord {
                hold: read(at),
                stamp_ns: read(at + 1),
            });
        }
        *tail = tail.wrapping_add(n);
        if let Some(w) = self.word(header::LOG_TAIL) {
            w.store(*tail, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::{pack_hold, zeroed};
    use super::*;

    fn table(words: &[AtomicU64]) -> HoldTable<'_> {
        HoldTable::init(words, HoldsGeometry { slots: 4, log: 3 }).unwrap()
    }

    #[test]
    fn slots_hold_until_cleared_and_scans_see_them() {
        let w = zeroed(HoldsGeometry { slots: 4, log: 3 }.words());
        let t = table(&w);
        assert!(t.claim(2, pack_hold(5, 9)));
        assert!(!t.claim(4, pack_hold(5, 9)), "out of range");
        assert!(t.set(0, pack_hold(1, 1)));
        let mut seen = Vec::new();
        t.scan(|v| seen.push(v));
        assert_eq!(seen, vec![pack_hold(1, 1), pack_hold(5, 9)]);
        t.clear(2);
        assert_eq!(t.slot(2), HOLD_NONE);
    }

    #[test]
    fn the_log_carries_records_in_order_and_refuses_when_full() {
        let w = zeroed(HoldsGeometry { slots: 4, log: 3 }.words());
        let t = table(&w);
        let mut head = 0;
        let rec = |n| HoldRecord {
            hold: pack_hold(n, 1),
            stamp_ns: u64::from(n),
        };
        for n in 0..3 {
            assert!(t.log_push(&mut head, rec(n)));
        }
        assert!(!t.log_push(&mut head, rec(3)), "full");
        let mut tail = 0;
        let mut out = Vec::new();
        t.drain(&mut tail, &mut out);
        assert_eq!(out, vec![rec(0), rec(1), rec(2)]);
        assert_eq!(t.log_len(head), 0);
        assert!(t.log_push(&mut head, rec(3)), "room again, wrapped");
        out.clear();
        t.drain(&mut tail, &mut out);
        assert_eq!(out, vec![rec(3)]);
    }

    #[test]
    fn a_lying_head_costs_at_most_one_log_per_drain() {
        let w = zeroed(HoldsGeometry { slots: 4, log: 3 }.words());
        let t = table(&w);
        w[header::LOG_HEAD].store(u64::MAX - 7, Ordering::Relaxed);
        w[header::LOG_TAIL].store(12345, Ordering::Relaxed); // ignored by the store
        let mut tail = 0;
        let mut out = Vec::new();
        t.drain(&mut tail, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(tail, 3);
    }
}
