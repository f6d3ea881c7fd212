//! The results of a run: anchors, workload rows (ours against Plasma 11 or
//! against an anchor), and the object-size sweep behind the plots. All of it
//! is serialized as-is to `results.json`.

use serde::Serialize;

use crate::daemon::Side;
use crate::error::{BenchError, Result};
use crate::placement::Placement;
use crate::sample::{Sample, Summary};

/// The unit of a row's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Operations per second.
    OpsPerSec,
    /// Objects per second.
    ObjectsPerSec,
    /// Gigabytes (10^9 bytes) per second.
    GbPerSec,
    /// Microseconds.
    Micros,
    /// Milliseconds.
    Millis,
    /// Bytes of store memory per object.
    BytesPerObject,
    /// Mebibytes (2^20 bytes) of memory.
    Mebibytes,
    /// A plain factor.
    Factor,
}

impl Unit {
    /// The unit as printed after a value.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::OpsPerSec => "ops/s",
            Unit::ObjectsPerSec => "objects/s",
            Unit::GbPerSec => "GB/s",
            Unit::Micros => "µs",
            Unit::Millis => "ms",
            Unit::BytesPerObject => "B/object",
            Unit::Mebibytes => "MiB",
            Unit::Factor => "×",
        }
    }

    /// A value in this unit, rounded for reading.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::OpsPerSec | Unit::ObjectsPerSec => format!("{v:.0}"),
            Unit::GbPerSec => format!("{v:.2}"),
            Unit::Micros | Unit::Millis => {
                if v >= 100.0 {
                    format!("{v:.0}")
                } else if v >= 10.0 {
                    format!("{v:.1}")
                } else {
                    format!("{v:.2}")
                }
            }
            Unit::BytesPerObject => format!("{v:.0}"),
            Unit::Mebibytes => format!("{v:.1}"),
            Unit::Factor => format!("{v:.2}"),
        }
    }
}

/// Who ran a contender's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// Our Rust client (`plasma-client`), in the harness process.
    Rust,
    /// Our Rust client with the seal digest turned off.
    RustNoDigest,
    /// Our Rust client polling for replies before it sleeps
    /// (`ClientOptions::spin`), against a store started with `--spin-us`.
    RustSpin,
    /// Our tokio `AsyncClient`, in the harness process.
    RustAsync,
    /// Plasma's C++ client (libplasma from pyarrow 11).
    Cpp,
    /// pyarrow 11's Python client.
    Python,
    /// Our Python package, plasma_store (python/), in a child process.
    PythonOurs,
    /// No store: a physical anchor.
    Anchor,
}

/// One side of a comparison: the values of every repetition and their summary.
#[derive(Clone, Debug, Serialize)]
pub struct Contender {
    /// The store measured (`None` for an anchor).
    pub store: Option<Side>,
    /// The client that drove it.
    pub client: ClientKind,
    /// One value per repetition, in the row's unit.
    pub values: Vec<f64>,
    /// Median and range of `values`.
    pub summary: Summary,
    /// Store CPU µs per operation, per repetition summarized.
    pub store_cpu_us_per_op: Option<Summary>,
    /// Client CPU µs per operation, summarized.
    pub client_cpu_us_per_op: Option<Summary>,
    /// Store sleeps (voluntary context switches) per operation, when counted.
    pub store_sleeps_per_op: Option<Summary>,
    /// Client sleeps per operation, when counted.
    pub client_sleeps_per_op: Option<Summary>,
    /// The raw measurements.
    pub samples: Vec<Sample>,
}

impl Contender {
    /// A contender whose value is computed from each sample.
    pub fn from_samples(
        store: Option<Side>,
        client: ClientKind,
        samples: Vec<Sample>,
        value: impl Fn(&Sample) -> f64,
    ) -> Result<Contender> {
        let values: Vec<f64> = samples.iter().map(value).collect();
        Contender::from_values(store, client, values, samples)
    }

    /// A contender with values computed elsewhere (e.g. from memory use).
    pub fn from_values(
        store: Option<Side>,
        client: ClientKind,
        values: Vec<f64>,
        samples: Vec<Sample>,
    ) -> Result<Contender> {
        let summary = Summary::of(&values).ok_or_else(|| {
            BenchError::Client(format!("no valid values for {:?}/{:?}", store, client))
        })?;
        let per_op = |f: fn(&Sample) -> f64| {
            let v: Vec<f64> = samples.iter().filter(|s| s.ops > 0).map(f).collect();
            Summary::of(&v)
        };
        let counted = |f: fn(&Sample) -> Option<f64>| {
            let v: Vec<f64> = samples.iter().filter(|s| s.ops > 0).filter_map(f).collect();
            Summary::of(&v)
        };
        Ok(Contender {
            store,
            client,
            values,
            summary,
            store_cpu_us_per_op: per_op(Sample::store_cpu_us_per_op),
            client_cpu_us_per_op: per_op(Sample::client_cpu_us_per_op),
            store_sleeps_per_op: counted(Sample::store_sleeps_per_op),
            client_sleeps_per_op: counted(Sample::client_sleeps_per_op),
            samples,
        })
    }

