//! The GetDebugString text, in the real store's format (protocol.md §8;
//! nothing parses it).

use std::fmt::Write;

use super::long_reply::QuotaTally;
use super::Store;

/// Formats like a C++ ostream prints a double (6 significant digits,
/// trailing zeros dropped), enough for a percentage.
fn ostream_double(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = usize::try_from((5 - magnitude).max(0)).unwrap_or(0);
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// What the debug text says about one LRU cache.
struct CacheLines<'a> {
    name: &'a str,
    capacity: i64,
    original: i64,
    used: u64,
    objects: usize,
    evictions: u64,
    bytes_evicted: u64,
}

impl CacheLines<'_> {
    /// Appends `(name) capacity`, used %, objects, evictions, bytes evicted.
    fn write_to(&self, text: &mut String) {
        let remaining = self.capacity as f64 - self.used as f64;
        let used_pct = if self.original > 0 {
            100.0 * (1.0 - remaining / self.original as f64)
        } else {
            0.0
        };
        let name = self.name;
        let _ = write!(
            text,
            "\n({name}) capacity: {}\n({name}) used: {}%\n({name}) num objects: {}\n({name}) num evictions: {}\n({name}) bytes evicted: {}",
            self.capacity,
            ostream_double(used_pct),
            self.objects,
            self.evictions,
            self.bytes_evicted,
        );
    }
}

impl Store {
    /// The text GetDebugString returns, given what a walk over the table
    /// counted (see [`super::long_reply`]).
    pub(super) fn debug_text(&self, tally: QuotaTally) -> String {
        let quota_clients: Vec<_> = self
            .clients
            .values()
            .filter_map(|c| c.quota.as_ref().map(|q| (c.name.as_str(), q)))
            .collect();
        let QuotaTally {
            owned,
            pinned,
            pinned_bytes,
        } = tally;
        let capacity = i64::try_from(self.config.capacity).unwrap_or(i64::MAX);
        let mut text = format!(
            "num clients with quota: {}\nquota map size: {owned}\npinned quota map size: {pinned}\nallocated bytes: {}\nallocation limit: {capacity}\npinned bytes: {pinned_bytes}",
            quota_clients.len(),
            self.allocated,
        );
        CacheLines {
            name: "global lru",
            capacity: self.global_lru_capacity,
            original: capacity,
            used: self.global_lru.bytes(),
            objects: self.global_lru.len(),
            evictions: self.global_evictions,
            bytes_evicted: self.global_bytes_evicted,
        }
        .write_to(&mut text);
        for (name, q) in quota_clients {
            let cap = i64::try_from(q.capacity).unwrap_or(i64::MAX);
            CacheLines {
                name,
                capacity: cap,
                original: cap,
                used: q.list.bytes(),
                objects: q.list.len(),
                evictions: q.evictions,
                bytes_evicted: q.bytes_evicted,
            }
            .write_to(&mut text);
        }
        // Our own last lines: clients look for them before using our
        // additions (free-format text; nothing in Plasma parses it).
        for line in plasma_protocol::extensions::LINES {
            text.push('\n');
            text.push_str(line);
        }
        if self.direct_enabled() {
            text.push('\n');
            text.push_str(plasma_protocol::extensions::DIRECT_LINE);
        }
        // What waits on the store, so that a test can wait until a request
        // has arrived instead of sleeping (our lines, after the marker).
        let waiting_gets = self
            .clients
            .values()
            .filter(|c| c.pending_get.is_some())
            .count();
        let _ = write!(
            text,
            "\nwaiting gets: {waiting_gets}\nawaited objects: {}",
            self.awaits.total()
        );
        if self.spills() {
            self.spill_lines(&mut text);
        }
        text
    }

    /// What spilling has done and holds (our lines, only with spilling on).
    fn spill_lines(&self, text: &mut String) {
        let s = self.spill_stats();
        let _ = write!(
            text,
            "\nspilled objects: {}\nspilled bytes: {}\nspills in flight: {}\nrestores in flight: {}\nspills: {}\nspill bytes: {}\nrestores: {}\nrestore bytes: {}\nspills abandoned: {}\nspill failures: {}\nobjects dropped instead of spilled: {}\nrestore failures: {}",
            s.spilled_objects,
            s.spilled_bytes,
            s.spills_in_flight,
            s.restores_in_flight,
            s.spills,
            s.spill_bytes,
            s.restores,
            s.restore_bytes,
            s.spills_abandoned,
            s.spill_failures,
            s.dropped,
            s.restore_failures,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{oid, Kit};
    use super::ostream_double;
    use plasma_protocol::{Reply, Request};

    fn debug_text(kit: &mut Kit) -> String {
        match kit.ask(9, Request::DebugString) {
            Reply::DebugString { text } => text,
            r => panic!("unexpected {r:?}"),
        }
    }

    #[test]
    fn the_text_counts_waiting_gets_and_awaited_objects_after_the_marker() {
        let mut kit = Kit::new(1000);
        let idle = debug_text(&mut kit);
        assert!(
            idle.ends_with(
                "plasma-store extensions: await\nplasma-store extensions: stats\nwaiting gets: 0\nawaited objects: 0"
            ),
            "{idle}"
        );
        kit.get(1, &[oid(1)], -1);
        kit.get(2, &[oid(1), oid(2)], 5000);
        kit.run(
            3,
            Request::Await {
                ids: vec![oid(1), oid(2), oid(3)],
            },
        );
        let busy = debug_text(&mut kit);
        assert!(
            busy.ends_with("\nwaiting gets: 2\nawaited objects: 3"),
            "{busy}"
        );
        kit.disconnect(1);
        kit.disconnect(3);
        assert!(debug_text(&mut kit).ends_with("\nwaiting gets: 1\nawaited objects: 0"));
    }

    #[test]
    fn doubles_print_like_an_ostream() {
        assert_eq!(ostream_double(10.0001), "10.0001");
        assert_eq!(ostream_double(0.0), "0");
        assert_eq!(ostream_double(100.0), "100");
        assert_eq!(ostream_double(12.3456789), "12.3457");
        assert_eq!(ostream_double(0.5), "0.5");
    }
}
