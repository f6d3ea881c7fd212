//! W18-W21, spilling to disk (issue 14), on our store alone: Plasma 11 has
//! nothing to compare (its external store keeps evicted objects in memory).
//!
//! * W18, W19: a store of `spill_capacity` is filled with objects of one
//!   size; one create of the whole capacity pushes all of them out (its
//!   reply comes when the last write has ended: spill write throughput);
//!   that object is deleted and one get of every id brings them all back
//!   (restore throughput). Next to them, in the same directory and run, the
//!   disk's own speed: the same bytes written sequentially to one file in
//!   1 MiB writes and synced, then read back after their pages were dropped
//!   from the cache (the spill files' pages are dropped too).
//! * W20: another client gets and releases a 1 KiB object in a loop while
//!   one large object is spilled; its p99.
//! * W21: the store's anonymous memory per spilled object, objects of 64 B
//!   spilled to /dev/shm (the heap cost of an object on disk).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use plasma_client::{Client, ObjectId};
use plasma_store::disk::CHUNK;

use super::Ctx;
use crate::daemon::{Daemon, Side};
use crate::error::{client, io, BenchError, Result};
use crate::ids::{pattern, IdGen};
use crate::placement::Placement;
use crate::plan::{count_label, size_label};
use crate::procfs;
use crate::results::{Anchor, ClientKind, Contender, Row, Target, Unit};
use crate::rust_client::socket_only_client;
use crate::sample::{quantile, Sample};

/// Size of the object another client gets during a spill (W20).
const SMALL: u64 = 1024;
/// Size of the objects of the memory figure (W21).
const TINY: u64 = 64;

fn gbps(bytes: u64) -> impl Fn(&Sample) -> f64 {
    move |s| bytes as f64 / s.secs / 1e9
}

/// A fresh spill directory in the system temp dir (on the disk measured).
fn disk_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("plasma-bench-spill-")
        .tempdir()
        .map_err(io("create a spill directory"))
}

/// Starts our store of `capacity` bytes spilling to `dir`.
fn start(ctx: &Ctx, capacity: u64, dir: &Path) -> Result<Daemon> {
    let extra: Vec<OsString> = vec!["--spill-dir".into(), dir.into()];
    ctx.start_with(Side::Ours, capacity, Placement::Unpinned, &extra)
}

