//! W13-W16: our Python package (`plasma_store`, python/) as a user meets
//! it, in a child process running `bench_client.py` with
//! `BENCH_PY_CLIENT=plasma_store` in the pyarrow 11 venv (so both Python
//! clients run on the same interpreter and numpy).

use std::fmt::Write as _;
use std::fs;

use plasma_client::ObjectId;

use super::as_future::{await_once, seal_stamps, spawn_producer, Latencies, GAP_US};
use super::small::placements;
use super::{args, session, take, Contestant, Ctx, Driver};
use crate::daemon::{Daemon, Side};
use crate::error::{io, BenchError, Result};
use crate::placement::Placement;
use crate::plan::{count_label, size_label};
use crate::results::{ClientKind, Contender, Row, Target, Unit};
use crate::sample::Sample;

/// Runs W13 to W16; `memcpy_warm` is the anchor W14 is read against.
pub fn run(ctx: &Ctx, memcpy_warm: Option<f64>, rows: &mut Vec<Row>) -> Result<()> {
    put_get_1k(ctx, rows)?;
    big_array(ctx, memcpy_warm, rows)?;
    future_latency(ctx, rows)?;
    pending_heap(ctx, rows)
}

/// W13: put + get of 1 KiB raw buffers, each Python client on its store.
fn put_get_1k(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let a = args(&[&"putget", &p.small_size, &p.py_iters, &p.warmup]);
    let who = [
        Contestant::new("ours", Side::Ours, Driver::PythonOurs(a.clone())),
        Contestant::new("pyarrow", Side::Plasma, Driver::Python(a)),
    ];
    for placement in placements(ctx) {
        let mut r = session(ctx, placement, p.small_capacity, &who, p.reps)?;
        let rate = |side, kind, samples| {
            Contender::from_samples(Some(side), kind, samples, Sample::ops_per_sec)
        };
        rows.push(Row::versus(
            "W13",
            format!(
                "put + get {} raw buffers (put_raw_buffer, get_buffers): our Python client on plasma-store vs pyarrow.plasma on Plasma 11",
                size_label(p.small_size)
            ),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::Ours, ClientKind::PythonOurs, take(&mut r, "ours")?)?,
            rate(Side::Plasma, ClientKind::Python, take(&mut r, "pyarrow")?)?,
            Some(Target::RatioAtLeast(2.0)),
        ));
    }
    Ok(())
}

/// W14: `put` and `get` of a large numpy array, GB/s, against memcpy.
fn big_array(ctx: &Ctx, memcpy_warm: Option<f64>, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let size = p.py_big_size;
    let who = [
        Contestant::new(
            "put",
            Side::Ours,
            Driver::PythonOurs(args(&[&"bigput", &size, &p.py_big_iters, &1])),
        ),
        Contestant::new(
            "get",
            Side::Ours,
            Driver::PythonOurs(args(&[&"bigget", &size, &p.py_big_iters, &1])),
        ),
    ];
    let capacity = p.big_capacity.max(3 * size);
    let mut r = session(ctx, Placement::Unpinned, capacity, &who, p.reps)?;
    let gbps = move |s: &Sample| size as f64 * s.ops as f64 / s.secs / 1e9;
    let label = format!("{:.0} MB", size as f64 / 1e6);
    for (key, what) in [
        ("put", "put(array): pickle 5, the array copied once into shared memory, seal (object deleted after each, untimed)"),
        ("get", "get(id): the array back as a read-only view of shared memory (released after each)"),
    ] {
        let ours = Contender::from_samples(
            Some(Side::Ours),
            ClientKind::PythonOurs,
            take(&mut r, key)?,
            gbps,
        )?;
        let row = Row::ours_only(
            &format!("W14-{key}"),
            format!("{what}, {label} numpy array, our Python client"),
            None,
            Unit::GbPerSec,
            ours,
            None,
        );
        rows.push(match memcpy_warm {
            Some(m) => row
                .against_anchor("memcpy-warm", m)
                .with_note("memcpy-warm is measured on the large object of W4."),
            None => row,
        });
    }
    Ok(())
}

