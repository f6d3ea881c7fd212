//! Writes a run's results: `results.md` (the tables), `results.json`
//! (everything, every repetition), `latency.svg` and `throughput.svg`.

use std::fmt::Write;
use std::fs;
use std::path::Path;

use crate::daemon::Side;
use crate::error::{io, BenchError, Result};
use crate::placement::Placement;
use crate::plan::size_label;
use crate::results::{Report, SweepPoint, Unit};
use crate::svg::{self, Chart, Series};

/// The files a run leaves in its output directory.
pub const FILES: [&str; 4] = [
    "results.md",
    "results.json",
    "latency.svg",
    "throughput.svg",
];

/// Writes all four files into `out`.
pub fn write_all(out: &Path, report: &Report) -> Result<()> {
    let put = |name: &str, text: String| {
        let path = out.join(name);
        fs::write(&path, text).map_err(io(format!("write {}", path.display())))
    };
    put("results.md", markdown(report))?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| BenchError::Setup(format!("serialize results: {e}")))?;
    put("results.json", json + "\n")?;
    put("latency.svg", svg::render(&latency_chart(report)))?;
    put("throughput.svg", svg::render(&throughput_chart(report)))?;
    Ok(())
}

/// The markdown tables.
pub fn markdown(r: &Report) -> String {
    let m = &r.meta;
    let mut s = String::new();
    let _ = writeln!(s, "# plasma-bench results\n");
    let _ = writeln!(
        s,
        "`{}` on {}: {} vCPU ({}), Linux {}; {} repetition(s) per figure, stores alternating; \
         each cell is the median (min–max); ratio = ours/Plasma 11 unless it names an anchor.\n",
        m.command,
        utc_date(m.started_unix),
        m.cpus.len(),
        m.cpu_model,
        m.kernel,
        m.reps
    );
    let _ = writeln!(
        s,
        "Load average at start / end: {} / {}.\n",
        m.loadavg.0, m.loadavg.1
    );
    if m.quick {
        let _ = writeln!(
            s,
            "**Quick mode**: tiny counts and sizes to check that the harness works; the numbers mean nothing.\n"
        );
    }
    let _ = writeln!(s, "## Physical anchors\n");
    let _ = writeln!(
        s,
        "| anchor | placement | median (min–max) |\n|---|---|---|"
    );
    for a in &r.anchors {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            a.title,
            a.placement.map_or("–", |p| p.label()),
            a.result.cell(a.unit)
        );
    }
    let _ = writeln!(s, "\n## Workloads: plasma-store against Arrow Plasma 11\n");
    let _ = writeln!(
        s,
        "| # | workload | placement | plasma-store | Plasma 11 | ratio | target | met | CPU µs/op, store + client: ours | Plasma | sleeps/op, store + client: ours | Plasma |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut notes = Vec::new();
    for row in &r.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.id,
            row.title,
            row.placement.map_or("unpinned", |p| p.label()),
            row.ours.cell(row.unit),
            row.plasma.as_ref().map_or("–".into(), |c| c.cell(row.unit)),
            row.ratio_cell(),
            row.target_cell(),
            match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            },
            row.ours.cpu_cell(),
            row.plasma.as_ref().map_or("–".into(), |c| c.cpu_cell()),
            row.ours.sleeps_cell(),
            row.plasma.as_ref().map_or("–".into(), |c| c.sleeps_cell()),
        );
        if !row.note.is_empty()
            && !notes
                .iter()
                .any(|(id, n): &(String, String)| id == &row.id && n == &row.note)
        {
            notes.push((row.id.clone(), row.note.clone()));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(s);
        for (id, note) in notes {
            let _ = writeln!(s, "- {id}: {note}");
        }
    }
    if !r.sweep.is_empty() {
        let _ = writeln!(
            s,
            "\n## By object size (Rust client on plasma-store, C++ client on Plasma 11; put = create + write + seal + release, deleted untimed; get = get + release)\n"
        );
        let _ = writeln!(
            s,
            "| op | size | placement | plasma-store µs/op | Plasma 11 µs/op | ratio | plasma-store GB/s | Plasma 11 GB/s |\n|---|---|---|---|---|---|---|---|"
        );
        let mut keys: Vec<(Placement, String, u64)> = Vec::new();
        for p in &r.sweep {
            let k = (p.placement, p.op.clone(), p.size);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for (placement, op, size) in keys {
            let find = |side| {
                r.sweep.iter().find(|p| {
                    p.placement == placement
                        && p.op == op
                        && p.size == size
                        && p.latency.store == Some(side)
                })
            };
            if let (Some(o), Some(t)) = (find(Side::Ours), find(Side::Plasma)) {
                let _ = writeln!(
                    s,
                    "| {op} | {} | {} | {} | {} | {:.2}× | {} | {} |",
                    size_label(size),
                    placement.label(),
                    o.latency.cell(Unit::Micros),
                    t.latency.cell(Unit::Micros),
                    o.latency.summary.median / t.latency.summary.median,
                    sig3(o.throughput.median),
                    sig3(t.throughput.median)
                );
            }
        }
    }
    s
}

