//! The workloads of the issue, and the machinery they share: a *session*
//! starts one store of each kind with the same capacity and placement,
//! then runs every contender once per repetition, rotating the order each
//! repetition so neither store always goes first, and stops both stores.

pub mod as_future;
mod big;
mod hostile;
mod million;
mod pipelined;
mod python;
mod small;
mod spill;
mod sweep;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::anchors;
use crate::child::ChildClient;
use crate::daemon::{Daemon, Side};
use crate::error::Result;
use crate::placement::{Cpus, Placement};
use crate::plan::Plan;
use crate::results::{Anchor, ClientKind, Row, SweepPoint};
use crate::rust_client::{self, RustOp, RustTune};
use crate::sample::Sample;
use crate::setup::Env;

/// Every workload, by the name `--only` takes, with its description
/// (printed by `--help`).
pub const WORKLOADS: &[(&str, &str)] = &[
    ("anchors", "physical anchors, always measured: 1-byte Unix-socket ping-pong between two processes (one-way hand-over = half round trip, each placement); two hand-overs after 500 µs idle through three processes (relay-idle, W10's floor, each placement); memcpy of the large object into memory already faulted in (memcpy-warm); into a new shared memfd mapping of new pages (memcpy-fresh), of pages allocated beforehand (memcpy-allocated: minor faults only), and mapped with MAP_POPULATE (memcpy-populated: no faults)"),
    ("put-1k", "W1: put 1 KiB (create + write + seal + release), one client; our Rust client on plasma-store vs Plasma's C++ client on Plasma 11 (target >= 5x), plus the C++ client on both (daemon only); each placement"),
    ("put-1k-py", "W2: the same put with pyarrow's Python client on both stores: the daemon alone (target >= 2x); each placement"),
    ("get-1k", "W3: get + release of one sealed 1 KiB object; Rust client (blocking `get`, and `try_get`) vs C++ client `Get(ids, -1)` (target >= 5x), plus the C++ client on both; each placement"),
    ("get-1k-py", "W3, daemon only: get + release with pyarrow's client on both stores; each placement"),
    ("put-256m-warm", "W4: put 256 MiB into arena pages the client has written before (object deleted after each put, untimed); Rust client with the seal digest on (target >= 0.8x memcpy-warm) and off (>= 0.9x); Plasma's C++ client hashes at seal"),
    ("put-256m-fresh", "W5: the first put of 256 MiB into a freshly started store (pages no client has touched); Rust client vs C++ client (target >= 4x); a new store per repetition"),
    ("batch-1k", "W6: CreateAndSealBatch of 1 KiB objects (1000 per batch) with Plasma's C++ client on both stores (target >= 2x); each placement"),
    ("million", "W7 + W8: fill a store of capacity 1,000,000 x 64 B with 1,000,000 released 64 B objects (C++ CreateAndSealBatch); W7: the store's anonymous memory (RssAnon) per object (target <= 128 B); W8: the time of one create into that full store, which must evict (target <= 10 ms)"),
    ("pipelined", "W12: one AsyncClient keeping 64 puts of 1 KiB in flight (each its own create, write, seal and release; no batching by the caller) on plasma-store vs Plasma's C++ client's CreateAndSealBatch on Plasma 11 (target >= 2x); each placement"),
    ("as-future", "W10 + W11: our AsyncClient on both stores (pushes on plasma-store, seal notification + Get on Plasma 11): a producer process seals objects 500 µs apart and each awaited future's seal → resolved time is measured (median target <= 1.2x the relay-idle anchor, two bare hand-overs after the same idle gap; p99 <= 3x the median), with each store's seal → notification time (blocking Subscription) as the reference; each placement. W11: 100,000 futures pending on distinct ids: heap bytes per future (target <= 200) and last seal → all resolved (target <= 100 ms)"),
    ("python", "W13-W16, our Python package (plasma_store) in a child process on plasma-store: W13 put + get of 1 KiB raw buffers (put_raw_buffer + get_buffers) vs pyarrow.plasma on Plasma 11 (target >= 2x); W14 put and get of a large numpy array (100 MB) in GB/s, against memcpy-warm; W15 seal in another process → asyncio future resolved (median, p99) beside the Rust AsyncClient's figure in the same session (target <= 1.5x); W16 heap bytes per pending asyncio future with 100,000 pending (Python's allocations through malloc, mallinfo2)"),
    ("hostile", "W17: hostile load on plasma-store alone (Plasma 11 stalls on it): 100 slowloris peers, a subscriber and a client that never read, 1,000 idle clients, all at once; another client's p99 for create + write + seal and for get of 1 KiB (target <= 5 ms each), and the store's RssAnon before, at its peak and after"),
    ("spill", "W18-W21, spilling to disk on plasma-store alone (Plasma 11 does not spill), in a directory under the system temp dir (TMPDIR picks the disk): W18 spill write and W19 restore throughput for small and large objects (a store filled with them, all pushed out by one create of the whole capacity, then all got back by one get) against the disk's own sequential write (synced) and read (uncached) of the same bytes in the same directory (target >= 0.8x each); W20 p99 of another client's get + release of 1 KiB while a large object is spilled (target <= 5 ms); W21 the store's anonymous memory per spilled object (spill files on /dev/shm)"),
    ("size-sweep", "put and get + release latency and throughput by object size (64 B to 256 MiB), Rust client on plasma-store vs C++ client on Plasma 11, each placement; gives the plots (same vCPU) and W9: get latency at 64 B, 1 MiB and 256 MiB must be equal within noise (max/min of medians <= 1.2)"),
];

