//! Benchmark of `AsyncClient::as_future`: how long from a seal in another
//! process to the future resolved, and what a pending future costs.
//!
//! ```text
//! cargo run --release --bin plasma-store -- -s /tmp/plasma.sock -m 1G   # in another terminal
//!
//! # Latency: a producer process seals COUNT objects one at a time, GAP_US
//! # apart, stamping CLOCK_MONOTONIC right before each SealRequest; this
//! # process stamps when each future resolves.
//! cargo run --release -p plasma-client --example as_future_latency -- \
//!     latency /tmp/plasma.sock [--count 10000] [--gap-us 500] [--spin-us 0] \
//!     [--runtime multi|current] [--pin-consumer CPU] [--pin-producer CPU] \
//!     [--pin-store PID:CPU]
//!
//! # Memory: COUNT (default 100,000) futures pending on distinct ids; heap
//! # bytes per future (counting allocator), then a producer seals them all
//! # as fast as it can and every seal-to-resolution time is measured.
//! cargo run --release -p plasma-client --example as_future_latency -- \
//!     memory /tmp/plasma.sock [--count 100000]
//! ```
//!
//! Each mode prints a table and one line of JSON.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use nix::sched::{sched_setaffinity, CpuSet};
use nix::sys::resource::{getrusage, UsageWho};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::Pid;
use plasma_client::{AsyncClient, AsyncClientOptions, Client, ObjectId};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("latency") => latency(&args[1..]),
        Some("memory") => memory(&args[1..]),
        Some("--producer") => producer(&args[1..]),
        _ => {
            Err("usage: as_future_latency latency|memory SOCKET [options] (see the source)".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("as_future_latency: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` options after the socket path.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> Result<(String, Options), Error> {
        let (socket, rest) = args.split_first().ok_or("missing socket path")?;
        let mut map = HashMap::new();
        for pair in rest.chunks(2) {
            let [name, value] = pair else {
                return Err(format!("option {pair:?} has no value").into());
            };
            let name = name.strip_prefix("--").ok_or("options start with --")?;
            map.insert(name.to_string(), value.clone());
        }
        Ok((socket.clone(), Options(map)))
    }

    fn num(&self, name: &str, default: u64) -> Result<u64, Error> {
        match self.0.get(name) {
            Some(v) => Ok(v.parse()?),
            None => Ok(default),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

fn monotonic_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

fn pin(pid: Pid, cpu: usize) -> Result<(), Error> {
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(pid, &set)?;
    Ok(())
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let us = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
            };
            us(u.user_time()) + us(u.system_time())
        })
        .unwrap_or_default()
}

/// User + system CPU time of another process (from /proc).
fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ = 100
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Starts the producer process; it reads ids on stdin and prints
/// `index seal_ns` lines when done.
fn spawn_producer(
    socket: &str,
    ids: &[ObjectId],
    gap_us: u64,
    pin_cpu: Option<&str>,
) -> Result<std::process::Child, Error> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["--producer", socket, "--gap-us", &gap_us.to_string()]);
    if let Some(cpu) = pin_cpu {
        cmd.args(["--pin", cpu]);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let mut stdin = child.stdin.take().ok_or("no producer stdin")?;
    let mut text = String::with_capacity(ids.len() * 41);
    for id in ids {
        text.push_str(&id.to_string());
        text.push('\n');
    }
    stdin.write_all(text.as_bytes())?;
    drop(stdin);
    Ok(child)
}

/// Reads the producer's seal stamps (one per id, in order).
fn seal_stamps(child: std::process::Child) -> Result<Vec<u64>, Error> {
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("producer failed: {}", out.status).into());
    }
    let mut stamps = Vec::new();
    for line in out.stdout.lines() {
        stamps.push(line?.trim().parse()?);
    }
    Ok(stamps)
}

/// The producer process: `--producer SOCKET --gap-us G [--pin CPU]`; ids on
/// stdin. With a gap, every object is created (and written) first; then,
/// for each, the gap is slept, the time stamped and the object sealed, and
/// its buffer kept, so that only the SealRequest is on the measured path.
/// Without a gap, objects are created and sealed back to back with
/// `create_and_seal`, as fast as the store answers.
fn producer(args: &[String]) -> Result<(), Error> {
    let (socket, opts) = Options::parse(args)?;
    if let Some(cpu) = opts.get("pin") {
        pin(Pid::from_raw(0), cpu.parse()?)?;
    }
    let gap = Duration::from_micros(opts.num("gap-us", 0)?);
    let ids: Vec<ObjectId> = std::io::stdin()
        .lock()
        .lines()
        .map(|l| Ok(ObjectId::from_hex(l?.trim()).ok_or("bad id")?))
        .collect::<Result<_, Error>>()?;
    let client = Client::connect(&socket)?;
    let mut stamps = Vec::with_capacity(ids.len());
    if gap.is_zero() {
        for (i, id) in ids.iter().enumerate() {
            stamps.push(monotonic_ns());
            client.create_and_seal(*id, &(i as u64).to_le_bytes(), b"")?;
        }
    } else {
        let mut builders = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let mut builder = client.create(*id, 8, b"")?;
            builder
                .data_mut()
                .copy_from_slice(&(i as u64).to_le_bytes());
            builders.push(builder);
        }
        let mut sealed = Vec::with_capacity(ids.len());
        for builder in builders {
            std::thread::sleep(gap);
            stamps.push(monotonic_ns());
            sealed.push(builder.seal()?);
        }
    }
    let mut out = std::io::stdout().lock();
    for s in stamps {
        writeln!(out, "{s}")?;
    }
    Ok(())
}