/// The placement the plots show: same vCPU (the least noisy) when measured.
fn plot_placement(r: &Report) -> Option<Placement> {
    let measured: Vec<Placement> = r.sweep.iter().map(|p| p.placement).collect();
    [Placement::SameCpu, Placement::Unpinned, Placement::CrossCpu]
        .into_iter()
        .find(|p| measured.contains(p))
}

fn series(
    r: &Report,
    op: &str,
    side: Side,
    f: fn(&SweepPoint) -> (f64, f64, f64),
) -> Vec<(f64, f64, f64, f64)> {
    let placement = plot_placement(r);
    r.sweep
        .iter()
        .filter(|p| Some(p.placement) == placement && p.op == op && p.latency.store == Some(side))
        .map(|p| {
            let (y, lo, hi) = f(p);
            (p.size as f64, y, lo, hi)
        })
        .collect()
}

fn placement_words(r: &Report) -> &'static str {
    plot_placement(r).map_or("", |p| match p {
        Placement::SameCpu => ", store and client on the same vCPU",
        Placement::CrossCpu => ", store and client on different vCPUs",
        Placement::Unpinned => ", unpinned",
    })
}

fn sizes(r: &Report) -> Vec<f64> {
    let mut v: Vec<u64> = r.sweep.iter().map(|p| p.size).collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().map(|z| z as f64).collect()
}

fn latency_chart(r: &Report) -> Chart {
    let lat = |p: &SweepPoint| {
        let s = &p.latency.summary;
        (s.median, s.min, s.max)
    };
    let mut series_list = Vec::new();
    for (op, dashed) in [("put", false), ("get", true)] {
        for (side, color, who) in [
            (Side::Ours, "#d62728", "plasma-store, Rust client"),
            (Side::Plasma, "#1f77b4", "Plasma 11, C++ client"),
        ] {
            series_list.push(Series {
                name: format!("{op}: {who}"),
                color,
                dashed,
                points: series(r, op, side, lat),
            });
        }
    }
    Chart {
        title: format!("Latency by object size{}", placement_words(r)),
        x_label: "object size".into(),
        y_label: "µs per put or get + release (median, whisker = min–max)".into(),
        series: series_list,
        hlines: Vec::new(),
        x_ticks: sizes(r),
        x_tick_label: |x| size_label(x as u64),
    }
}

fn throughput_chart(r: &Report) -> Chart {
    let tp = |p: &SweepPoint| (p.throughput.median, p.throughput.min, p.throughput.max);
    let mut hlines = Vec::new();
    for (name, color) in [
        ("memcpy-warm", "#2ca02c"),
        ("memcpy-populated", "#17becf"),
        ("memcpy-fresh", "#9467bd"),
    ] {
        if let Some(a) = r.anchors.iter().find(|a| a.name == name) {
            hlines.push((format!("{name} (anchor)"), a.result.summary.median, color));
        }
    }
    Chart {
        title: format!("Put throughput by object size{}", placement_words(r)),
        x_label: "object size".into(),
        y_label: "GB/s of object data (median, whisker = min–max)".into(),
        series: vec![
            Series {
                name: "put: plasma-store, Rust client".into(),
                color: "#d62728",
                dashed: false,
                points: series(r, "put", Side::Ours, tp),
            },
            Series {
                name: "put: Plasma 11, C++ client".into(),
                color: "#1f77b4",
                dashed: false,
                points: series(r, "put", Side::Plasma, tp),
            },
        ],
        hlines,
        x_ticks: sizes(r),
        x_tick_label: |x| size_label(x as u64),
    }
}

/// Three significant digits: `0.00123`, `1.23`, `123`, `12300`.
fn sig3(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

/// `2024-05-01 12:34 UTC` from Unix seconds.
pub fn utc_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(0.001234), "0.00123");
        assert_eq!(sig3(1.234), "1.23");
        assert_eq!(sig3(123.4), "123");
        assert_eq!(sig3(12345.0), "12345");
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
