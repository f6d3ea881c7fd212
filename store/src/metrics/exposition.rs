//! The `/metrics` page: one [`Snapshot`] in Prometheus' text exposition
//! format (version 0.0.4), written by prometheus-client.
//!
//! Names (prefix `plasma_store_`): `capacity_bytes`; `memory_bytes` and
//! `objects` by `state` (`created`, `held`, `evictable`: they partition what
//! the budget counts); `external_objects`, `external_bytes`;
//! `evictions_total`, `evicted_bytes_total`, `deletions_total`,
//! `creates_refused_total`; `clients`, `subscribers`, `waiting_gets`,
//! `pending_awaits`; `requests_total` by `type`; `queued_bytes`;
//! `uptime_seconds`; `request_duration_seconds` (histogram) by `type`.
//! A store that spills adds `spill_limit_bytes`, `spilled_bytes`,
//! `spilled_objects`, `spills_in_flight`, `restores_in_flight`,
//! `spills_total`, `spill_bytes_total`, `restores_total`,
//! `restore_bytes_total`, `spills_abandoned_total`, `spill_failures_total`,
//! `spill_dropped_total` and `restore_failures_total`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::latency::BOUNDS_NS;
use super::Snapshot;

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The page for `snapshot`.
pub fn render(snapshot: Snapshot) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("plasma_store");
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// Encodes a snapshot taken for this one scrape.
#[derive(Debug)]
struct SnapshotCollector(Snapshot);

/// Writes one counter or gauge value.
fn value(m: MetricEncoder<'_>, kind: MetricType, value: u64) -> std::fmt::Result {
    match kind {
        MetricType::Counter => ConstCounter::new(value).encode(m),
        _ => ConstGauge::new(value).encode(m),
    }
}

/// One unlabelled counter or gauge.
fn single(
    e: &mut DescriptorEncoder<'_>,
    kind: MetricType,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: u64,
) -> std::fmt::Result {
    value(e.encode_descriptor(name, help, unit, kind)?, kind, v)
}

/// One metric with a value per label value.
fn family(
    mut m: MetricEncoder<'_>,
    label: &'static str,
    values: &[(&str, u64)],
    kind: MetricType,
) -> std::fmt::Result {
    for &(label_value, v) in values {
        let labels = [(label, label_value)];
        value(m.encode_family(&labels)?, kind, v)?;
    }
    Ok(())
}

