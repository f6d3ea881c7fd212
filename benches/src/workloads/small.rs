//! Small-object workloads (W1, W2, W3, W6), each run in every placement.

use super::{args, session, take, Contestant, Ctx, Driver};
use crate::daemon::{Side, SPIN_US};
use crate::error::Result;
use crate::placement::Placement;
use crate::plan::size_label;
use crate::results::{ClientKind, Contender, Row, Target, Unit};
use crate::rust_client::{RustOp, RustTune};
use crate::sample::Sample;

/// The placements of the plan that this machine supports.
pub(super) fn placements(ctx: &Ctx) -> Vec<Placement> {
    ctx.plan
        .placements
        .iter()
        .copied()
        .filter(|p| ctx.cpus.supports(*p))
        .collect()
}

fn rate(side: Side, kind: ClientKind, samples: Vec<Sample>) -> Result<Contender> {
    Contender::from_samples(Some(side), kind, samples, Sample::ops_per_sec)
}

/// The daemon-only target: the store's CPU per operation with Plasma's C++
/// client on both stores, ours at most half of Plasma's.
fn store_cpu_row(
    id: &str,
    title: String,
    placement: Placement,
    ours: &[Sample],
    plasma: &Contender,
) -> Result<Row> {
    let cpu = |side, s: Vec<Sample>| {
        Contender::from_samples(Some(side), ClientKind::Cpp, s, Sample::store_cpu_us_per_op)
    };
    Ok(Row::versus(
        id,
        title,
        Some(placement),
        Unit::Micros,
        cpu(Side::Ours, ours.to_vec())?,
        cpu(Side::Plasma, plasma.samples.clone())?,
        Some(Target::RatioAtMost(0.5)),
    ))
}

/// W1: put 1 KiB; Rust client vs Plasma's C++ client, and C++ on both.
pub fn put_1k(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let size = p.small_size;
    let op = RustOp::Put {
        size,
        iters: p.small_iters,
        warmup: p.warmup,
        delete: false,
    };
    let cpp = Driver::Cpp(args(&[&"put", &size, &p.small_iters, &0, &p.warmup]));
    let who = [
        Contestant::new("rust", Side::Ours, Driver::Rust(op, RustTune::Default)),
        Contestant::new(
            "rust-spin",
            Side::OursSpin,
            Driver::Rust(op, RustTune::Spin),
        ),
        Contestant::new("cpp-ours", Side::Ours, cpp.clone()),
        Contestant::new("cpp-plasma", Side::Plasma, cpp),
    ];
    for placement in placements(ctx) {
        let mut r = session(ctx, placement, p.small_capacity, &who, p.reps)?;
        let plasma = rate(Side::Plasma, ClientKind::Cpp, take(&mut r, "cpp-plasma")?)?;
        let label = size_label(size);
        rows.push(Row::versus(
            "W1",
            format!("put {label}: our Rust client vs Plasma's C++ client"),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::Ours, ClientKind::Rust, take(&mut r, "rust")?)?,
            plasma.clone(),
            Some(Target::RatioAtLeast(5.0)),
        ));
        rows.push(Row::versus(
            "W1-spin",
            format!("put {label}: the same, store and Rust client polling {SPIN_US} µs before they sleep"),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::OursSpin, ClientKind::RustSpin, take(&mut r, "rust-spin")?)?,
            plasma.clone(),
            Some(Target::RatioAtLeast(5.0)),
        ));
        let daemon = take(&mut r, "cpp-ours")?;
        rows.push(store_cpu_row(
            "W1-d-cpu",
            format!(
                "put {label} (3 requests): store CPU µs per put, C++ client on both (daemon only)"
            ),
            placement,
            &daemon,
            &plasma,
        )?);
        rows.push(Row::versus(
            "W1-d",
            format!("put {label}: C++ client on both (daemon only)"),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::Ours, ClientKind::Cpp, daemon)?,
            plasma,
            None,
        ));
    }
    Ok(())
}

/// W2: put 1 KiB with pyarrow's client on both stores.
pub fn put_1k_py(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let py = Driver::Python(args(&[&"put", &p.small_size, &p.py_iters, &p.warmup]));
    python_pair(
        ctx,
        rows,
        py,
        "W2",
        format!(
            "put {}: pyarrow client on both (daemon only)",
            size_label(p.small_size)
        ),
        Some(2.0),
    )
}

/// W3, daemon only: get + release with pyarrow's client on both stores.
pub fn get_1k_py(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let py = Driver::Python(args(&[&"get", &p.small_size, &p.py_iters, &p.warmup]));
    python_pair(
        ctx,
        rows,
        py,
        "W3-py",
        format!(
            "get + release {}: pyarrow client on both (daemon only)",
            size_label(p.small_size)
        ),
        None,
    )
}

