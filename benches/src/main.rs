//! `plasma-bench`: runs our plasma-store and its Rust client against Arrow
//! Plasma 11 in one run and writes tables, JSON and plots. See `--help`.
//!
//! `plasma-bench store ARGS` is the daemon under test: it runs
//! `plasma_store::cli` exactly like the `plasma-store` binary does, so the
//! store benchmarked is always the one built from the current sources.
//! `plasma-bench seal-producer SOCKET GAP_US` is the sealing process of the
//! as_future workloads.

mod anchors;
mod child;
mod cli;
mod daemon;
mod error;
mod ids;
mod placement;
mod plan;
mod procfs;
mod report;
mod results;
mod rust_client;
mod sample;
mod setup;
mod svg;
mod workloads;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::{io, Result};
use crate::placement::Cpus;
use crate::plan::Plan;
use crate::results::{Meta, Report};
use crate::workloads::Ctx;

/// Counts heap bytes for W11 (memory per pending future). Its cost is two
/// relaxed atomic additions per allocation, far below what any workload
/// here measures.
#[global_allocator]
pub static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "store") {
        let args = std::iter::once(OsString::from("plasma-store")).chain(argv[2..].iter().cloned());
        return plasma_store::cli::run_from(args);
    }
    if argv.get(1).is_some_and(|a| a == "seal-producer") {
        return workloads::as_future::producer_main(&argv[2..]);
    }
    let cli = cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plasma-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `<cargo target dir>/bench` when this binary lives in a cargo profile
/// directory, else `./plasma-bench`.
fn default_out() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let target = exe
        .as_ref()
        .and_then(|e| e.parent())
        .filter(|d| d.ends_with("release") || d.ends_with("debug"))
        .and_then(|d| d.parent());
    match target {
        Some(t) => t.join("bench"),
        None => PathBuf::from("plasma-bench"),
    }
}

fn run(cli: &cli::Cli) -> Result<()> {
    let t0 = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let load_start = loadavg();
    let mut plan = if cli.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(r) = cli.reps {
        plan.reps = usize::from(r);
        plan.million_reps = plan.million_reps.min(plan.reps);
    }
    let out = cli.out.clone().unwrap_or_else(default_out);
    std::fs::create_dir_all(&out).map_err(io(format!("create {}", out.display())))?;
    let options = setup::SetupOptions {
        store_bin: cli.store_bin.clone(),
        python: cli.python.clone(),
    };
    let env = setup::prepare(&out, &options)?;
    let cpus = Cpus::detect()?;
    let ctx = Ctx::new(env, cpus, plan);
    let measured = workloads::run_all(&ctx, &cli.only)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = Report {
        meta: Meta {
            command,
            started_unix,
            duration_secs: t0.elapsed().as_secs_f64(),
            quick: ctx.plan.quick,
            reps: ctx.plan.reps,
            cpus: ctx.cpus.ids().to_vec(),
            cpu_model: cpu_model(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            store_start_secs: ctx.starts.borrow().clone(),
            loadavg: (load_start, loadavg()),
        },
        anchors: measured.anchors,
        rows: measured.rows,
        sweep: measured.sweep,
    };
    report::write_all(&out, &report)?;
    print!("{}", report::markdown(&report));
    eprintln!(
        "plasma-bench: done in {:.0} s; wrote {} in {}",
        t0.elapsed().as_secs_f64(),
        report::FILES.join(", "),
        out.display()
    );
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|r| r.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
