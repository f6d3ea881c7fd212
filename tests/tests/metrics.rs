//! `/metrics` (`--metrics-listen`), scraped with a real HTTP client after
//! known operations: the values follow them, in Prometheus' text format;
//! a spilling store adds its disk figures, as Stats and `plasma stats` do.

use std::collections::HashMap;

use plasma_client::CreateError;
use plasma_e2e::{eventually, SpillPlace, TestStore};
use plasma_protocol::ObjectId;

/// One scrape: the sample lines as `name{labels}` → value.
fn scrape(url: &str) -> HashMap<String, f64> {
    let response = minreq::get(url)
        .with_timeout(10)
        .send()
        .expect("scraping /metrics");
    assert_eq!(response.status_code, 200);
    let content_type = response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response
        .as_str()
        .expect("a UTF-8 page")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(page: &HashMap<String, f64>, name: &str) -> f64 {
    *page
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing from {page:#?}"))
}

#[test]
fn metrics_follow_known_operations() {
    let store = TestStore::builder()
        .memory(1_000_000)
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start();
    let url = store.metrics_url();
    let client = store.client();
    let ids = [ObjectId::random(), ObjectId::random(), ObjectId::random()];
    for id in ids {
        client.create_and_seal(id, &[7; 100], b"").unwrap();
    }
    let _held = client.get(&ids[..1]).unwrap();
    client.delete(&ids[1..2]).unwrap();
    // Larger than the store: refused before it evicts anything.
    assert!(matches!(
        client.create(ObjectId::random(), 2_000_000, b""),
        Err(CreateError::StoreFull)
    ));
    assert_eq!(
        client.evict(1_000_000).unwrap(),
        100,
        "the third object is evicted, the held one stays"
    );

    let page = scrape(&url);
    assert_eq!(value(&page, "plasma_store_capacity_bytes"), 1_000_000.0);
    assert_eq!(
        value(&page, "plasma_store_memory_bytes{state=\"held\"}"),
        100.0
    );
    assert_eq!(
        value(&page, "plasma_store_memory_bytes{state=\"evictable\"}"),
        0.0
    );
    assert_eq!(
        value(&page, "plasma_store_memory_bytes{state=\"created\"}"),
        0.0
    );
    assert_eq!(value(&page, "plasma_store_objects{state=\"held\"}"), 1.0);
    assert_eq!(value(&page, "plasma_store_evictions_total"), 1.0);
    assert_eq!(value(&page, "plasma_store_evicted_bytes_total"), 100.0);
    assert_eq!(value(&page, "plasma_store_deletions_total"), 1.0);
    assert_eq!(value(&page, "plasma_store_creates_refused_total"), 1.0);
    assert_eq!(
        value(
            &page,
            "plasma_store_requests_total{type=\"create_and_seal\"}"
        ),
        3.0
    );
    assert_eq!(
        value(&page, "plasma_store_requests_total{type=\"create\"}"),
        1.0
    );
    assert!(value(&page, "plasma_store_clients") >= 1.0);
    assert_eq!(value(&page, "plasma_store_subscribers"), 0.0);
    assert!(value(&page, "plasma_store_uptime_seconds") > 0.0);
    // One latency histogram per request type seen, every request counted.
    let seals = "plasma_store_request_duration_seconds_count{type=\"create_and_seal\"}";
    assert_eq!(value(&page, seals), 3.0);
    let inf = "plasma_store_request_duration_seconds_bucket{type=\"create_and_seal\",le=\"+Inf\"}";
    assert_eq!(value(&page, inf), 3.0);

    // A later scrape sees later operations.
    let _sub = client.subscribe().unwrap();
    plasma_e2e::eventually("the subscriber shows", || {
        scrape(&url).get("plasma_store_subscribers") == Some(&1.0)
    });
}

#[test]
fn only_the_metrics_path_is_served() {
    let store = TestStore::builder()
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start();
    let url = store.metrics_url();
    let other = url.replace("/metrics", "/");
    let response = minreq::get(other).with_timeout(10).send().unwrap();
    assert_eq!(response.status_code, 404);
}

#[test]
fn no_metrics_endpoint_unless_asked() {
    let store = TestStore::start();
    store.client();
    assert!(
        !store.stderr_text().contains("serving metrics"),
        "{}",
        store.stderr_report()
    );
}

#[test]
fn a_spilling_store_reports_its_disk_in_stats_plasma_stats_and_metrics() {
    const MIB: usize = 1 << 20;
    let store = TestStore::builder()
        .memory(8 * MIB as u64)
        .spill(SpillPlace::Own, None)
        .arg("--metrics-listen")
        .arg("127.0.0.1:0")
        .start();
    let url = store.metrics_url();
    let client = store.client();
    let ids: Vec<ObjectId> = (0..12u8)
        .map(|i| {
            let id = ObjectId::random();
            client.create_and_seal(id, &vec![i; MIB], b"").unwrap();
            id
        })
        .collect();
    let mut stats = client.stats().unwrap();
    eventually("the spill writes have ended", || {
        stats = client.stats().unwrap();
        stats.spill.spills_in_flight == 0
    });
    let p = stats.spill;
    assert!(stats.spill_limit > 0, "{stats:?}");
    assert!(p.spills >= 4, "{p:?}");
    assert_eq!(
        (p.spilled_objects, p.spilled_bytes),
        (p.spills, p.spill_bytes)
    );
    assert_eq!(p.spill_bytes, p.spills * MIB as u64);
    assert_eq!(p.restores + p.dropped + p.spill_failures, 0);
    // The first object went first; a Get brings it back.
    let got = client.get(&ids[..1]).unwrap();
    assert!(got[0].data().iter().all(|&b| b == 0));
    drop(got);
    let after = client.stats().unwrap().spill;
    assert_eq!((after.restores, after.restore_bytes), (1, MIB as u64));

    let page = scrape(&url);
    let limit = stats.spill_limit as f64;
    assert_eq!(value(&page, "plasma_store_spill_limit_bytes"), limit);
    assert_eq!(value(&page, "plasma_store_restores_total"), 1.0);
    assert_eq!(value(&page, "plasma_store_restore_bytes_total"), MIB as f64);
    assert!(value(&page, "plasma_store_spills_total") >= p.spills as f64);
    assert_eq!(value(&page, "plasma_store_restore_failures_total"), 0.0);

    let out = store.plasma(&["stats", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["spill"]["restores"]["objects"], 1);
    assert_eq!(json["spill"]["limit_bytes"], stats.spill_limit);
    let out = store.plasma(&["stats"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("spill ") && l.contains("on disk, of")),
        "{text}"
    );
}
