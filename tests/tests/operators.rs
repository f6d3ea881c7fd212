//! The `plasma` command against the real daemon (and against Arrow Plasma
//! 11's): what it prints, human-readable and `--json`, about objects the
//! test put, and how it fails.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use plasma_e2e::{bin_path, eventually, TestStore};
use plasma_protocol::ObjectId;
use serde_json::Value;

/// Stdout of a run that must have succeeded.
fn stdout(out: Output) -> String {
    assert!(
        out.status.success(),
        "plasma failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn json(out: Output) -> Value {
    let text = stdout(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The line of `text` that starts with `key`, without the key.
fn field<'t>(text: &'t str, key: &str) -> &'t str {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no line '{key}' in\n{text}"))
        .trim()
}

#[test]
fn stats_and_list_describe_the_objects_the_test_put() {
    let store = TestStore::builder().memory(10 << 20).start();
    let client = store.client();
    let held = ObjectId::random();
    client.create_and_seal(held, &[1; 1000], b"m").unwrap();
    let _holding = client.get(&[held]).unwrap();
    let free = ObjectId::random();
    client.create_and_seal(free, &[2; 3000], b"").unwrap();
    let unsealed = ObjectId::random();
    // Created in the store's memory (a small object would be built in this
    // process's memory, unknown to the store until its seal).
    let mut classic = plasma_client::ClientOptions::default();
    classic.put_inline_max = 0;
    let _builder = store
        .client_with(classic)
        .create(unsealed, 500, b"")
        .unwrap();

    let text = stdout(store.plasma(&["stats"]));
    assert!(field(&text, "store").contains("plasma-store, up"), "{text}");
    assert_eq!(field(&text, "capacity"), "10.0 MiB");
    assert_eq!(field(&text, "  created"), "500 B in 1 object");
    assert_eq!(field(&text, "  sealed"), "3.91 KiB in 2 objects");
    assert_eq!(field(&text, "    held"), "1001 B in 1 object");
    assert_eq!(field(&text, "    evictable"), "2.93 KiB in 1 object");
    assert_eq!(field(&text, "evictions"), "0 (0 B)");
    assert!(
        field(&text, "requests").contains("create_and_seal 2"),
        "{text}"
    );

    let v = json(store.plasma(&["--json", "stats"]));
    assert_eq!(v["source"], "stats");
    assert_eq!(v["capacity"], 10 << 20);
    assert_eq!(v["created"]["bytes"], 500);
    assert_eq!(v["held"]["objects"], 1);
    assert_eq!(v["held"]["bytes"], 1001);
    assert_eq!(v["evictable"]["bytes"], 3000);
    assert_eq!(v["requests"]["create_and_seal"], 2);
    assert_eq!(v["requests"]["create"], 1);
    assert!(v["clients"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["uptime_seconds"].is_u64(), "{v}");

    let text = stdout(store.plasma(&["list", "--sort", "size"]));
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{text}");
    for (row, (id, state)) in
        rows.iter()
            .zip([(free, "evictable"), (held, "held"), (unsealed, "created")])
    {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[0], id.to_string(), "{text}");
        assert_eq!(cols[1], state, "{text}");
    }

    let v = json(store.plasma(&["--json", "list", "--sort", "size"]));
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [free, held, unsealed].map(|i| i.to_string()));
    assert_eq!(v[1]["holders"], 1);
    assert_eq!(v[1]["data_size"], 1000);
    assert_eq!(v[1]["metadata_size"], 1);
    assert!(v[2]["digest"].is_null());

    let v = json(store.plasma(&["--json", "list", "--state", "held"]));
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], held.to_string());
    let text = stdout(store.plasma(&["list", "--sort", "age", "--limit", "1"]));
    assert!(text.contains("(2 more; 3 objects match)"), "{text}");
}