/// What a run needs everywhere.
pub struct Ctx {
    /// Programs and paths.
    pub env: Env,
    /// CPUs and pinning.
    pub cpus: Cpus,
    /// Counts and sizes.
    pub plan: Plan,
    /// Store start-up times seen, per side.
    pub starts: std::cell::RefCell<Vec<(Side, f64)>>,
    serial: std::cell::Cell<u32>,
}

impl Ctx {
    /// A context for one run.
    pub fn new(env: Env, cpus: Cpus, plan: Plan) -> Ctx {
        Ctx {
            env,
            cpus,
            plan,
            starts: Default::default(),
            serial: Default::default(),
        }
    }

    /// Prints progress to stderr.
    pub fn progress(&self, msg: impl AsRef<str>) {
        eprintln!("plasma-bench: {}", msg.as_ref());
    }

    /// How long a child client may take for one step.
    fn patience(&self) -> Duration {
        Duration::from_secs(if self.plan.quick { 120 } else { 600 })
    }

    /// Starts a store, recording its start-up time.
    fn start(&self, side: Side, capacity: u64, placement: Placement) -> Result<Daemon> {
        self.start_with(side, capacity, placement, &[])
    }

    /// [`Ctx::start`] with more flags for the store.
    fn start_with(
        &self,
        side: Side,
        capacity: u64,
        placement: Placement,
        extra: &[std::ffi::OsString],
    ) -> Result<Daemon> {
        let d = Daemon::start(
            &self.env,
            &self.cpus,
            side,
            capacity,
            self.cpus.store_cpu(placement),
            extra,
        )?;
        self.starts
            .borrow_mut()
            .push((side, d.started_in().as_secs_f64()));
        Ok(d)
    }

    fn stderr_path(&self, what: &str) -> PathBuf {
        let n = self.serial.get();
        self.serial.set(n + 1);
        self.env.logs.join(format!("{what}-{n}.stderr"))
    }

