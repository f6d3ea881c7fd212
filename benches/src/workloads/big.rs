//! Large-object puts: into warm arena pages (W4) and into a freshly started
//! store (W5). Unpinned: at these sizes a put is a memory-bandwidth matter.

use super::{args, run_once, session, take, Contestant, Ctx, Driver};
use crate::daemon::Side;
use crate::error::Result;
use crate::placement::Placement;
use crate::plan::size_label;
use crate::results::{ClientKind, Contender, Row, Target, Unit};
use crate::rust_client::{self, RustOp, RustTune};
use crate::sample::Sample;

fn gbps(size: u64) -> impl Fn(&Sample) -> f64 {
    move |s| size as f64 * s.ops as f64 / s.secs / 1e9
}

fn contender(side: Side, kind: ClientKind, size: u64, samples: Vec<Sample>) -> Result<Contender> {
    Contender::from_samples(Some(side), kind, samples, gbps(size))
}

/// W4: put the large object into pages the client has written before.
pub fn put_warm(ctx: &Ctx, memcpy_warm: Option<f64>, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let size = p.big_size;
    // One untimed put first faults the extent in; each put is deleted
    // (untimed) so the next one lands on the same, now warm, pages.
    let op = RustOp::Put {
        size,
        iters: p.big_iters,
        warmup: 1,
        delete: true,
    };
    let cpp = Driver::Cpp(args(&[&"put", &size, &p.big_iters, &1, &1]));
    let who = [
        Contestant::new("rust", Side::Ours, Driver::Rust(op, RustTune::Default)),
        Contestant::new(
            "rust-nodigest",
            Side::Ours,
            Driver::Rust(op, RustTune::NoDigest),
        ),
        Contestant::new("cpp-ours", Side::Ours, cpp.clone()),
        Contestant::new("cpp-plasma", Side::Plasma, cpp),
    ];
    let mut r = session(ctx, Placement::Unpinned, p.big_capacity, &who, p.reps)?;
    let plasma = contender(
        Side::Plasma,
        ClientKind::Cpp,
        size,
        take(&mut r, "cpp-plasma")?,
    )?;
    let label = size_label(size);
    for (key, kind, digest, target) in [
        ("rust", ClientKind::Rust, "on", 0.8),
        ("rust-nodigest", ClientKind::RustNoDigest, "off", 0.9),
    ] {
        let ours = contender(Side::Ours, kind, size, take(&mut r, key)?)?;
        let row = Row::versus(
            "W4",
            format!(
                "put {label} into warm pages, Rust client, digest {digest}, vs Plasma's C++ client"
            ),
            None,
            Unit::GbPerSec,
            ours,
            plasma.clone(),
            None,
        );
        let vs_plasma = row.ratio.unwrap_or(f64::NAN);
        let plasma_median = plasma.summary.median;
        rows.push(match memcpy_warm {
            Some(m) => {
                let mut row = row;
                row.target = Some(Target::RatioAtLeast(target));
                row.against_anchor("memcpy-warm", m).with_note(format!(
                    "digest {digest}: ours/Plasma {vs_plasma:.2}×; Plasma {:.2}× memcpy-warm.",
                    plasma_median / m
                ))
            }
            None => row,
        });
    }
    rows.push(Row::versus(
        "W4-d",
        format!("put {label} into warm pages: C++ client on both (daemon only)"),
        None,
        Unit::GbPerSec,
        contender(Side::Ours, ClientKind::Cpp, size, take(&mut r, "cpp-ours")?)?,
        plasma,
        None,
    ));
    Ok(())
}

/// W5: the first put of the large object into a store started just before
/// (a new store per repetition and contender; connecting is not timed).
pub fn put_fresh(ctx: &Ctx, memcpy_fresh: Option<f64>, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let size = p.big_size;
    let cpp = Driver::Cpp(args(&[&"put", &size, &1, &0, &0]));
    let who = [
        ("rust", Side::Ours, None),
        ("cpp-ours", Side::Ours, Some(cpp.clone())),
        ("cpp-plasma", Side::Plasma, Some(cpp)),
    ];
    let mut got: Vec<Vec<Sample>> = vec![Vec::new(); who.len()];
    for rep in 0..p.reps {
        for i in 0..who.len() {
            let k = (i + rep) % who.len();
            let (_, side, driver) = &who[k];
            let store = ctx.start(*side, p.big_capacity, Placement::Unpinned)?;
            let sample = match driver {
                None => rust_client::first_put(&store, &ctx.cpus, None, size)?,
                Some(d) => run_once(ctx, &store, Placement::Unpinned, d)?,
            };
            store.stop()?;
            got[k].push(sample);
        }
    }
    let mut it = got.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let rust = contender(Side::Ours, ClientKind::Rust, size, next())?;
    let cpp_ours = contender(Side::Ours, ClientKind::Cpp, size, next())?;
    let plasma = contender(Side::Plasma, ClientKind::Cpp, size, next())?;
    let label = size_label(size);
    let mut row = Row::versus(
        "W5",
        format!("first put of {label} into a fresh store: Rust client vs Plasma's C++ client"),
        None,
        Unit::GbPerSec,
        rust,
        plasma.clone(),
        Some(Target::RatioAtLeast(4.0)),
    );
    if let Some(m) = memcpy_fresh {
        let note = format!(
            "ours {:.2}×, Plasma {:.2}× memcpy-fresh.",
            row.ours.summary.median / m,
            plasma.summary.median / m
        );
        row = row.with_note(note);
    }
    rows.push(row);
    rows.push(Row::versus(
        "W5-d",
        format!("first put of {label} into a fresh store: C++ client on both (daemon only)"),
        None,
        Unit::GbPerSec,
        cpp_ours,
        plasma,
        None,
    ));
    Ok(())
}
