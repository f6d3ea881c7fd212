//! W7 and W8 on one filled store: a store whose capacity is exactly
//! `million x object size` gets that many released objects (C++
//! CreateAndSealBatch); its anonymous memory before and after gives the
//! bytes per object (W7), and one more create, which finds the store full
//! and must evict, gives W8.

use serde_json::Value;

use super::{args, Ctx};
use crate::daemon::Side;
use crate::error::{BenchError, Result};
use crate::placement::Placement;
use crate::plan::{count_label, size_label};
use crate::results::{ClientKind, Contender, Row, Target, Unit};
use crate::sample::Sample;

struct Filled {
    bytes_per_object: f64,
    fill: Sample,
    create: Sample,
    evicted: bool,
}

fn fill_once(ctx: &Ctx, side: Side) -> Result<Filled> {
    let p = &ctx.plan;
    let capacity = p.million * p.million_object_size;
    let store = ctx.start(side, capacity, Placement::Unpinned)?;
    let a = args(&[&"fill", &p.million_object_size, &p.million, &p.fill_batch]);
    let mut child = ctx.child(ClientKind::Cpp, &store, &a, None)?;
    let before = store.rss_anon_bytes()?;
    let fill = child.step(&store, ctx.patience())?;
    let after = store.rss_anon_bytes()?;
    if fill.answer.get("first_still_present") != Some(&Value::Bool(true)) {
        return Err(BenchError::Client(format!(
            "{side} evicted while being filled to its capacity: {}",
            fill.answer
        )));
    }
    let create = child.step(&store, ctx.patience())?;
    let evicted = create.answer.get("evicted_first") == Some(&Value::Bool(true));
    child.finish()?;
    store.stop()?;
    Ok(Filled {
        bytes_per_object: after.saturating_sub(before) as f64 / p.million as f64,
        fill: fill.sample,
        create: create.sample,
        evicted,
    })
}

/// Runs W7 and W8 on both stores.
pub fn run(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let mut ours = Vec::new();
    let mut plasma = Vec::new();
    for rep in 0..p.million_reps {
        let order = if rep % 2 == 0 {
            [Side::Ours, Side::Plasma]
        } else {
            [Side::Plasma, Side::Ours]
        };
        for side in order {
            let f = fill_once(ctx, side)?;
            if side == Side::Plasma {
                plasma.push(f);
            } else {
                ours.push(f);
            }
        }
    }
    let n = count_label(p.million);
    let size = size_label(p.million_object_size);
    // No samples: the CPU of filling is shown on the W8-fill row.
    let memory = |v: &[Filled], side| {
        Contender::from_values(
            Some(side),
            ClientKind::Cpp,
            v.iter().map(|f| f.bytes_per_object).collect(),
            Vec::new(),
        )
    };
    rows.push(Row::versus(
        "W7",
        format!("store memory (RssAnon) per object, {n} objects of {size}"),
        None,
        Unit::BytesPerObject,
        memory(&ours, Side::Ours)?,
        memory(&plasma, Side::Plasma)?,
        Some(Target::AtMost(128.0)),
    ));
    let create = |v: &[Filled], side| {
        Contender::from_samples(
            Some(side),
            ClientKind::Cpp,
            v.iter().map(|f| f.create).collect(),
            |s| s.secs * 1e3,
        )
    };
    let evictions = |v: &[Filled]| v.iter().filter(|f| f.evicted).count();
    rows.push(
        Row::versus(
            "W8",
            format!("one create of {size} into a full store of {n} evictable objects"),
            None,
            Unit::Millis,
            create(&ours, Side::Ours)?,
            create(&plasma, Side::Plasma)?,
            Some(Target::AtMost(10.0)),
        )
        .with_note(format!(
            "The create evicted the oldest object in {}/{} (ours) and {}/{} (Plasma) repetitions; CPU column: store µs for that one create.",
            evictions(&ours),
            ours.len(),
            evictions(&plasma),
            plasma.len()
        )),
    );
    let fill = |v: &[Filled], side| {
        Contender::from_samples(
            Some(side),
            ClientKind::Cpp,
            v.iter().map(|f| f.fill).collect(),
            Sample::ops_per_sec,
        )
    };
    rows.push(Row::versus(
        "W8-fill",
        format!(
            "filling: CreateAndSealBatch of {n} x {size}, {} per batch",
            p.fill_batch
        ),
        None,
        Unit::ObjectsPerSec,
        fill(&ours, Side::Ours)?,
        fill(&plasma, Side::Plasma)?,
        None,
    ));
    Ok(())
}
