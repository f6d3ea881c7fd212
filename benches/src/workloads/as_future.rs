//! W10 and W11, the as_future figures: how long from a seal in another
//! process to the awaiting future resolved, and what a pending future
//! costs. The same client on both stores: our `AsyncClient` waits through
//! pushes on plasma-store (our Await addition) and through seal
//! notifications plus a Get on Plasma 11, which has no such thing. The
//! seal → notification hand-over of each store (our blocking
//! `Subscription`) is measured beside it as the reference.
//!
//! The sealing process is this binary: `plasma-bench seal-producer SOCKET
//! GAP_US` reads ids on stdin and prints one CLOCK_MONOTONIC stamp per
//! seal, taken right before the seal is sent.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use nix::time::{clock_gettime, ClockId};
use plasma_client::{AsyncClient, AsyncClientOptions, Client, ObjectId};
use stats_alloc::Region;

use super::{Ctx, Placement};
use crate::anchors::RELAY;
use crate::daemon::{Daemon, Side};
use crate::error::{client, io, BenchError, Result};
use crate::plan::count_label;
use crate::procfs;
use crate::results::{Anchor, ClientKind, Contender, Row, Target, Unit};
use crate::sample::{Sample, Switches};

/// Pause between two seals of the latency measurement: long enough for
/// every process to go idle, as a producer that seals now and then does.
pub const GAP_US: u64 = 500;

