//! Latency and throughput by object size (the plots), and W9: get latency
//! must not depend on the object's size (zero-copy). Rust client on our
//! store against the C++ client on Plasma 11, one session per placement:
//! unpinned, a 256 MiB get and a 64 B get may land on different vCPU
//! arrangements, which moves latency far more than size does.

use super::{args, session, take, Contestant, Ctx, Driver};
use crate::daemon::Side;
use crate::error::Result;
use crate::placement::Placement;
use crate::plan::size_label;
use crate::results::{ClientKind, Contender, Row, SweepPoint, Target, Unit};
use crate::rust_client::{RustOp, RustTune};
use crate::sample::{Sample, Summary};

const OPS: [&str; 2] = ["put", "get"];

fn key(op: &str, size: u64, side: Side) -> String {
    format!("{op}-{size}-{side:?}")
}

fn contestants(ctx: &Ctx) -> Vec<Contestant> {
    let p = &ctx.plan;
    let mut who = Vec::new();
    for &size in &p.sweep_sizes {
        let put_iters = p.sweep_put_iters(size);
        let get_iters = p.sweep_get_iters();
        // Puts are deleted after each (untimed) so every size fits.
        let rust_put = RustOp::Put {
            size,
            iters: put_iters,
            warmup: 1,
            delete: true,
        };
        let rust_get = RustOp::Get {
            size,
            iters: get_iters,
            warmup: p.warmup,
        };
        let cpp_put = args(&[&"put", &size, &put_iters, &1, &1]);
        let cpp_get = args(&[&"get", &size, &get_iters, &p.warmup]);
        who.push(Contestant::new(
            key("put", size, Side::Ours),
            Side::Ours,
            Driver::Rust(rust_put, RustTune::Default),
        ));
        who.push(Contestant::new(
            key("put", size, Side::Plasma),
            Side::Plasma,
            Driver::Cpp(cpp_put),
        ));
        who.push(Contestant::new(
            key("get", size, Side::Ours),
            Side::Ours,
            Driver::Rust(rust_get, RustTune::Default),
        ));
        who.push(Contestant::new(
            key("get", size, Side::Plasma),
            Side::Plasma,
            Driver::Cpp(cpp_get),
        ));
    }
    who
}

/// Runs the sweep in every placement; appends the W9 rows and the points.
pub fn run(ctx: &Ctx, rows: &mut Vec<Row>, points: &mut Vec<SweepPoint>) -> Result<()> {
    let p = &ctx.plan;
    let who = contestants(ctx);
    for placement in p
        .placements
        .iter()
        .copied()
        .filter(|pl| ctx.cpus.supports(*pl))
    {
        let mut r = session(ctx, placement, p.big_capacity, &who, p.reps)?;
        let mut flat: Vec<(Side, u64, Contender)> = Vec::new();
        for &size in &p.sweep_sizes {
            for op in OPS {
                for (side, kind) in [
                    (Side::Ours, ClientKind::Rust),
                    (Side::Plasma, ClientKind::Cpp),
                ] {
                    let samples = take(&mut r, &key(op, size, side))?;
                    let gbps: Vec<f64> = samples
                        .iter()
                        .map(|s| size as f64 * s.ops_per_sec() / 1e9)
                        .collect();
                    let latency =
                        Contender::from_samples(Some(side), kind, samples, Sample::us_per_op)?;
                    if op == "get" && p.flat_sizes.contains(&size) {
                        flat.push((side, size, latency.clone()));
                    }
                    points.push(SweepPoint {
                        op: op.into(),
                        size,
                        placement,
                        latency,
                        throughput: Summary::of(&gbps).unwrap_or(Summary {
                            median: f64::NAN,
                            min: f64::NAN,
                            max: f64::NAN,
                            n: 0,
                        }),
                    });
                }
            }
        }
        flat_rows(ctx, placement, flat, rows)?;
    }
    Ok(())
}

fn flat_rows(
    ctx: &Ctx,
    placement: Placement,
    flat: Vec<(Side, u64, Contender)>,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let find = |side: Side, size: u64| {
        flat.iter()
            .find(|(s, z, _)| *s == side && *z == size)
            .map(|(_, _, c)| c.clone())
    };
    let mut spreads = Vec::new();
    for side in [Side::Ours, Side::Plasma] {
        let medians: Vec<f64> = ctx
            .plan
            .flat_sizes
            .iter()
            .filter_map(|&z| find(side, z).map(|c| c.summary.median))
            .collect();
        let max = medians.iter().copied().fold(f64::MIN, f64::max);
        let min = medians.iter().copied().fold(f64::MAX, f64::min);
        let kind = if side == Side::Ours {
            ClientKind::Rust
        } else {
            ClientKind::Cpp
        };
        spreads.push(Contender::from_values(
            Some(side),
            kind,
            vec![max / min],
            Vec::new(),
        )?);
    }
    for &size in &ctx.plan.flat_sizes {
        if let (Some(ours), Some(plasma)) = (find(Side::Ours, size), find(Side::Plasma, size)) {
            rows.push(Row::versus(
                "W9",
                format!(
                    "get + release {}: Rust client (`get`) vs C++ client",
                    size_label(size)
                ),
                Some(placement),
                Unit::Micros,
                ours,
                plasma,
                None,
            ));
        }
    }
    let sizes: Vec<String> = ctx.plan.flat_sizes.iter().map(|&z| size_label(z)).collect();
    let plasma = spreads.pop();
    let ours = spreads.pop();
    if let (Some(ours), Some(plasma)) = (ours, plasma) {
        rows.push(
            Row::versus(
                "W9",
                format!(
                    "get latency spread over {} (max/min of medians)",
                    sizes.join(", ")
                ),
                Some(placement),
                Unit::Factor,
                ours,
                plasma,
                Some(Target::AtMost(1.2)),
            )
            .with_note(
                "1.00 = independent of size; the target reads \"equal within noise\" as within 20%.",
            ),
        );
    }
    Ok(())
}