    /// A child client (C++ or Python) on `store`, started and ready.
    fn child(
        &self,
        kind: ClientKind,
        store: &Daemon,
        args: &[String],
        cpu: Option<usize>,
    ) -> Result<ChildClient> {
        let (label, mut cmd) = match kind {
            ClientKind::Python => {
                let mut c = Command::new(&self.env.python);
                c.arg(&self.env.py_client);
                ("pyarrow client", c)
            }
            ClientKind::PythonOurs => {
                let mut c = Command::new(&self.env.python);
                c.arg(&self.env.py_client)
                    .env("BENCH_PY_CLIENT", "plasma_store")
                    .env("PYTHONPATH", &self.env.py_package);
                ("plasma_store client", c)
            }
            _ => ("C++ client", Command::new(&self.env.cpp_client)),
        };
        cmd.arg(store.socket()).args(args);
        let label = format!("{label} on {} ({})", store.side(), args.join(" "));
        ChildClient::start(
            &label,
            cmd,
            &self.cpus,
            cpu,
            self.stderr_path(match kind {
                ClientKind::Python | ClientKind::PythonOurs => "python",
                _ => "cpp",
            }),
            self.patience(),
        )
    }
}

/// Who runs a contender.
#[derive(Clone, Debug)]
pub enum Driver {
    /// Our Rust client in this process, configured so.
    Rust(RustOp, RustTune),
    /// The C++ client with these arguments after the socket.
    Cpp(Vec<String>),
    /// pyarrow's Python client with these arguments after the socket.
    Python(Vec<String>),
    /// Our Python client (plasma_store) with these arguments.
    PythonOurs(Vec<String>),
}

impl Driver {
    /// The client kind, for the report.
    pub fn kind(&self) -> ClientKind {
        match self {
            Driver::Rust(_, RustTune::Default) => ClientKind::Rust,
            Driver::Rust(_, RustTune::NoDigest) => ClientKind::RustNoDigest,
            Driver::Rust(_, RustTune::Spin) => ClientKind::RustSpin,
            Driver::Cpp(_) => ClientKind::Cpp,
            Driver::Python(_) => ClientKind::Python,
            Driver::PythonOurs(_) => ClientKind::PythonOurs,
        }
    }
}

/// One contender of a session: a key, a store, a client.
#[derive(Clone, Debug)]
pub struct Contestant {
    /// Names the contender's samples in the session's result.
    pub key: String,
    /// The store it runs against.
    pub side: Side,
    /// The client.
    pub driver: Driver,
}

impl Contestant {
    /// A contender.
    pub fn new(key: impl Into<String>, side: Side, driver: Driver) -> Contestant {
        Contestant {
            key: key.into(),
            side,
            driver,
        }
    }
}

/// Samples per contender key.
pub type SessionResult = HashMap<String, Vec<Sample>>;

/// Runs `contestants` for `reps` repetitions against one store of each side
/// needed, all with `capacity` and `placement`.
pub fn session(
    ctx: &Ctx,
    placement: Placement,
    capacity: u64,
    contestants: &[Contestant],
    reps: usize,
) -> Result<SessionResult> {
    let mut stores: Vec<Daemon> = Vec::new();
    for side in Side::ALL {
        if contestants.iter().any(|c| c.side == side) {
            stores.push(ctx.start(side, capacity, placement)?);
        }
    }
    let mut out: SessionResult = HashMap::new();
    let n = contestants.len();
    for rep in 0..reps {
        for i in 0..n {
            let c = &contestants[(i + rep) % n];
            let Some(store) = stores.iter().find(|d| d.side() == c.side) else {
                continue;
            };
            let sample = run_once(ctx, store, placement, &c.driver)?;
            out.entry(c.key.clone()).or_default().push(sample);
        }
    }
    for store in stores {
        store.stop()?;
    }
    Ok(out)
}

