//! The physical anchors, measured by the compiled `anchors` program in the
//! same run as the stores: Unix-socket ping-pong in each placement, memcpy
//! into faulted memory, and memcpy into fresh shared mappings (of new
//! pages; of pages allocated beforehand; populated at mmap).

use std::process::Command;

use serde_json::Value;

use crate::error::{io, BenchError, Result};
use crate::placement::Placement;
use crate::plan::size_label;
use crate::results::{Anchor, ClientKind, Contender, Unit};
use crate::sample::Sample;
use crate::workloads::Ctx;

fn run(ctx: &Ctx, args: &[String]) -> Result<Sample> {
    let out = Command::new(&ctx.env.anchors)
        .args(args)
        .output()
        .map_err(io(format!("run {}", ctx.env.anchors.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fail = |why: &str| {
        BenchError::Client(format!(
            "anchors {}: {why}; stderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    };
    if !out.status.success() {
        return Err(fail(&format!("exited with {}", out.status)));
    }
    let v: Value = serde_json::from_str(text.trim()).map_err(|e| fail(&e.to_string()))?;
    match (
        v.get("ops").and_then(Value::as_u64),
        v.get("secs").and_then(Value::as_f64),
    ) {
        (Some(ops), Some(secs)) => Ok(Sample {
            ops,
            secs,
            ..Sample::default()
        }),
        _ => Err(fail(&format!("unexpected output {text:?}"))),
    }
}

/// One anchor to measure: name, title, placement, unit, program arguments.
struct Job {
    name: String,
    title: String,
    placement: Option<Placement>,
    unit: Unit,
    args: Vec<String>,
}

/// Name of the two-hand-overs-after-idle anchor W10 is judged against.
pub const RELAY: &str = "relay-idle";

fn cpu_arg(cpu: Option<usize>) -> String {
    cpu.map_or("-1".into(), |c| c.to_string())
}

/// Measures every anchor, `reps` times each, interleaved.
pub fn measure(ctx: &Ctx) -> Result<Vec<Anchor>> {
    let p = &ctx.plan;
    let placements: Vec<Placement> = Placement::ALL
        .into_iter()
        .filter(|pl| ctx.cpus.supports(*pl))
        .collect();
    let size = p.big_size;
    let mut jobs = Vec::new();
    for pl in &placements {
        // W10's path, producer → store → awaiting client, with nothing in
        // between: each process as W10 places it, idle as long.
        jobs.push(Job {
            name: RELAY.into(),
            title: format!(
                "two hand-overs after {} µs idle (process A → B → C, as a seal goes producer → store → client), median",
                crate::workloads::as_future::GAP_US
            ),
            placement: Some(*pl),
            unit: Unit::Micros,
            args: vec![
                "relay".into(),
                p.await_count.to_string(),
                crate::workloads::as_future::GAP_US.to_string(),
                cpu_arg(ctx.cpus.store_cpu(*pl)),
                cpu_arg(ctx.cpus.store_cpu(*pl)),
                cpu_arg(ctx.cpus.client_cpu(*pl)),
            ],
        });
        jobs.push(Job {
            name: "pingpong".into(),
            title: "Unix-socket ping-pong, one-way hand-over (half round trip)".into(),
            placement: Some(*pl),
            unit: Unit::Micros,
            args: vec![
                "pingpong".into(),
                p.pingpong_iters.to_string(),
                cpu_arg(ctx.cpus.store_cpu(*pl)),
                cpu_arg(ctx.cpus.client_cpu(*pl)),
            ],
        });
    }
    jobs.push(Job {
        name: "memcpy-warm".into(),
        title: format!(
            "memcpy of {} into memory already faulted in",
            size_label(size)
        ),
        placement: None,
        unit: Unit::GbPerSec,
        args: vec!["warm".into(), size.to_string(), p.memcpy_iters.to_string()],
    });
    for (name, op, what) in [
        (
            "memcpy-fresh",
            "fresh",
            "into a fresh shared mapping of a new memfd (page allocation + faults)",
        ),
        (
            "memcpy-allocated",
            "allocated",
            "into a fresh mapping of memfd pages allocated beforehand (minor faults only)",
        ),
        (
            "memcpy-populated",
            "populated",
            "into a MAP_POPULATE mapping of allocated memfd pages (no faults)",
        ),
    ] {
        jobs.push(Job {
            name: name.into(),
            title: format!("memcpy of {} {what}", size_label(size)),
            placement: None,
            unit: Unit::GbPerSec,
            args: vec![op.into(), size.to_string(), p.memcpy_iters.to_string()],
        });
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); jobs.len()];
    for _ in 0..p.reps {
        for (i, job) in jobs.iter().enumerate() {
            samples[i].push(run(ctx, &job.args)?);
        }
    }
    jobs.into_iter()
        .zip(samples)
        .map(|(job, s)| {
            let unit = job.unit;
            let value = move |s: &Sample| match unit {
                Unit::GbPerSec => size as f64 * s.ops_per_sec() / 1e9,
                _ => s.us_per_op(),
            };
            Ok(Anchor {
                name: job.name,
                title: job.title,
                placement: job.placement,
                unit,
                result: Contender::from_samples(None, ClientKind::Anchor, s, value)?,
            })
        })
        .collect()
}