/// The number on the debug text's line `NAME: N`.
fn figure(c: &Client, name: &str) -> Result<u64> {
    let text = c.debug_string().map_err(client("debug string"))?;
    let prefix = format!("{name}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| BenchError::Client(format!("no `{name}` line in the debug text")))
}

/// A sample of `ops` operations over `secs`, with the store's and this
/// thread's CPU since `cpu0`.
fn sample(store: &Daemon, ops: u64, t0: Instant, cpu0: (f64, f64)) -> Result<Sample> {
    Ok(Sample {
        ops,
        secs: t0.elapsed().as_secs_f64(),
        store_cpu_secs: store.cpu_secs()? - cpu0.0,
        client_cpu_secs: procfs::thread_cpu_secs()? - cpu0.1,
        ..Sample::default()
    })
}

fn cpu_now(store: &Daemon) -> Result<(f64, f64)> {
    Ok((store.cpu_secs()?, procfs::thread_cpu_secs()?))
}

/// The disk's sequential write (synced) and read (uncached) of `bytes` in
/// `dir`, in 1 MiB steps as the spill workers do.
fn disk_speed(dir: &Path, bytes: u64) -> Result<(Sample, Sample)> {
    let path = dir.join("disk-anchor");
    let chunk = pattern(CHUNK as u64);
    let t0 = Instant::now();
    let mut f = File::create(&path).map_err(io("create the disk anchor file"))?;
    let mut done = 0u64;
    while done < bytes {
        let n = (bytes - done).min(CHUNK as u64) as usize;
        f.write_all(&chunk[..n])
            .map_err(io("write the disk anchor file"))?;
        done += n as u64;
    }
    f.sync_data().map_err(io("sync the disk anchor file"))?;
    let write = Sample {
        ops: 1,
        secs: t0.elapsed().as_secs_f64(),
        ..Sample::default()
    };
    let _ = posix_fadvise(f.as_raw_fd(), 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
    drop(f);
    let mut buf = vec![0u8; CHUNK];
    let t0 = Instant::now();
    let mut f = File::open(&path).map_err(io("open the disk anchor file"))?;
    let mut read = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io("read the disk anchor file"))?;
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    let read_sample = Sample {
        ops: 1,
        secs: t0.elapsed().as_secs_f64(),
        ..Sample::default()
    };
    let _ = std::fs::remove_file(&path);
    if read != bytes {
        return Err(BenchError::Client(format!(
            "read {read} of the {bytes} anchor bytes"
        )));
    }
    Ok((write, read_sample))
}

/// One repetition of W18 and W19 for objects of `size`: the spill write
/// and the restore of `capacity` bytes.
fn spill_once(ctx: &Ctx, size: u64, capacity: u64) -> Result<(Sample, Sample)> {
    let dir = disk_dir()?;
    let store = start(ctx, capacity, dir.path())?;
    let c = Client::connect(store.socket()).map_err(client("connect"))?;
    let data = pattern(size);
    let mut ids = IdGen::new();
    let n = capacity / size;
    let objects: Vec<ObjectId> = (0..n).map(|_| ids.next_id()).collect();
    for id in &objects {
        let mut b = c.create(*id, size, b"").map_err(client("create"))?;
        b.write_data(&data);
        drop(b.seal().map_err(client("seal"))?);
    }
    // One create of the whole capacity: answered once everything is out.
    let big = ids.next_id();
    let cpu0 = cpu_now(&store)?;
    let t0 = Instant::now();
    let b = c.create(big, capacity, b"").map_err(client("create"))?;
    let write = sample(&store, n, t0, cpu0)?;
    drop(b.seal().map_err(client("seal"))?);
    c.delete(&[big]).map_err(client("delete"))?;
    let spilled = figure(&c, "spilled objects")?;
    if spilled != n {
        return Err(BenchError::Client(format!(
            "{spilled} of {n} objects spilled"
        )));
    }
    // One get of every id: answered once everything is back.
    let cpu0 = cpu_now(&store)?;
    let t0 = Instant::now();
    let got = c.get(&objects).map_err(client("get"))?;
    let read = sample(&store, n, t0, cpu0)?;
    let ok = got.first().is_some_and(|b| b.data() == &data[..]);
    drop(got);
    if !ok || figure(&c, "restores")? != n {
        return Err(BenchError::Client(format!(
            "the {n} objects did not all come back"
        )));
    }
    drop(c);
    store.stop()?;
    Ok((write, read))
}

/// W20: latencies (µs) of another client's get + release of 1 KiB while
/// an object of `big` bytes is spilled; the sample, and the spill's time.
fn gets_during_spill(ctx: &Ctx, big: u64) -> Result<(Vec<f64>, Sample, f64)> {
    let dir = disk_dir()?;
    let store = start(ctx, big + 16 * (1 << 20), dir.path())?;
    // Its gets go through the loop, as they should to show what the spill
    // costs the loop.
    let c = socket_only_client(&store)?;
    let mut ids = IdGen::new();
    let (victim, small, pusher) = (ids.next_id(), ids.next_id(), ids.next_id());
    let mut b = c.create(victim, big, b"").map_err(client("create"))?;
    b.write_data(&pattern(big));
    drop(b.seal().map_err(client("seal"))?);
    c.create_and_seal(small, &pattern(SMALL), b"")
        .map_err(client("create_and_seal"))?;
    for _ in 0..100 {
        drop(c.get(&[small]).map_err(client("get"))?);
    }
    let other = Client::connect(store.socket()).map_err(client("connect"))?;
    let done = AtomicBool::new(false);
    let mut lat = Vec::new();
    let cpu0 = cpu_now(&store)?;
    let t0 = Instant::now();
    let spill_secs = std::thread::scope(|s| -> Result<f64> {
        let push = s.spawn(|| {
            let t = Instant::now();
            // Needs the victim's memory: answered once it is on disk.
            let r = other.create(pusher, big, b"").map(drop);
            done.store(true, Ordering::SeqCst);
            r.map(|()| t.elapsed().as_secs_f64())
        });
        while !done.load(Ordering::SeqCst) {
            let t = Instant::now();
            drop(c.get(&[small]).map_err(client("get"))?);
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        push.join()
            .map_err(|_| BenchError::Client("the pushing client panicked".into()))?
            .map_err(client("create"))
    })?;
    let s = sample(&store, lat.len() as u64, t0, cpu0)?;
    if figure(&c, "spills")? < 1 {
        return Err(BenchError::Client("nothing was spilled".into()));
    }
    drop((c, other));
    store.stop()?;
    lat.sort_by(f64::total_cmp);
    Ok((lat, s, spill_secs))
}

/// W21: the store's anonymous memory per spilled object of 64 B, and how
/// many were spilled.
fn memory_per_spilled(ctx: &Ctx, n: u64) -> Result<(f64, u64)> {
    let dir = tempfile::Builder::new()
        .prefix("plasma-bench-spill-")
        .tempdir_in("/dev/shm")
        .map_err(io("create a spill directory in /dev/shm"))?;
    let capacity = 64 * TINY;
    let store = start(ctx, capacity, dir.path())?;
    let c = Client::connect(store.socket()).map_err(client("connect"))?;
    let before = store.rss_anon_bytes()?;
    let data = pattern(TINY);
    let mut ids = IdGen::new();
    for _ in 0..n {
        c.create_and_seal(ids.next_id(), &data, b"")
            .map_err(client("create_and_seal"))?;
    }
    // Everything out.
    let all = ids.next_id();
    drop(
        c.create(all, capacity, b"")
            .map_err(client("create"))?
            .seal(),
    );
    c.delete(&[all]).map_err(client("delete"))?;
    let after = store.rss_anon_bytes()?;
    let spilled = figure(&c, "spilled objects")?;
    drop(c);
    store.stop()?;
    Ok((after.saturating_sub(before) as f64 / n as f64, spilled))
}

fn anchor(name: &str, title: String, samples: Vec<Sample>, bytes: u64) -> Result<Anchor> {
    Ok(Anchor {
        name: name.into(),
        title,
        placement: None,
        unit: Unit::GbPerSec,
        result: Contender::from_samples(None, ClientKind::Anchor, samples, gbps(bytes))?,
    })
}

/// Runs W18-W21.
pub fn run(ctx: &Ctx, anchors: &mut Vec<Anchor>, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let cap = p.spill_capacity;
    let (mut disk_w, mut disk_r) = (Vec::new(), Vec::new());
    let mut per_size: Vec<(u64, Vec<Sample>, Vec<Sample>)> = p
        .spill_sizes
        .iter()
        .map(|&s| (s, Vec::new(), Vec::new()))
        .collect();
    for _ in 0..p.reps {
        let dir = disk_dir()?;
        let (w, r) = disk_speed(dir.path(), cap)?;
        disk_w.push(w);
        disk_r.push(r);
        for (size, writes, reads) in &mut per_size {
            let (w, r) = spill_once(ctx, *size, cap)?;
            writes.push(w);
            reads.push(r);
        }
    }
    let place = std::env::temp_dir();
    let capl = size_label(cap);
    let disk_write = anchor(
        "disk-write",
        format!(
            "the disk's sequential write of {capl} in 1 MiB writes, synced ({})",
            place.display()
        ),
        disk_w,
        cap,
    )?;
    let disk_read = anchor(
        "disk-read",
        format!(
            "the disk's sequential read of {capl} in 1 MiB reads, not cached ({})",
            place.display()
        ),
        disk_r,
        cap,
    )?;
    let (dw, dr) = (
        disk_write.result.summary.median,
        disk_read.result.summary.median,
    );
    anchors.push(disk_write);
    anchors.push(disk_read);
    for (size, writes, reads) in per_size {
        let label = size_label(size);
        let n = count_label(cap / size);
        let suffix = if size < (8 << 20) { "small" } else { "large" };
        let ours = |samples| {
            Contender::from_samples(Some(Side::Ours), ClientKind::Rust, samples, gbps(cap))
        };
        rows.push(
            Row::ours_only(
                &format!("W18-{suffix}"),
                format!("spill write of {n} objects of {label} ({capl}): one create pushes them all out"),
                None,
                Unit::GbPerSec,
                ours(writes)?,
                Some(Target::RatioAtLeast(0.8)),
            )
            .against_anchor("disk-write", dw),
        );
        rows.push(
            Row::ours_only(
                &format!("W19-{suffix}"),
                format!("restore of {n} objects of {label} ({capl}): one get brings them all back"),
                None,
                Unit::GbPerSec,
                ours(reads)?,
                Some(Target::RatioAtLeast(0.8)),
            )
            .against_anchor("disk-read", dr),
        );
    }

    let mut p99s = Vec::new();
    let mut samples = Vec::new();
    let mut notes = Vec::new();
    for _ in 0..p.reps {
        let (lat, s, spill_secs) = gets_during_spill(ctx, p.spill_big)?;
        p99s.push(quantile(&lat, 0.99) / 1e3);
        notes.push(format!(
            "{} gets during a spill of {:.2} s: median {:.3} ms, max {:.2} ms",
            lat.len(),
            spill_secs,
            quantile(&lat, 0.5) / 1e3,
            quantile(&lat, 1.0) / 1e3
        ));
        samples.push(s);
    }
    rows.push(
        Row::ours_only(
            "W20",
            format!(
                "get (+ release) of {} through the socket by another client while {} is spilled, p99",
                size_label(SMALL),
                size_label(p.spill_big)
            ),
            None,
            Unit::Millis,
            Contender::from_values(Some(Side::Ours), ClientKind::Rust, p99s, samples)?,
            Some(Target::AtMost(5.0)),
        )
        .with_note(notes.join("; ")),
    );

    let mut per_object = Vec::new();
    let mut spilled = 0;
    for _ in 0..p.reps {
        let (b, s) = memory_per_spilled(ctx, p.spill_objects)?;
        per_object.push(b);
        spilled = s;
    }
    rows.push(
        Row::ours_only(
            "W21",
            format!(
                "store memory (RssAnon) per spilled object, {} objects of {} on disk",
                count_label(p.spill_objects),
                size_label(TINY)
            ),
            None,
            Unit::BytesPerObject,
            Contender::from_values(Some(Side::Ours), ClientKind::Rust, per_object, Vec::new())?,
            None,
        )
        .with_note(format!(
            "{spilled} objects on disk at the reading; a resident object costs W7's figure."
        )),
    );
    Ok(())
}