/// One repetition of W15: the Python child awaits `n` futures that the
/// producer seals one by one, `GAP_US` apart.
fn python_await_once(
    ctx: &Ctx,
    store: &Daemon,
    placement: Placement,
    n: usize,
) -> Result<Latencies> {
    let ids: Vec<ObjectId> = (0..n).map(|_| ObjectId::random()).collect();
    let tag = ctx.stderr_path("await").with_extension("");
    let ids_path = tag.with_extension("ids");
    let stamps_path = tag.with_extension("stamps");
    let mut text = String::with_capacity(n * 41);
    for id in &ids {
        let _ = writeln!(text, "{id}");
    }
    fs::write(&ids_path, text).map_err(io(format!("write {}", ids_path.display())))?;
    let a = args(&[&"await", &ids_path.display(), &stamps_path.display()]);
    let cpu = ctx.cpus.client_cpu(placement);
    let mut child = ctx.child(ClientKind::PythonOurs, store, &a, cpu)?;
    let producer = spawn_producer(ctx, store, &ids, GAP_US, ctx.cpus.store_cpu(placement))?;
    let step = child.step(store, ctx.patience())?;
    child.finish()?;
    let stamps =
        fs::read_to_string(&stamps_path).map_err(io(format!("read {}", stamps_path.display())))?;
    let resolved = stamps
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .map_err(|e| BenchError::Client(format!("resolution stamp {l:?}: {e}")))
        })
        .collect::<Result<Vec<u64>>>()?;
    Latencies::new(&resolved, &seal_stamps(producer)?, step.sample)
}

/// W15: seal in another process → asyncio future resolved, with the Rust
/// AsyncClient measured in the same session on the same store.
fn future_latency(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let n = p.await_count;
    for placement in placements(ctx) {
        let store = ctx.start(Side::Ours, p.small_capacity, placement)?;
        let mut py = Vec::new();
        let mut rust = Vec::new();
        for rep in 0..p.reps {
            for k in 0..2 {
                if (k + rep) % 2 == 0 {
                    py.push(python_await_once(ctx, &store, placement, n)?);
                } else {
                    rust.push(await_once(ctx, &store, placement, n)?);
                }
            }
        }
        store.stop()?;
        for (id, q, what) in [("W15", 0.5, "median"), ("W15-p99", 0.99, "p99")] {
            let values = |v: &[Latencies]| v.iter().map(|l| l.percentile_us(q)).collect();
            let samples = |v: &[Latencies]| v.iter().map(|l| l.sample).collect();
            let ours = Contender::from_values(
                Some(Side::Ours),
                ClientKind::PythonOurs,
                values(&py),
                samples(&py),
            )?;
            let reference = Contender::from_values(
                Some(Side::Ours),
                ClientKind::RustAsync,
                values(&rust),
                samples(&rust),
            )?;
            let rust_median = reference.summary.median;
            rows.push(
                Row::ours_only(
                    id,
                    format!(
                        "seal in another process → asyncio future resolved ({what}; {} seals {GAP_US} µs apart): plasma_store.async_api on plasma-store, against the Rust AsyncClient in the same session",
                        count_label(n as u64)
                    ),
                    Some(placement),
                    Unit::Micros,
                    ours,
                    Some(Target::RatioAtMost(1.5)),
                )
                .against_anchor("Rust AsyncClient", rust_median)
                .with_note(format!(
                    "Rust AsyncClient {} µs in the same session.",
                    Unit::Micros.format(rust_median)
                )),
            );
        }
    }
    Ok(())
}

/// W16: heap per pending asyncio future, `await_pending` pending at once.
fn pending_heap(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let m = p.await_pending;
    let mut values = Vec::new();
    for _ in 0..p.million_reps {
        let store = ctx.start(Side::Ours, p.small_capacity, Placement::Unpinned)?;
        let mut child = ctx.child(
            ClientKind::PythonOurs,
            &store,
            &args(&[&"pending", &m]),
            None,
        )?;
        let step = child.step(&store, ctx.patience())?;
        child.finish()?;
        store.stop()?;
        let heap = step
            .answer
            .get("heap_per_future")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| BenchError::Client(format!("no heap_per_future in {}", step.answer)))?;
        values.push(heap);
    }
    rows.push(Row::ours_only(
        "W16",
        format!(
            "heap bytes per pending asyncio future, {} pending on distinct ids: plasma_store.async_api on plasma-store (Python objects and the Rust router together, all through malloc)",
            count_label(m as u64)
        ),
        None,
        Unit::BytesPerObject,
        Contender::from_values(Some(Side::Ours), ClientKind::PythonOurs, values, Vec::new())?,
        None,
    ));
    Ok(())
}