#[test]
fn put_get_verify_delete_and_evict_round_trip() {
    let store = TestStore::start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(&input, &data).unwrap();

    let id = stdout(store.plasma(&["put", input.to_str().unwrap(), "--metadata", "csv"]));
    let id = id.trim();
    let parsed = ObjectId::from_hex(id).expect("put prints the new id");
    let got = store.client().get(&[parsed]).unwrap();
    assert_eq!(got[0].data(), &data[..]);
    assert_eq!(got[0].metadata(), b"csv");
    drop(got);

    let output = dir.path().join("out.bin");
    let text = stdout(store.plasma(&["get", id, "-o", output.to_str().unwrap()]));
    assert!(text.contains("97.7 KiB"), "{text}");
    assert_eq!(std::fs::read(&output).unwrap(), data);
    let raw = store.plasma(&["get", id]);
    assert_eq!(raw.stdout, data, "get without -o writes the data to stdout");

    assert!(stdout(store.plasma(&["verify", id])).contains(" ok (digest "));
    let v = json(store.plasma(&["--json", "verify", id]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["stored"], v["computed"]);

    let v = json(store.plasma(&["--json", "put", "-", "--id", &"ab".repeat(20)]));
    assert_eq!(v["id"], "ab".repeat(20));
    assert_eq!(v["data_size"], 0, "standard input is empty here");

    let v = json(store.plasma(&["--json", "evict", "1"]));
    assert_eq!(v["requested"], 1);
    assert!(v["evicted"].as_u64().unwrap() >= 1, "{v}");

    let left = store.plasma(&["delete", id, &"ab".repeat(20)]);
    let text = String::from_utf8_lossy(&left.stdout);
    // The eviction took the least recently used object: not necessarily ours.
    assert!(text.lines().count() == 2, "{text}");
    let again = store.plasma(&["--json", "delete", id]);
    assert_eq!(again.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v[0]["outcome"], "not_found");
}

#[test]
fn watch_shows_live_seals_and_deletions_then_stops_at_its_count() {
    let store = TestStore::start();
    let client = store.client();
    let before = ObjectId::random();
    client.create_and_seal(before, b"old", b"").unwrap();
    let mut watch = Command::new(bin_path("e2e-plasma"))
        .arg("--socket")
        .arg(store.socket())
        .args(["--json", "watch", "--count", "2", "--interval", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the watch has subscribed", || {
        client.stats().unwrap().subscribers == 1
    });
    let fresh = ObjectId::random();
    client.create_and_seal(fresh, b"new!", b"mm").unwrap();
    client.delete(&[fresh]).unwrap();
    let lines: Vec<Value> = BufReader::new(watch.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(watch.wait().unwrap().success());
    let events: Vec<&Value> = lines.iter().filter(|l| l["event"] != "rate").collect();
    assert_eq!(events.len(), 2, "{lines:?}");
    assert_eq!(events[0]["event"], "sealed");
    assert_eq!(events[0]["id"], fresh.to_string());
    assert_eq!(events[0]["data_size"], 4);
    assert_eq!(events[0]["metadata_size"], 2);
    assert_eq!(events[1]["event"], "deleted");
    assert_eq!(events[1]["id"], fresh.to_string());
    assert!(
        lines.iter().all(|l| l["id"] != before.to_string()),
        "the replay of an object sealed earlier is not shown: {lines:?}"
    );
}

#[test]
fn against_arrow_plasma_11_the_old_protocol_serves_and_stats_falls_back() {
    let mut store = TestStore::builder().memory(20_000_000).plasma11().start();
    let id = "cd".repeat(20);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    std::fs::write(&input, b"from plasma").unwrap();
    stdout(store.plasma(&["put", input.to_str().unwrap(), "--id", &id]));
    assert_eq!(stdout(store.plasma(&["get", &id])), "from plasma");
    let v = json(store.plasma(&["--json", "list"]));
    assert_eq!(v[0]["id"], id);
    assert_eq!(v[0]["state"], "evictable");

    let v = json(store.plasma(&["--json", "stats"]));
    assert_eq!(v["source"], "list+debug");
    assert_eq!(v["capacity"], 20_000_000);
    assert_eq!(v["sealed"]["objects"], 1);
    assert_eq!(v["sealed"]["bytes"], 11);
    assert_eq!(v["evictions"]["objects"], 0);
    assert!(v["clients"].is_null() && v["requests"].is_null(), "{v}");
    let text = stdout(store.plasma(&["stats"]));
    assert!(text.contains("no stats addition"), "{text}");
    assert_eq!(field(&text, "clients"), "-");

    assert!(stdout(store.plasma(&["delete", &id])).contains("deleted"));
    // No message type it does not know ever reached it (it would abort).
    store.assert_running();
}

#[test]
fn failures_say_what_failed_and_exit_non_zero() {
    let store = TestStore::start();
    let missing = ObjectId::random().to_string();
    let out = store.plasma(&["get", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&missing) && err.contains("not in the store"),
        "{err}"
    );

    let bad = store.plasma(&["get", "xyz"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("40 hex digits"));

    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("none.sock");
    let out = plasma_e2e::run_bounded(
        Command::new(bin_path("e2e-plasma"))
            .arg("--socket")
            .arg(&nowhere)
            .arg("stats"),
        plasma_e2e::PATIENCE,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to the store at"), "{err}");
}

#[test]
fn the_daemon_takes_its_flags_from_the_environment() {
    let store = TestStore::builder()
        .memory(3_000_000)
        .flags_in_env()
        .env("PLASMA_STORE_METRICS_LISTEN", "127.0.0.1:0")
        .env("PLASMA_STORE_LOG_FORMAT", "json")
        .start();
    assert_eq!(store.client().store_capacity(), 3_000_000);
    let url = store.metrics_url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let first = store
        .stderr_text()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let log: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(log["level"], "INFO");
}
