//! `plasma stats`: the Stats addition's counters, or, from a store that
//! does not announce it (Arrow Plasma 11), what List and the debug text
//! tell; the rest shows as unknown (`-`, JSON `null`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use plasma_client::{ObjectInfo, StatsError, StoreStats, Tally};
use plasma_protocol::MessageType;
use plasma_protocol::SpillStats;
use serde::Serialize;

use crate::format::{bytes, count, seconds};
use crate::{say, Context, Outcome};

/// Objects and their bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    objects: u64,
    bytes: u64,
}

impl From<Tally> for Count {
    fn from(t: Tally) -> Self {
        Count {
            objects: t.objects,
            bytes: t.bytes,
        }
    }
}

impl Count {
    fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// Spilling to disk, when the store spills.
#[derive(Debug, Default, Serialize)]
pub struct SpillView {
    /// Bytes the spill directory may hold.
    limit_bytes: u64,
    /// On disk now (spilled, or being restored).
    on_disk: Count,
    spills_in_flight: u64,
    restores_in_flight: u64,
    /// Completed, since the store started.
    spills: Count,
    restores: Count,
    spills_abandoned: u64,
    spill_failures: u64,
    /// Objects dropped instead of spilled (disk or limit full, or a failed
    /// write).
    dropped: u64,
    /// Objects lost because their file was missing, corrupt or unreadable.
    restore_failures: u64,
}

impl SpillView {
    fn new(limit_bytes: u64, p: &SpillStats) -> Self {
        let tally = |objects, bytes| Count { objects, bytes };
        SpillView {
            limit_bytes,
            on_disk: tally(p.spilled_objects, p.spilled_bytes),
            spills_in_flight: p.spills_in_flight,
            restores_in_flight: p.restores_in_flight,
            spills: tally(p.spills, p.spill_bytes),
            restores: tally(p.restores, p.restore_bytes),
            spills_abandoned: p.spills_abandoned,
            spill_failures: p.spill_failures,
            dropped: p.dropped,
            restore_failures: p.restore_failures,
        }
    }
}

/// What `plasma stats` shows; `None` where the store cannot tell.
#[derive(Debug, Default, Serialize)]
pub struct StatsView {
    /// `stats` (our addition) or `list+debug` (the fallback).
    source: &'static str,
    capacity: u64,
    created: Count,
    sealed: Count,
    held: Count,
    evictable: Count,
    external: Option<Count>,
    clients: Option<u64>,
    subscribers: Option<u64>,
    waiting_gets: Option<u64>,
    pending_awaits: Option<u64>,
    evictions: Option<Count>,
    deletions: Option<u64>,
    creates_refused: Option<u64>,
    requests: Option<BTreeMap<&'static str, u64>>,
    queued_bytes: Option<u64>,
    uptime_seconds: Option<u64>,
    /// `None` when the store does not spill (or cannot tell).
    spill: Option<SpillView>,
}

impl StatsView {
    fn from_stats(s: &StoreStats) -> Self {
        let requests = s
            .requests
            .iter()
            .filter_map(|&(n, c)| MessageType::from_i64(n).map(|t| (t.short_name(), c)))
            .collect();
        StatsView {
            source: "stats",
            capacity: s.capacity,
            created: s.created.into(),
            sealed: s.sealed.into(),
            held: s.held.into(),
            evictable: s.evictable.into(),
            external: Some(s.external.into()),
            clients: Some(s.clients),
            subscribers: Some(s.subscribers),
            waiting_gets: Some(s.waiting_gets),
            pending_awaits: Some(s.pending_awaits),
            evictions: Some(s.evictions.into()),
            deletions: Some(s.deletions),
            creates_refused: Some(s.creates_refused),
            requests: Some(requests),
            queued_bytes: Some(s.queued_bytes),
            uptime_seconds: Some(s.uptime_ms / 1000),
            spill: (s.spill_limit > 0).then(|| SpillView::new(s.spill_limit, &s.spill)),
        }
    }