fn monotonic_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// `plasma-bench seal-producer SOCKET GAP_US` (ids in hex on stdin). With a
/// gap, every object is created first; then, per id, the gap is slept, the
/// time stamped and the object sealed (its buffer kept, so only the
/// SealRequest is on the measured path). Without one, `create_and_seal`
/// back to back, as fast as the store answers.
pub fn producer_main(args: &[OsString]) -> ExitCode {
    match produce(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plasma-bench seal-producer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn produce(args: &[OsString]) -> Result<()> {
    let [socket, gap] = args else {
        return Err(BenchError::Setup(
            "usage: seal-producer SOCKET GAP_US".into(),
        ));
    };
    let gap: u64 = gap
        .to_string_lossy()
        .parse()
        .map_err(|e| BenchError::Setup(format!("gap: {e}")))?;
    let gap = Duration::from_micros(gap);
    let ids = std::io::stdin()
        .lock()
        .lines()
        .map(|l| {
            let l = l.map_err(io("read ids"))?;
            ObjectId::from_hex(l.trim()).ok_or_else(|| BenchError::Setup(format!("id {l:?}")))
        })
        .collect::<Result<Vec<ObjectId>>>()?;
    let c = Client::connect(socket).map_err(client("connect"))?;
    let mut stamps = Vec::with_capacity(ids.len());
    if gap.is_zero() {
        for (i, id) in ids.iter().enumerate() {
            stamps.push(monotonic_ns());
            c.create_and_seal(*id, &(i as u64).to_le_bytes(), b"")
                .map_err(client("create_and_seal"))?;
        }
    } else {
        let mut builders = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let mut b = c.create(*id, 8, b"").map_err(client("create"))?;
            b.write_data(&(i as u64).to_le_bytes());
            builders.push(b);
        }
        let mut sealed = Vec::with_capacity(ids.len());
        for b in builders {
            std::thread::sleep(gap);
            stamps.push(monotonic_ns());
            sealed.push(b.seal().map_err(client("seal"))?);
        }
    }
    let mut out = std::io::stdout().lock();
    for s in stamps {
        writeln!(out, "{s}").map_err(io("print stamps"))?;
    }
    Ok(())
}

/// Starts the producer for `ids` on `store`, pinned to `cpu`.
pub(super) fn spawn_producer(
    ctx: &Ctx,
    store: &Daemon,
    ids: &[ObjectId],
    gap_us: u64,
    cpu: Option<usize>,
) -> Result<Child> {
    let exe = std::env::current_exe().map_err(io("locate plasma-bench"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("seal-producer")
        .arg(store.socket())
        .arg(gap_us.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = ctx
        .cpus
        .pinned(cpu, || cmd.spawn())?
        .map_err(io("start seal-producer"))?;
    let mut text = String::with_capacity(ids.len() * 41);
    for id in ids {
        text.push_str(&id.to_string());
        text.push('\n');
    }
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| BenchError::Client("seal-producer has no stdin".into()))?;
    stdin.write_all(text.as_bytes()).map_err(io("send ids"))?;
    Ok(child)
}

/// The producer's seal stamps, one per id.
pub(super) fn seal_stamps(child: Child) -> Result<Vec<u64>> {
    let out = child
        .wait_with_output()
        .map_err(io("wait for seal-producer"))?;
    if !out.status.success() {
        return Err(BenchError::Client(format!(
            "seal-producer failed: {}",
            out.status
        )));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .map_err(|e| BenchError::Client(format!("seal stamp {l:?}: {e}")))
        })
        .collect()
}

/// Latencies (ns) of one repetition, sorted, and its sample.
pub(super) struct Latencies {
    sorted: Vec<u64>,
    pub(super) sample: Sample,
}

impl Latencies {
    /// From resolution and seal stamps; the first 1 % (at most 100) are
    /// dropped: they include connection set-up and cold caches.
    pub(super) fn new(resolved: &[u64], sealed: &[u64], sample: Sample) -> Result<Latencies> {
        if resolved.len() != sealed.len() || sealed.is_empty() {
            return Err(BenchError::Client(format!(
                "{} resolutions for {} seals",
                resolved.len(),
                sealed.len()
            )));
        }
        let skip = (sealed.len() / 100).min(100);
        let mut sorted: Vec<u64> = resolved
            .iter()
            .zip(sealed)
            .skip(skip)
            .map(|(r, s)| r.saturating_sub(*s))
            .collect();
        sorted.sort_unstable();
        Ok(Latencies { sorted, sample })
    }

    pub(super) fn percentile_us(&self, p: f64) -> f64 {
        let i = ((self.sorted.len() - 1) as f64 * p).round() as usize;
        self.sorted[i.min(self.sorted.len() - 1)] as f64 / 1000.0
    }
}

/// Wall clock, this thread's CPU and the store's CPU from a start.
struct Meter {
    t0: Instant,
    cpu0: f64,
    store0: f64,
    switches0: Switches,
    store_switches0: Switches,
}

impl Meter {
    fn start(store: &Daemon) -> Result<Meter> {
        Ok(Meter {
            cpu0: procfs::thread_cpu_secs()?,
            store0: store.cpu_secs()?,
            switches0: procfs::thread_switches()?,
            store_switches0: store.switches()?,
            t0: Instant::now(),
        })
    }

    /// The sample of `n` operations since the start.
    fn sample(&self, store: &Daemon, n: usize) -> Result<Sample> {
        Ok(Sample {
            ops: n as u64,
            secs: self.t0.elapsed().as_secs_f64(),
            store_cpu_secs: store.cpu_secs()? - self.store0,
            client_cpu_secs: procfs::thread_cpu_secs()? - self.cpu0,
            store_switches: Some(store.switches()? - self.store_switches0),
            client_switches: Some(procfs::thread_switches()? - self.switches0),
        })
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("start a tokio runtime"))
}

/// One repetition: `n` futures await objects a producer then seals one by
/// one, `GAP_US` apart. The runtime is a current-thread one on this
/// (pinned) thread.
pub(super) fn await_once(
    ctx: &Ctx,
    store: &Daemon,
    placement: Placement,
    n: usize,
) -> Result<Latencies> {
    let ids: Vec<ObjectId> = (0..n).map(|_| ObjectId::random()).collect();
    let cpu = ctx.cpus.client_cpu(placement);
    ctx.cpus.pinned(cpu, || -> Result<Latencies> {
        let rt = runtime()?;
        rt.block_on(async {
            let c = AsyncClient::connect_with(store.socket(), AsyncClientOptions::default())
                .await
                .map_err(client("async connect"))?;
            c.init().await.map_err(client("init"))?;
            let futures: Vec<_> = ids.iter().map(|id| c.as_future(*id)).collect();
            // Every registration handled before the first seal.
            c.stats().await.map_err(client("stats"))?;
            let meter = Meter::start(store)?;
            let producer = spawn_producer(ctx, store, &ids, GAP_US, ctx.cpus.store_cpu(placement))?;
            let mut resolved = Vec::with_capacity(n);
            let mut kept = Vec::with_capacity(n);
            for f in futures {
                let buf = f.await.map_err(client("as_future"))?;
                resolved.push(monotonic_ns());
                kept.push(buf);
            }
            let sample = meter.sample(store, n)?;
            Latencies::new(&resolved, &seal_stamps(producer)?, sample)
        })
    })?
}

/// One repetition of the reference: a blocking `Subscription` receives
/// the seal notifications of `n` objects sealed `GAP_US` apart.
fn notify_once(ctx: &Ctx, store: &Daemon, placement: Placement, n: usize) -> Result<Latencies> {
    let ids: Vec<ObjectId> = (0..n).map(|_| ObjectId::random()).collect();
    let cpu = ctx.cpus.client_cpu(placement);
    ctx.cpus.pinned(cpu, || -> Result<Latencies> {
        let c = Client::connect(store.socket()).map_err(client("connect"))?;
        let mut sub = c.subscribe().map_err(client("subscribe"))?;
        let meter = Meter::start(store)?;
        let producer = spawn_producer(ctx, store, &ids, GAP_US, ctx.cpus.store_cpu(placement))?;
        let mut resolved = Vec::with_capacity(n);
        for id in &ids {
            loop {
                let note = sub.recv().map_err(client("notification"))?;
                if note.id == *id && !note.deleted {
                    break;
                }
            }
            resolved.push(monotonic_ns());
        }
        let sample = meter.sample(store, n)?;
        Latencies::new(&resolved, &seal_stamps(producer)?, sample)
    })?
}

/// What a memory repetition measured.
struct Pending {
    /// Heap bytes per pending future (counting allocator).
    heap_per_future: f64,
    /// From the last seal to the last future resolved, ms.
    last_seal_to_all_ms: f64,
    /// Largest seal → resolved time, ms.
    max_ms: f64,
}

/// `n` futures pending on distinct ids: their heap cost, then a producer
/// seals them all back to back and every one must resolve.
fn pending_once(ctx: &Ctx, store: &Daemon, n: usize) -> Result<Pending> {
    let ids: Vec<ObjectId> = (0..n).map(|_| ObjectId::random()).collect();
    let rt = runtime()?;
    rt.block_on(async {
        let c = AsyncClient::connect(store.socket())
            .await
            .map_err(client("async connect"))?;
        c.init().await.map_err(client("init"))?;
        // Settle the client's own buffers with a small batch first.
        let warm: Vec<_> = (0..1000).map(|_| c.as_future(ObjectId::random())).collect();
        c.stats().await.map_err(client("stats"))?;
        drop(warm);
        c.stats().await.map_err(client("stats"))?;
        let region = Region::new(crate::GLOBAL);
        let futures: Vec<_> = ids.iter().map(|id| c.as_future(*id)).collect();
        // Every registration handled, and its Await written out (a frame
        // still queued would be counted as the futures' memory).
        c.stats().await.map_err(client("stats"))?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.stats().await.map_err(client("stats"))?;
        let change = region.change();
        let net = change.bytes_allocated as f64 - change.bytes_deallocated as f64;
        let heap_per_future = net / n as f64;
        let mut pending: FuturesUnordered<_> = futures
            .into_iter()
            .enumerate()
            .map(|(i, f)| async move { (i, f.await) })
            .collect();
        // The first poll registers every waker: before the seals.
        if futures_util::FutureExt::now_or_never(pending.next()).is_some() {
            return Err(BenchError::Client(
                "a future resolved before its seal".into(),
            ));
        }
        let producer = spawn_producer(ctx, store, &ids, 0, None)?;
        let mut resolved = vec![0u64; n];
        while let Some((i, outcome)) = pending.next().await {
            outcome.map_err(client("as_future"))?;
            resolved[i] = monotonic_ns();
        }
        let sealed = seal_stamps(producer)?;
        let last_seal = sealed.iter().copied().max().unwrap_or(0);
        let all_done = resolved.iter().copied().max().unwrap_or(0);
        let max_ns = resolved
            .iter()
            .zip(&sealed)
            .map(|(r, s)| r.saturating_sub(*s))
            .max()
            .unwrap_or(0);
        Ok(Pending {
            heap_per_future,
            last_seal_to_all_ms: all_done.saturating_sub(last_seal) as f64 / 1e6,
            max_ms: max_ns as f64 / 1e6,
        })
    })
}

fn contender(
    side: Side,
    kind: ClientKind,
    values: Vec<f64>,
    samples: Vec<Sample>,
) -> Result<Contender> {
    Contender::from_values(Some(side), kind, values, samples)
}

/// W10 (each placement, judged against the two-hand-overs-after-idle
/// anchor of its placement in `anchors`) and W11 (unpinned).
pub fn run(ctx: &Ctx, anchors: &[Anchor], rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let n = p.await_count;
    for placement in super::small::placements(ctx) {
        let ours = ctx.start(Side::Ours, p.small_capacity, placement)?;
        let plasma = ctx.start(Side::Plasma, p.small_capacity, placement)?;
        let mut runs: [Vec<Latencies>; 4] = Default::default();
        for rep in 0..p.reps {
            for k in 0..4 {
                let k = (k + rep) % 4;
                let store = if k % 2 == 0 { &ours } else { &plasma };
                let l = if k < 2 {
                    await_once(ctx, store, placement, n)?
                } else {
                    notify_once(ctx, store, placement, n)?
                };
                runs[k].push(l);
            }
        }
        ours.stop()?;
        plasma.stop()?;
        let [a_ours, a_plasma, n_ours, n_plasma] = runs;
        let pick = |v: &[Latencies], q: f64| -> (Vec<f64>, Vec<Sample>) {
            (
                v.iter().map(|l| l.percentile_us(q)).collect(),
                v.iter().map(|l| l.sample).collect(),
            )
        };
        let gap = format!("{GAP_US} µs apart");
        let relay = anchors
            .iter()
            .find(|a| a.name == RELAY && a.placement == Some(placement))
            .map(|a| a.result.summary.median);
        let mut median_ours = None;
        for (id, q, what, ceiling) in [("W10", 0.5, "median", 1.2), ("W10-p99", 0.99, "p99", 3.0)] {
            let (vo, so) = pick(&a_ours, q);
            let (vp, sp) = pick(&a_plasma, q);
            let row = Row::versus(
                id,
                format!("seal in another process → as_future resolved ({what}; {count} seals {gap}): AsyncClient, pushes on plasma-store vs notification + Get on Plasma 11", count = count_label(n as u64)),
                Some(placement),
                Unit::Micros,
                contender(Side::Ours, ClientKind::RustAsync, vo, so)?,
                contender(Side::Plasma, ClientKind::RustAsync, vp, sp)?,
                Some(Target::RatioAtMost(ceiling)),
            );
            // The median against two bare hand-overs after the same idle
            // gap (same run, same placement); the p99 against that median.
            let row = match (id, relay, median_ours) {
                ("W10", Some(r), _) => {
                    median_ours = Some(row.ours.summary.median);
                    row.against_anchor(RELAY, r)
                }
                ("W10-p99", _, Some(m)) => row.against_anchor("W10 median", m),
                _ => row,
            };
            rows.push(row);
        }
        let (vo, so) = pick(&n_ours, 0.5);
        let (vp, sp) = pick(&n_plasma, 0.5);
        rows.push(Row::versus(
            "W10-n",
            "seal → notification received (median, blocking Subscription; reference): plasma-store vs Plasma 11".to_string(),
            Some(placement),
            Unit::Micros,
            contender(Side::Ours, ClientKind::Rust, vo, so)?,
            contender(Side::Plasma, ClientKind::Rust, vp, sp)?,
            None,
        ));
    }

    // W11: a store of each kind per repetition, with room for every object.
    let m = p.await_pending;
    let capacity = p.small_capacity.max(m as u64 * 256);
    let mut got: [Vec<Pending>; 2] = Default::default();
    for rep in 0..p.million_reps {
        for k in 0..2 {
            let k = (k + rep) % 2;
            let side = if k == 0 { Side::Ours } else { Side::Plasma };
            let store = ctx.start(side, capacity, Placement::Unpinned)?;
            got[k].push(pending_once(ctx, &store, m)?);
            store.stop()?;
        }
    }
    let [g_ours, g_plasma] = got;
    let vals = |v: &[Pending], f: fn(&Pending) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    let label = count_label(m as u64);
    rows.push(Row::versus(
        "W11",
        format!("heap bytes per pending future, {label} pending on distinct ids: AsyncClient on plasma-store (pushes) vs on Plasma 11 (notifications)"),
        None,
        Unit::BytesPerObject,
        contender(Side::Ours, ClientKind::RustAsync, vals(&g_ours, |g| g.heap_per_future), Vec::new())?,
        contender(Side::Plasma, ClientKind::RustAsync, vals(&g_plasma, |g| g.heap_per_future), Vec::new())?,
        Some(Target::AtMost(200.0)),
    ));
    rows.push(
        Row::versus(
            "W11-all",
            format!("{label} futures: last seal → all resolved (producer seals back to back)"),
            None,
            Unit::Millis,
            contender(Side::Ours, ClientKind::RustAsync, vals(&g_ours, |g| g.last_seal_to_all_ms), Vec::new())?,
            contender(Side::Plasma, ClientKind::RustAsync, vals(&g_plasma, |g| g.last_seal_to_all_ms), Vec::new())?,
            Some(Target::AtMost(100.0)),
        )
        .with_note(format!(
            "W11: largest single seal → resolved: ours {:.1} ms, Plasma {:.1} ms (medians over repetitions).",
            median(&vals(&g_ours, |g| g.max_ms)),
            median(&vals(&g_plasma, |g| g.max_ms)),
        )),
    );
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    crate::sample::Summary::of(v).map_or(f64::NAN, |s| s.median)
}
