//! W12: puts pipelined by one `AsyncClient` (64 in flight, each its own
//! create, write, seal, release; the caller batches nothing) against
//! Plasma 11's fastest way to put many small objects, its C++ client's
//! CreateAndSealBatch.

use super::small::placements;
use super::{args, session, take, Contestant, Ctx, Driver};
use crate::daemon::Side;
use crate::error::Result;
use crate::plan::size_label;
use crate::results::{ClientKind, Contender, Row, Target, Unit};
use crate::rust_client::{RustOp, RustTune};
use crate::sample::Sample;

/// Puts one AsyncClient keeps in flight.
pub const DEPTH: usize = 64;

/// W12, each placement.
pub fn run(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let size = p.small_size;
    let iters = p.batch_size * p.batch_iters;
    let ours = Driver::Rust(
        RustOp::PipelinedPut {
            size,
            iters,
            warmup: p.warmup,
            depth: DEPTH,
        },
        RustTune::Default,
    );
    let batch = Driver::Cpp(args(&[&"batch", &size, &p.batch_size, &p.batch_iters]));
    let who = [
        Contestant::new("async", Side::Ours, ours),
        Contestant::new("batch-plasma", Side::Plasma, batch),
    ];
    // Every repetition leaves its objects in the store: make room for all.
    let capacity = p
        .small_capacity
        .max((iters + p.warmup) * size * p.reps as u64 * 2);
    for placement in placements(ctx) {
        let mut r = session(ctx, placement, capacity, &who, p.reps)?;
        let rate = |side, kind, s: Vec<Sample>| {
            Contender::from_samples(Some(side), kind, s, Sample::ops_per_sec)
        };
        rows.push(Row::versus(
            "W12",
            format!(
                "puts of {}, {DEPTH} in flight on one AsyncClient (no batching by the caller) vs Plasma's C++ CreateAndSealBatch of {}",
                size_label(size),
                p.batch_size
            ),
            Some(placement),
            Unit::ObjectsPerSec,
            rate(Side::Ours, ClientKind::RustAsync, take(&mut r, "async")?)?,
            rate(Side::Plasma, ClientKind::Cpp, take(&mut r, "batch-plasma")?)?,
            Some(Target::RatioAtLeast(2.0)),
        ));
    }
    Ok(())
}