    /// `median (min–max)` in `unit`.
    pub fn cell(&self, unit: Unit) -> String {
        let s = &self.summary;
        let sep = if unit == Unit::Factor { "" } else { " " };
        if s.n == 1 {
            format!("{}{sep}{}", unit.format(s.median), unit.symbol())
        } else {
            format!(
                "{} ({}–{}){sep}{}",
                unit.format(s.median),
                unit.format(s.min),
                unit.format(s.max),
                unit.symbol()
            )
        }
    }

    /// Median store + client sleeps per operation, when counted.
    pub fn sleeps_cell(&self) -> String {
        match (&self.store_sleeps_per_op, &self.client_sleeps_per_op) {
            (Some(s), Some(c)) => format!("{:.2} + {:.2}", s.median, c.median),
            (Some(s), None) => format!("{:.2} + –", s.median),
            _ => "–".into(),
        }
    }

    /// Median store + client CPU µs per operation, when measured.
    pub fn cpu_cell(&self) -> String {
        match (&self.store_cpu_us_per_op, &self.client_cpu_us_per_op) {
            (Some(s), Some(c)) => format!(
                "{} + {}",
                Unit::Micros.format(s.median),
                Unit::Micros.format(c.median)
            ),
            (Some(s), None) => format!("{} + –", Unit::Micros.format(s.median)),
            _ => "–".into(),
        }
    }
}

/// What a row must reach.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The row's ratio must be at least this.
    RatioAtLeast(f64),
    /// Our median must be at most this (in the row's unit).
    AtMost(f64),
    /// The row's ratio must be at most this.
    RatioAtMost(f64),
}

/// One line of the results table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The workload number (`W1` ... `W9`), with a suffix for extra rows.
    pub id: String,
    /// What is measured.
    pub title: String,
    /// Where store and client ran (`None`: unpinned, single-placement workload).
    pub placement: Option<Placement>,
    /// Unit of both contenders' values.
    pub unit: Unit,
    /// Our store (with the client named in it).
    pub ours: Contender,
    /// Arrow Plasma 11's store, when compared.
    pub plasma: Option<Contender>,
    /// The ratio the target judges (ours/Plasma unless `ratio_of` says otherwise).
    pub ratio: Option<f64>,
    /// What `ratio` divides: "ours/Plasma" or "ours/<anchor>".
    pub ratio_of: String,
    /// The goal, if the issue sets one.
    pub target: Option<Target>,
    /// Whether the goal is reached.
    pub met: Option<bool>,
    /// Anything else worth reading next to the numbers.
    pub note: String,
}

impl Row {
    /// A row comparing `ours` with Plasma's median; the ratio is ours/Plasma.
    pub fn versus(
        id: &str,
        title: String,
        placement: Option<Placement>,
        unit: Unit,
        ours: Contender,
        plasma: Contender,
        target: Option<Target>,
    ) -> Row {
        let ratio = ours.summary.median / plasma.summary.median;
        let mut row = Row::ours_only(id, title, placement, unit, ours, target);
        row.plasma = Some(plasma);
        row.ratio = Some(ratio);
        row.ratio_of = "ours/Plasma".into();
        row.judge();
        row
    }

    /// A row of our store alone (no rival measured); the target judges our
    /// median.
    pub fn ours_only(
        id: &str,
        title: String,
        placement: Option<Placement>,
        unit: Unit,
        ours: Contender,
        target: Option<Target>,
    ) -> Row {
        let mut row = Row {
            id: id.into(),
            title,
            placement,
            unit,
            ours,
            plasma: None,
            ratio: None,
            ratio_of: String::new(),
            target,
            met: None,
            note: String::new(),
        };
        row.judge();
        row
    }

    /// Sets `ratio` to ours' median over `anchor` (named `anchor_name`).
    pub fn against_anchor(mut self, anchor_name: &str, anchor: f64) -> Row {
        self.ratio = Some(self.ours.summary.median / anchor);
        self.ratio_of = format!("ours/{anchor_name}");
        self.judge();
        self
    }

    /// Appends a sentence to the note.
    pub fn with_note(mut self, note: impl AsRef<str>) -> Row {
        if !self.note.is_empty() {
            self.note.push(' ');
        }
        self.note.push_str(note.as_ref());
        self
    }

    fn judge(&mut self) {
        self.met = match self.target {
            Some(Target::RatioAtLeast(x)) => self.ratio.map(|r| r >= x),
            Some(Target::RatioAtMost(x)) => self.ratio.map(|r| r <= x),
            Some(Target::AtMost(x)) => Some(self.ours.summary.median <= x),
            None => None,
        };
    }

    /// The ratio as printed: `5.31×`, or `0.62× memcpy-warm` for an anchor.
    pub fn ratio_cell(&self) -> String {
        match self.ratio {
            None => "–".into(),
            Some(r) => match self.ratio_of.strip_prefix("ours/") {
                Some("Plasma") | None => format!("{r:.2}×"),
                Some(anchor) => format!("{r:.2}× {anchor}"),
            },
        }
    }