/// One repetition of one contender.
pub fn run_once(
    ctx: &Ctx,
    store: &Daemon,
    placement: Placement,
    driver: &Driver,
) -> Result<Sample> {
    let cpu = ctx.cpus.client_cpu(placement);
    match driver {
        Driver::Rust(op, tune) => rust_client::run(store, &ctx.cpus, cpu, *op, *tune),
        Driver::Cpp(args) | Driver::Python(args) | Driver::PythonOurs(args) => {
            let mut child = ctx.child(driver.kind(), store, args, cpu)?;
            let step = child.step(store, ctx.patience())?;
            child.finish()?;
            Ok(step.sample)
        }
    }
}

/// Takes a contender's samples out of a session result.
pub fn take(result: &mut SessionResult, key: &str) -> Result<Vec<Sample>> {
    result
        .remove(key)
        .ok_or_else(|| crate::error::BenchError::Client(format!("no samples for {key}")))
}

/// Arguments as strings.
pub fn args(list: &[&dyn std::fmt::Display]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// What a full run produced, before the meta data is added.
#[derive(Default)]
pub struct Measured {
    /// Physical anchors.
    pub anchors: Vec<Anchor>,
    /// Workload rows.
    pub rows: Vec<Row>,
    /// Size sweep points.
    pub sweep: Vec<SweepPoint>,
}

/// Runs the selected workloads (all when `only` is empty), in the order of
/// [`WORKLOADS`].
pub fn run_all(ctx: &Ctx, only: &[String]) -> Result<Measured> {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut m = Measured::default();
    // The anchors are always measured: other rows are read against them.
    let t0 = Instant::now();
    ctx.progress("anchors: ping-pong and memcpy");
    m.anchors = anchors::measure(ctx)?;
    ctx.progress(format!(
        "anchors done in {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    let anchor = |name: &str| {
        m.anchors
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.result.summary.median)
    };
    let warm = anchor("memcpy-warm");
    let fresh = anchor("memcpy-fresh");
    type Step<'a> = Box<dyn Fn(&Ctx, &mut Measured) -> Result<()> + 'a>;
    let steps: Vec<(&str, Step)> = vec![
        ("put-1k", Box::new(|c, m| small::put_1k(c, &mut m.rows))),
        (
            "put-1k-py",
            Box::new(|c, m| small::put_1k_py(c, &mut m.rows)),
        ),
        ("get-1k", Box::new(|c, m| small::get_1k(c, &mut m.rows))),
        (
            "get-1k-py",
            Box::new(|c, m| small::get_1k_py(c, &mut m.rows)),
        ),
        (
            "put-256m-warm",
            Box::new(move |c, m| big::put_warm(c, warm, &mut m.rows)),
        ),
        (
            "put-256m-fresh",
            Box::new(move |c, m| big::put_fresh(c, fresh, &mut m.rows)),
        ),
        ("batch-1k", Box::new(|c, m| small::batch_1k(c, &mut m.rows))),
        ("pipelined", Box::new(|c, m| pipelined::run(c, &mut m.rows))),
        ("million", Box::new(|c, m| million::run(c, &mut m.rows))),
        (
            "as-future",
            Box::new(|c, m| {
                let Measured { anchors, rows, .. } = m;
                as_future::run(c, anchors, rows)
            }),
        ),
        ("hostile", Box::new(|c, m| hostile::run(c, &mut m.rows))),
        (
            "python",
            Box::new(move |c, m| python::run(c, warm, &mut m.rows)),
        ),
        (
            "spill",
            Box::new(|c, m| spill::run(c, &mut m.anchors, &mut m.rows)),
        ),
        (
            "size-sweep",
            Box::new(|c, m| sweep::run(c, &mut m.rows, &mut m.sweep)),
        ),
    ];
    for (name, step) in steps {
        if !wanted(name) {
            continue;
        }
        let t0 = Instant::now();
        ctx.progress(format!("{name} ..."));
        step(ctx, &mut m)?;
        ctx.progress(format!(
            "{name} done in {:.1} s",
            t0.elapsed().as_secs_f64()
        ));
    }
    Ok(m)
}