fn runtime(kind: &str) -> Result<tokio::runtime::Runtime, Error> {
    Ok(match kind {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
        other => return Err(format!("unknown runtime {other:?}").into()),
    })
}

/// Seal → resolved latency, one object at a time.
fn latency(args: &[String]) -> Result<(), Error> {
    let (socket, opts) = Options::parse(args)?;
    let count = opts.num("count", 10_000)? as usize;
    let gap_us = opts.num("gap-us", 500)?.max(1);
    let spin = Duration::from_micros(opts.num("spin-us", 0)?);
    let extensions = opts.num("extensions", 1)? != 0;
    let kind = opts.get("runtime").unwrap_or("multi").to_string();
    if let Some(cpu) = opts.get("pin-consumer") {
        // Before the runtime exists: its threads inherit the mask.
        pin(Pid::from_raw(0), cpu.parse()?)?;
    }
    let mut store_pid = None;
    if let Some(spec) = opts.get("pin-store") {
        let (pid, cpu) = spec.split_once(':').ok_or("--pin-store PID:CPU")?;
        let pid: i32 = pid.parse()?;
        pin(Pid::from_raw(pid), cpu.parse()?)?;
        store_pid = Some(pid as u32);
    }
    let store_pid = store_pid.or_else(|| {
        opts.num("store-pid", 0)
            .ok()
            .filter(|&p| p > 0)
            .map(|p| p as u32)
    });
    let rt = runtime(&kind)?;
    let (resolved, wall, cpu, store_cpu) = rt.block_on(async {
        let mut options = AsyncClientOptions::default();
        options.spin = spin;
        options.store_extensions = extensions;
        let client = AsyncClient::connect_with(&socket, options).await?;
        client.init().await?;
        let ids: Vec<ObjectId> = (0..count).map(|_| ObjectId::random()).collect();
        let futures: Vec<_> = ids.iter().map(|id| client.as_future(*id)).collect();
        client.stats().await?;
        let cpu0 = cpu_time();
        let store0 = store_pid.and_then(process_cpu_time);
        let t0 = Instant::now();
        let child = spawn_producer(&socket, &ids, gap_us, opts.get("pin-producer"))?;
        let mut resolved = Vec::with_capacity(count);
        // Kept until the end: no release traffic during the measurement.
        let mut bufs = Vec::with_capacity(count);
        for (i, future) in futures.into_iter().enumerate() {
            let buf = future.await?;
            resolved.push(monotonic_ns());
            if buf.data() != (i as u64).to_le_bytes() {
                return Err::<_, Error>(format!("object {i} has the wrong contents").into());
            }
            bufs.push(buf);
        }
        let wall = t0.elapsed();
        let cpu = cpu_time().saturating_sub(cpu0);
        let store_cpu = store_pid
            .and_then(process_cpu_time)
            .zip(store0)
            .map(|(a, b)| a.saturating_sub(b));
        let sealed = seal_stamps(child)?;
        let lat: Vec<u64> = resolved
            .iter()
            .zip(&sealed)
            .map(|(r, s)| r.saturating_sub(*s))
            .collect();
        Ok::<_, Error>((lat, wall, cpu, store_cpu))
    })?;
    // The first few include connection set-up and cold caches.
    let warmup = (count / 100).min(100);
    let mut sorted = resolved[warmup..].to_vec();
    sorted.sort_unstable();
    let (p50, p90, p99, max) = (
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.9),
        percentile(&sorted, 0.99),
        percentile(&sorted, 1.0),
    );
    let pins = format!(
        "consumer {} producer {} store {}",
        opts.get("pin-consumer").unwrap_or("-"),
        opts.get("pin-producer").unwrap_or("-"),
        opts.get("pin-store").unwrap_or("-"),
    );
    println!("seal -> future resolved, {} samples ({kind} runtime, spin {} us, gap {gap_us} us, pins: {pins})", sorted.len(), spin.as_micros());
    println!("  median {:8.1} us", us(p50));
    println!("  p90    {:8.1} us", us(p90));
    println!("  p99    {:8.1} us", us(p99));
    println!("  max    {:8.1} us", us(max));
    let cpu_share = cpu.as_secs_f64() / wall.as_secs_f64();
    println!(
        "  consumer CPU {:.2} s over {:.2} s wall ({:.0}% of one CPU)",
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        cpu_share * 100.0
    );
    if let Some(s) = store_cpu {
        println!("  store CPU    {:.2} s", s.as_secs_f64());
    }
    println!(
        "{{\"mode\":\"latency\",\"runtime\":\"{kind}\",\"spin_us\":{},\"gap_us\":{gap_us},\"pins\":\"{pins}\",\"samples\":{},\"median_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1},\"consumer_cpu_share\":{:.3}}}",
        spin.as_micros(),
        sorted.len(),
        us(p50),
        us(p90),
        us(p99),
        us(max),
        cpu_share
    );
    Ok(())
}