    /// The target as printed.
    pub fn target_cell(&self) -> String {
        match self.target {
            None => "–".into(),
            Some(Target::RatioAtLeast(x)) => match self.ratio_of.strip_prefix("ours/") {
                Some("Plasma") | None => format!("≥ {x}×"),
                Some(anchor) => format!("≥ {x}× {anchor}"),
            },
            Some(Target::RatioAtMost(x)) => match self.ratio_of.strip_prefix("ours/") {
                Some("Plasma") | None => format!("≤ {x}×"),
                Some(other) => format!("≤ {x}× {other}"),
            },
            Some(Target::AtMost(x)) => {
                let sep = if self.unit == Unit::Factor { "" } else { " " };
                format!("≤ {}{sep}{}", self.unit.format(x), self.unit.symbol())
            }
        }
    }
}

/// One physical anchor.
#[derive(Clone, Debug, Serialize)]
pub struct Anchor {
    /// Short name (`pingpong`, `memcpy-warm`, `memcpy-fresh`).
    pub name: String,
    /// What it measures.
    pub title: String,
    /// Where the two ends ran (ping-pong only).
    pub placement: Option<Placement>,
    /// Unit of the values.
    pub unit: Unit,
    /// Values and summary.
    pub result: Contender,
}

/// One point of the object-size sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    /// `put` (create + write + seal + release) or `get` (get + release).
    pub op: String,
    /// Object size in bytes.
    pub size: u64,
    /// Where store and client ran.
    pub placement: Placement,
    /// Latency per operation, µs.
    pub latency: Contender,
    /// Payload throughput, GB/s.
    pub throughput: Summary,
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// How and where the run happened.
    pub meta: Meta,
    /// Physical anchors.
    pub anchors: Vec<Anchor>,
    /// The workload table.
    pub rows: Vec<Row>,
    /// The object-size sweep (plots).
    pub sweep: Vec<SweepPoint>,
}

/// Run conditions.
#[derive(Clone, Debug, Serialize)]
pub struct Meta {
    /// The command line.
    pub command: String,
    /// Unix time at the start.
    pub started_unix: u64,
    /// Wall-clock seconds the run took.
    pub duration_secs: f64,
    /// `--quick` or not.
    pub quick: bool,
    /// Repetitions per measurement.
    pub reps: usize,
    /// CPUs usable.
    pub cpus: Vec<usize>,
    /// CPU model.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// How long each store took to accept connections, seconds, every start.
    pub store_start_secs: Vec<(Side, f64)>,
    /// `/proc/loadavg` at the start and at the end: other work on the
    /// machine (builds, tests) disturbs the figures.
    pub loadavg: (String, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contender(store: Side, values: &[f64]) -> Contender {
        Contender::from_values(Some(store), ClientKind::Cpp, values.to_vec(), Vec::new()).unwrap()
    }

    #[test]
    fn ratios_divide_medians_and_judge_targets() {
        let row = Row::versus(
            "W1",
            "put".into(),
            None,
            Unit::OpsPerSec,
            contender(Side::Ours, &[50.0, 60.0, 55.0]),
            contender(Side::Plasma, &[10.0, 11.0, 12.0]),
            Some(Target::RatioAtLeast(5.0)),
        );
        assert_eq!(row.ratio, Some(5.0));
        assert_eq!(row.met, Some(true));
        assert_eq!(row.ratio_cell(), "5.00×");
        assert_eq!(row.target_cell(), "≥ 5×");
        let row = row.against_anchor("memcpy", 100.0);
        assert_eq!(row.ratio, Some(0.55));
        assert_eq!(row.met, Some(false));
        assert_eq!(row.ratio_cell(), "0.55× memcpy");
    }

    #[test]
    fn ratio_ceilings_judge_the_ratio() {
        let row = Row::versus(
            "W1-d-cpu",
            "cpu".into(),
            None,
            Unit::Micros,
            contender(Side::Ours, &[4.0]),
            contender(Side::Plasma, &[10.0]),
            Some(Target::RatioAtMost(0.5)),
        );
        assert_eq!(row.met, Some(true));
        assert_eq!(row.target_cell(), "≤ 0.5×");
        let row = row.against_anchor("relay", 2.0);
        assert_eq!(row.met, Some(false));
        assert_eq!(row.target_cell(), "≤ 0.5× relay");
    }

    #[test]
    fn upper_bounds_judge_our_median() {
        let row = Row::versus(
            "W7",
            "memory".into(),
            None,
            Unit::BytesPerObject,
            contender(Side::Ours, &[120.0]),
            contender(Side::Plasma, &[330.0]),
            Some(Target::AtMost(128.0)),
        );
        assert_eq!(row.met, Some(true));
        assert_eq!(row.target_cell(), "≤ 128 B/object");
        assert_eq!(row.ours.cell(Unit::BytesPerObject), "120 B/object");
    }

    #[test]
    fn cells_show_median_and_range() {
        let c = contender(Side::Ours, &[3.0, 1.0, 2.0]);
        assert_eq!(c.cell(Unit::Micros), "2.00 (1.00–3.00) µs");
    }
}