/// The spilling metrics (only from a store that spills).
fn encode_spill(
    e: &mut DescriptorEncoder<'_>,
    limit: u64,
    p: &plasma_protocol::SpillStats,
) -> std::fmt::Result {
    let bytes = Unit::Bytes;
    let (gauge, counter) = (MetricType::Gauge, MetricType::Counter);
    let rows: [(MetricType, &str, &str, Option<&Unit>, u64); 13] = [
        (
            gauge,
            "spill_limit",
            "Bytes the spill directory may hold (--spill-max).",
            Some(&bytes),
            limit,
        ),
        (
            gauge,
            "spilled",
            "Bytes of objects on disk (spilled, or being restored).",
            Some(&bytes),
            p.spilled_bytes,
        ),
        (
            gauge,
            "spilled_objects",
            "Objects on disk (spilled, or being restored).",
            None,
            p.spilled_objects,
        ),
        (
            gauge,
            "spills_in_flight",
            "Spill writes under way.",
            None,
            p.spills_in_flight,
        ),
        (
            gauge,
            "restores_in_flight",
            "Restore reads under way.",
            None,
            p.restores_in_flight,
        ),
        (counter, "spills", "Spills completed.", None, p.spills),
        (
            counter,
            "spill",
            "Bytes spilled.",
            Some(&bytes),
            p.spill_bytes,
        ),
        (counter, "restores", "Restores completed.", None, p.restores),
        (
            counter,
            "restore",
            "Bytes restored.",
            Some(&bytes),
            p.restore_bytes,
        ),
        (
            counter,
            "spills_abandoned",
            "Spills abandoned because the object was held when its write ended.",
            None,
            p.spills_abandoned,
        ),
        (
            counter,
            "spill_failures",
            "Spill writes that failed.",
            None,
            p.spill_failures,
        ),
        (
            counter,
            "spill_dropped",
            "Objects dropped instead of spilled (disk or limit full, or a failed write).",
            None,
            p.dropped,
        ),
        (
            counter,
            "restore_failures",
            "Restores that failed (file missing, corrupt or unreadable): objects lost.",
            None,
            p.restore_failures,
        ),
    ];
    for (kind, name, help, unit, v) in rows {
        single(e, kind, name, help, unit, v)?;
    }
    Ok(())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = &self.0.stats;
        let bytes = Unit::Bytes;
        single(
            &mut e,
            MetricType::Gauge,
            "capacity",
            "The byte budget (-m).",
            Some(&bytes),
            s.capacity,
        )?;
        let m = e.encode_descriptor(
            "memory",
            "Bytes of objects by state: created (unsealed), held (sealed, some client holds it), evictable (sealed, nobody holds it).",
            Some(&bytes),
            MetricType::Gauge,
        )?;
        let by_state = [
            ("created", s.created),
            ("held", s.held),
            ("evictable", s.evictable),
        ];
        let values: Vec<_> = by_state.iter().map(|(n, t)| (*n, t.bytes)).collect();
        family(m, "state", &values, MetricType::Gauge)?;
        let m = e.encode_descriptor(
            "objects",
            "Objects by state (as for memory_bytes).",
            None,
            MetricType::Gauge,
        )?;
        let values: Vec<_> = by_state.iter().map(|(n, t)| (*n, t.objects)).collect();
        family(m, "state", &values, MetricType::Gauge)?;
        single(
            &mut e,
            MetricType::Gauge,
            "external_objects",
            "Objects moved to the external store (-e).",
            None,
            s.external.objects,
        )?;
        single(
            &mut e,
            MetricType::Gauge,
            "external",
            "Bytes of objects moved to the external store (-e).",
            Some(&bytes),
            s.external.bytes,
        )?;
        single(
            &mut e,
            MetricType::Counter,
            "evictions",
            "Objects evicted to make room or on request.",
            None,
            s.evictions.objects,
        )?;
        single(
            &mut e,
            MetricType::Counter,
            "evicted",
            "Bytes of objects evicted.",
            Some(&bytes),
            s.evictions.bytes,
        )?;
        single(
            &mut e,
            MetricType::Counter,
            "deletions",
            "Objects deleted by a Delete request.",
            None,
            s.deletions,
        )?;
        single(
            &mut e,
            MetricType::Counter,
            "creates_refused",
            "Creates refused for lack of space.",
            None,
            s.creates_refused,
        )?;
        single(
            &mut e,
            MetricType::Gauge,
            "clients",
            "Connected clients.",
            None,
            s.clients,
        )?;
        single(
            &mut e,
            MetricType::Gauge,
            "subscribers",
            "Clients receiving notifications.",
            None,
            s.subscribers,
        )?;
        single(
            &mut e,
            MetricType::Gauge,
            "waiting_gets",
            "Gets waiting for objects.",
            None,
            s.waiting_gets,
        )?;
        single(
            &mut e,
            MetricType::Gauge,
            "pending_awaits",
            "Awaited objects not pushed yet.",
            None,
            s.pending_awaits,
        )?;
        if s.spill_limit > 0 {
            encode_spill(&mut e, s.spill_limit, &s.spill)?;
        }
        let m = e.encode_descriptor(
            "requests",
            "Requests handled, by type.",
            None,
            MetricType::Counter,
        )?;
        let values: Vec<_> = s
            .requests
            .iter()
            .filter_map(|&(n, count)| {
                plasma_protocol::MessageType::from_i64(n).map(|t| (t.short_name(), count))
            })
            .collect();
        family(m, "type", &values, MetricType::Counter)?;
        single(
            &mut e,
            MetricType::Gauge,
            "queued",
            "Bytes of replies and notifications waiting for slow peers to read them.",
            Some(&bytes),
            s.queued_bytes,
        )?;
        let uptime = ConstGauge::new(s.uptime_ms as f64 / 1000.0);
        uptime.encode(e.encode_descriptor(
            "uptime",
            "Time since the store started serving.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?)?;
        let mut m = e.encode_descriptor(
            "request_duration",
            "Time from a request's complete frame to its outcome written or queued, by type.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (t, h) in self.0.latencies.observed() {
            let labels = [("type", t.short_name())];
            let mut member = m.encode_family(&labels)?;
            let buckets: Vec<(f64, u64)> = BOUNDS_NS
                .iter()
                .map(|&b| b as f64 / 1e9)
                .chain([f64::INFINITY])
                .zip(h.buckets)
                .collect();
            member.encode_histogram::<NoLabelSet>(
                h.sum_ns as f64 / 1e9,
                h.count,
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use plasma_protocol::{MessageType, StoreStats, Tally};

    use super::super::latency::Latencies;
    use super::*;

    fn page() -> String {
        let mut stats = StoreStats::default();
        stats.capacity = 1000;
        stats.created = Tally {
            objects: 1,
            bytes: 10,
        };
        stats.evictions = Tally {
            objects: 2,
            bytes: 300,
        };
        stats.requests = vec![(MessageType::GetRequest.as_i64(), 7)];
        stats.uptime_ms = 1500;
        let mut latencies = Latencies::default();
        latencies.record(MessageType::GetRequest, Duration::from_micros(30));
        render(Snapshot { stats, latencies }).unwrap()
    }

    #[test]
    fn the_page_uses_conventional_names_and_units() {
        let text = page();
        for line in [
            "plasma_store_capacity_bytes 1000",
            "plasma_store_memory_bytes{state=\"created\"} 10",
            "plasma_store_objects{state=\"created\"} 1",
            "plasma_store_evictions_total 2",
            "plasma_store_evicted_bytes_total 300",
            "plasma_store_requests_total{type=\"get\"} 7",
            "plasma_store_uptime_seconds 1.5",
            "plasma_store_request_duration_seconds_bucket{type=\"get\",le=\"2.5e-05\"} 0",
            "plasma_store_request_duration_seconds_bucket{type=\"get\",le=\"5e-05\"} 1",
            "plasma_store_request_duration_seconds_bucket{type=\"get\",le=\"+Inf\"} 1",
            "plasma_store_request_duration_seconds_count{type=\"get\"} 1",
            "# TYPE plasma_store_request_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("spill"), "spilling off: no spill metrics");
    }

    #[test]
    fn a_spilling_store_adds_its_disk_figures() {
        let mut stats = StoreStats::default();
        stats.spill_limit = 4096;
        stats.spill.spilled_bytes = 1000;
        stats.spill.spills = 3;
        stats.spill.restore_bytes = 700;
        stats.spill.dropped = 2;
        let text = render(Snapshot {
            stats,
            latencies: Latencies::default(),
        })
        .unwrap();
        for line in [
            "plasma_store_spill_limit_bytes 4096",
            "plasma_store_spilled_bytes 1000",
            "plasma_store_spills_total 3",
            "plasma_store_restore_bytes_total 700",
            "plasma_store_spill_dropped_total 2",
            "plasma_store_restore_failures_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