    /// The fallback: states from List (unsealed objects carry no digest),
    /// evictions from the debug text's cache lines.
    fn from_list(capacity: u64, objects: &[ObjectInfo], debug_text: &str) -> Self {
        let mut v = StatsView {
            source: "list+debug",
            capacity,
            evictions: evictions_in(debug_text),
            ..StatsView::default()
        };
        for o in objects {
            let size = size_of(o);
            if o.digest.is_none() {
                v.created.add(size);
            } else {
                v.sealed.add(size);
                if o.ref_count > 0 {
                    v.held.add(size);
                } else {
                    v.evictable.add(size);
                }
            }
        }
        v
    }
}

/// Data + metadata bytes of a listed object.
pub(crate) fn size_of(o: &ObjectInfo) -> u64 {
    let n = |x: i64| u64::try_from(x).unwrap_or(0);
    n(o.data_size).saturating_add(n(o.metadata_size))
}

/// Σ of every cache's `num evictions` / `bytes evicted` lines (the global
/// LRU and each quota client's), as Plasma 11's debug text prints them.
fn evictions_in(text: &str) -> Option<Count> {
    let mut total = Count::default();
    let mut seen = false;
    for line in text.lines() {
        let Some((key, value)) = line.rsplit_once(": ") else {
            continue;
        };
        let Ok(n) = value.trim().parse::<u64>() else {
            continue;
        };
        if key.ends_with(") num evictions") {
            total.objects += n;
            seen = true;
        } else if key.ends_with(") bytes evicted") {
            total.bytes += n;
        }
    }
    seen.then_some(total)
}

pub fn run(ctx: &Context) -> Outcome {
    let view = match ctx.client.stats() {
        Ok(s) => StatsView::from_stats(&s),
        Err(StatsError::Unsupported) => {
            let objects = ctx
                .client
                .list()
                .map_err(|e| format!("listing objects: {e}"))?;
            let text = ctx
                .client
                .debug_string()
                .map_err(|e| format!("reading the debug text: {e}"))?;
            StatsView::from_list(ctx.client.store_capacity(), &objects, &text)
        }
        Err(e) => return Err(format!("reading the store's stats: {e}").into()),
    };
    if ctx.json {
        Context::print_json(&view)?;
    } else {
        say!(
            "{}",
            human(&view, &ctx.socket.display().to_string()).trim_end()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn objects(c: Count) -> String {
    let noun = if c.objects == 1 { "object" } else { "objects" };
    format!("{} in {} {noun}", bytes(c.bytes), count(c.objects))
}

fn or_unknown<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

/// The human-readable table.
fn human(v: &StatsView, socket: &str) -> String {
    let in_use = v.created.bytes.saturating_add(v.sealed.bytes);
    let pct = if v.capacity > 0 {
        100.0 * in_use as f64 / v.capacity as f64
    } else {
        0.0
    };
    let origin = match v.uptime_seconds {
        Some(up) => format!("plasma-store, up {}", seconds(up)),
        None => "no stats addition: figures from list and the debug text".into(),
    };
    let mut lines = vec![
        ("store", format!("{socket} ({origin})")),
        ("capacity", bytes(v.capacity)),
        ("in use", format!("{} ({pct:.1} %)", bytes(in_use))),
        ("  created", objects(v.created)),
        ("  sealed", objects(v.sealed)),
        ("    held", objects(v.held)),
        ("    evictable", objects(v.evictable)),
        ("external", or_unknown(v.external, objects)),
        (
            "clients",
            match (v.clients, v.subscribers) {
                (Some(c), Some(s)) => format!("{} ({} subscribed)", count(c), count(s)),
                _ => "-".into(),
            },
        ),
        (
            "waiting",
            match (v.waiting_gets, v.pending_awaits) {
                (Some(g), Some(a)) => format!("{} gets, {} awaits", count(g), count(a)),
                _ => "-".into(),
            },
        ),
        (
            "evictions",
            or_unknown(v.evictions, |c| {
                format!("{} ({})", count(c.objects), bytes(c.bytes))
            }),
        ),
        ("deletions", or_unknown(v.deletions, count)),
        (
            "refused",
            or_unknown(v.creates_refused, |n| format!("{} creates", count(n))),
        ),
        ("queued", or_unknown(v.queued_bytes, bytes)),
    ];
    let requests = v.requests.as_ref().map(|r| {
        let mut by_count: Vec<_> = r.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        by_count
            .iter()
            .map(|(name, n)| format!("{name} {}", count(**n)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    lines.push(("requests", requests.unwrap_or_else(|| "-".into())));
    match (&v.spill, v.uptime_seconds) {
        (Some(p), _) => lines.extend(spill_lines(p)),
        (None, Some(_)) => lines.push(("spill", "off".into())),
        (None, None) => lines.push(("spill", "-".into())),
    }
    lines
        .into_iter()
        .map(|(k, v)| format!("{k:<14}{v}\n"))
        .collect()
}

/// The spilling lines of the human-readable table.
fn spill_lines(p: &SpillView) -> Vec<(&'static str, String)> {
    vec![
        (
            "spill",
            format!(
                "{} on disk, of {}",
                objects(p.on_disk),
                bytes(p.limit_bytes)
            ),
        ),
        (
            "  spills",
            format!(
                "{} ({}), {} under way, {} abandoned",
                count(p.spills.objects),
                bytes(p.spills.bytes),
                count(p.spills_in_flight),
                count(p.spills_abandoned)
            ),
        ),
        (
            "  restores",
            format!(
                "{} ({}), {} under way",
                count(p.restores.objects),
                bytes(p.restores.bytes),
                count(p.restores_in_flight)
            ),
        ),
        (
            "  failures",
            format!(
                "{} writes, {} reads; {} dropped instead of spilled",
                count(p.spill_failures),
                count(p.restore_failures),
                count(p.dropped)
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plasma_11_debug_text_gives_evictions_summed_over_caches() {
        let text = "allocated bytes: 108\n(global lru) capacity: 900\n(global lru) num evictions: 2\n(global lru) bytes evicted: 14\n(quota-client) num evictions: 1\n(quota-client) bytes evicted: 6";
        assert_eq!(
            evictions_in(text),
            Some(Count {
                objects: 3,
                bytes: 20
            })
        );
        assert_eq!(evictions_in("nothing here"), None);
    }

    #[test]
    fn the_fallback_sorts_listed_objects_into_states() {
        let info = |ref_count, digest: Option<[u8; 8]>| ObjectInfo {
            data_size: 10,
            metadata_size: 2,
            ref_count,
            digest,
            ..ObjectInfo::default()
        };
        let objects = [info(1, None), info(2, Some([1; 8])), info(0, Some([1; 8]))];
        let v = StatsView::from_list(100, &objects, "");
        assert_eq!(
            v.created,
            Count {
                objects: 1,
                bytes: 12
            }
        );
        assert_eq!(
            v.sealed,
            Count {
                objects: 2,
                bytes: 24
            }
        );
        assert_eq!(
            v.held,
            Count {
                objects: 1,
                bytes: 12
            }
        );
        assert_eq!(
            v.evictable,
            Count {
                objects: 1,
                bytes: 12
            }
        );
        assert_eq!(v.clients, None);
        let text = human(&v, "/s");
        assert!(text.contains("clients       -\n"), "{text}");
        assert!(text.contains("spill         -\n"), "{text}");
    }

    #[test]
    fn a_spilling_store_shows_its_disk_and_a_plain_one_says_off() {
        let mut s = StoreStats::default();
        s.uptime_ms = 1000;
        let text = human(&StatsView::from_stats(&s), "/s");
        assert!(text.contains("spill         off\n"), "{text}");
        s.spill_limit = 1 << 30;
        s.spill.spilled_objects = 3;
        s.spill.spilled_bytes = 3 << 20;
        s.spill.spills = 5;
        s.spill.restores = 2;
        s.spill.dropped = 1;
        let view = StatsView::from_stats(&s);
        let text = human(&view, "/s");
        assert!(
            text.contains("spill         3.00 MiB in 3 objects on disk, of 1.00 GiB\n"),
            "{text}"
        );
        assert!(text.contains("  spills      5 ("), "{text}");
        assert!(text.contains("1 dropped instead of spilled"), "{text}");
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["spill"]["on_disk"]["objects"], 3);
        assert_eq!(json["spill"]["limit_bytes"], 1u64 << 30);
    }
}