fn python_pair(
    ctx: &Ctx,
    rows: &mut Vec<Row>,
    py: Driver,
    id: &str,
    title: String,
    target: Option<f64>,
) -> Result<()> {
    let who = [
        Contestant::new("py-ours", Side::Ours, py.clone()),
        Contestant::new("py-plasma", Side::Plasma, py),
    ];
    for placement in placements(ctx) {
        let mut r = session(ctx, placement, ctx.plan.small_capacity, &who, ctx.plan.reps)?;
        rows.push(Row::versus(
            id,
            title.clone(),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::Ours, ClientKind::Python, take(&mut r, "py-ours")?)?,
            rate(Side::Plasma, ClientKind::Python, take(&mut r, "py-plasma")?)?,
            target.map(Target::RatioAtLeast),
        ));
    }
    Ok(())
}

/// W3: get + release 1 KiB; Rust client vs C++ client, and C++ on both.
pub fn get_1k(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let size = p.small_size;
    let op = RustOp::Get {
        size,
        iters: p.small_iters,
        warmup: p.warmup,
    };
    let try_op = RustOp::TryGet {
        size,
        iters: p.small_iters,
        warmup: p.warmup,
    };
    let cpp = Driver::Cpp(args(&[&"get", &size, &p.small_iters, &p.warmup]));
    let who = [
        Contestant::new("rust", Side::Ours, Driver::Rust(op, RustTune::Default)),
        Contestant::new(
            "rust-try",
            Side::Ours,
            Driver::Rust(try_op, RustTune::Default),
        ),
        Contestant::new(
            "rust-spin",
            Side::OursSpin,
            Driver::Rust(op, RustTune::Spin),
        ),
        Contestant::new("cpp-ours", Side::Ours, cpp.clone()),
        Contestant::new("cpp-plasma", Side::Plasma, cpp),
    ];
    for placement in placements(ctx) {
        let mut r = session(ctx, placement, p.small_capacity, &who, p.reps)?;
        let plasma = rate(Side::Plasma, ClientKind::Cpp, take(&mut r, "cpp-plasma")?)?;
        let label = size_label(size);
        rows.push(Row::versus(
            "W3",
            format!("get + release {label}: our Rust client (`get`) vs Plasma's C++ client"),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::Ours, ClientKind::Rust, take(&mut r, "rust")?)?,
            plasma.clone(),
            Some(Target::RatioAtLeast(20.0)),
        ));
        rows.push(Row::versus(
            "W3-try",
            format!("get + release {label}: our Rust client (`try_get`) vs Plasma's C++ client"),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::Ours, ClientKind::Rust, take(&mut r, "rust-try")?)?,
            plasma.clone(),
            None,
        ));
        rows.push(Row::versus(
            "W3-spin",
            format!("get + release {label}: `get`, store and Rust client polling {SPIN_US} µs before they sleep"),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::OursSpin, ClientKind::RustSpin, take(&mut r, "rust-spin")?)?,
            plasma.clone(),
            Some(Target::RatioAtLeast(20.0)),
        ));
        let daemon = take(&mut r, "cpp-ours")?;
        rows.push(store_cpu_row(
            "W3-d-cpu",
            format!("get + release {label} (2 requests): store CPU µs per get, C++ client on both (daemon only)"),
            placement,
            &daemon,
            &plasma,
        )?);
        rows.push(Row::versus(
            "W3-d",
            format!("get + release {label}: C++ client on both (daemon only)"),
            Some(placement),
            Unit::OpsPerSec,
            rate(Side::Ours, ClientKind::Cpp, daemon)?,
            plasma,
            None,
        ));
    }
    Ok(())
}

/// W6: CreateAndSealBatch of 1 KiB objects, C++ client on both stores.
pub fn batch_1k(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let cpp = Driver::Cpp(args(&[
        &"batch",
        &p.small_size,
        &p.batch_size,
        &p.batch_iters,
    ]));
    let who = [
        Contestant::new("cpp-ours", Side::Ours, cpp.clone()),
        Contestant::new("cpp-plasma", Side::Plasma, cpp),
    ];
    // Every repetition leaves its objects in the store: make room for all.
    let per_rep = p.small_size * p.batch_size * p.batch_iters;
    let capacity = p.small_capacity.max(per_rep * p.reps as u64 * 2);
    for placement in placements(ctx) {
        let mut r = session(ctx, placement, capacity, &who, p.reps)?;
        rows.push(Row::versus(
            "W6",
            format!(
                "CreateAndSealBatch of {} x {}: C++ client on both",
                p.batch_size,
                size_label(p.small_size)
            ),
            Some(placement),
            Unit::ObjectsPerSec,
            rate(Side::Ours, ClientKind::Cpp, take(&mut r, "cpp-ours")?)?,
            rate(Side::Plasma, ClientKind::Cpp, take(&mut r, "cpp-plasma")?)?,
            Some(Target::RatioAtLeast(2.0)),
        ));
    }
    Ok(())
}