/// Memory per pending future, then all of them resolved by a fast producer.
fn memory(args: &[String]) -> Result<(), Error> {
    let (socket, opts) = Options::parse(args)?;
    let count = opts.num("count", 100_000)? as usize;
    let kind = opts.get("runtime").unwrap_or("multi").to_string();
    let rt = runtime(&kind)?;
    rt.block_on(async {
        let client = AsyncClient::connect(&socket).await?;
        client.init().await?;
        let ids: Vec<ObjectId> = (0..count).map(|_| ObjectId::random()).collect();

        // Settle the client's own buffers first with a small batch.
        let warm: Vec<_> = (0..1000).map(|_| client.as_future(ObjectId::random())).collect();
        client.stats().await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(warm);
        client.stats().await?;

        let rss0 = rss_bytes();
        let region = Region::new(GLOBAL);
        let futures: Vec<_> = ids.iter().map(|id| client.as_future(*id)).collect();
        // Every registration handled and every check answered.
        let registered = client.stats().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stats = region.change();
        let rss = rss_bytes().saturating_sub(rss0);
        // (stats_alloc already counts realloc growth in bytes_allocated.)
        let net = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
        let per_future = net as f64 / count as f64;
        println!("{count} pending futures on distinct ids ({} awaited objects)", registered.waiting_objects);
        println!("  heap      {:8.1} bytes per pending future (counting allocator: future + slot + router entry)", per_future);
        println!("  RSS       {:8.1} bytes per pending future", rss as f64 / count as f64);
        println!("  (AsFuture itself: {} bytes)", std::mem::size_of::<plasma_client::AsFuture>());

        // Resolution: a producer seals all of them back to back.
        let mut pending: FuturesUnordered<_> = futures
            .into_iter()
            .enumerate()
            .map(|(i, f)| async move { (i, f.await) })
            .collect();
        // The first poll registers 100,000 wakers: do it before the seals.
        if pending.next().now_or_never().is_some() {
            return Err("a future resolved before its object was sealed".into());
        }
        let child = spawn_producer(&socket, &ids, 0, None)?;
        let mut resolved = vec![0u64; count];
        while let Some((i, outcome)) = pending.next().await {
            outcome?;
            resolved[i] = monotonic_ns();
        }
        let sealed = seal_stamps(child)?;
        let mut lat: Vec<u64> = resolved
            .iter()
            .zip(&sealed)
            .map(|(r, s)| r.saturating_sub(*s))
            .collect();
        let last_seal = sealed.iter().copied().max().unwrap_or(0);
        let all_done = resolved.iter().copied().max().unwrap_or(0);
        let first_seal = sealed.iter().copied().min().unwrap_or(0);
        lat.sort_unstable();
        println!("  producer sealed {count} objects in {:.2} s", us(last_seal - first_seal) / 1e6);
        println!(
            "  seal -> resolved: median {:.1} us, p99 {:.1} us, max {:.1} ms; last seal -> all resolved {:.2} ms",
            us(percentile(&lat, 0.5)),
            us(percentile(&lat, 0.99)),
            us(percentile(&lat, 1.0)) / 1000.0,
            us(all_done.saturating_sub(last_seal)) / 1000.0
        );
        println!(
            "{{\"mode\":\"memory\",\"count\":{count},\"heap_bytes_per_future\":{per_future:.1},\"rss_bytes_per_future\":{:.1},\"median_us\":{:.1},\"p99_us\":{:.1},\"max_ms\":{:.2},\"last_seal_to_all_resolved_ms\":{:.2}}}",
            rss as f64 / count as f64,
            us(percentile(&lat, 0.5)),
            us(percentile(&lat, 0.99)),
            us(percentile(&lat, 1.0)) / 1000.0,
            us(all_done.saturating_sub(last_seal)) / 1000.0
        );
        Ok::<_, Error>(())
    })
}
