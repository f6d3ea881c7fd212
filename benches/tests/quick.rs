//! The CI smoke run: `plasma-bench --quick` must run every workload against
//! both stores and write its four result files. It asserts no numbers.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn quick_run_writes_the_table_the_json_and_the_plots() {
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_plasma-bench"))
        .arg("--quick")
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "plasma-bench --quick failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    eprintln!("plasma-bench --quick took {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(300), "{stderr}");

    let md = std::fs::read_to_string(out.path().join("results.md")).unwrap();
    for id in [
        "W1",
        "W2",
        "W3",
        "W4",
        "W5",
        "W6",
        "W7",
        "W8",
        "W9",
        "W10",
        "W11",
        "W12",
        "W1-d-cpu",
        "W3-d-cpu",
        "W13",
        "W14-put",
        "W14-get",
        "W15",
        "W16",
        "W17-put",
        "W17-get",
        "W17-rss",
        "W18-small",
        "W18-large",
        "W19-small",
        "W19-large",
        "W20",
        "W21",
    ] {
        assert!(md.contains(&format!("| {id} |")), "{id} missing:\n{md}");
    }
    assert!(md.contains("ping-pong"), "{md}");
    assert!(
        md.contains("two hand-overs after"),
        "the relay-idle anchor:\n{md}"
    );
    assert_eq!(stdout.trim(), md.trim(), "stdout is the table");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(json["meta"]["quick"], true);
    let rows = json["rows"].as_array().unwrap();
    assert!(rows.len() >= 9, "{rows:?}");
    for row in rows {
        assert!(row["ours"]["summary"]["median"].is_number(), "{row}");
    }
    assert!(!json["sweep"].as_array().unwrap().is_empty());

    for plot in ["latency.svg", "throughput.svg"] {
        let svg = std::fs::read_to_string(out.path().join(plot)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{plot}"
        );
    }
}
