//! Workloads run by our Rust client, in this process (the store is another
//! process). The timed loop runs on the calling thread, pinned as asked;
//! its CPU time is the thread's, the store's is read from `/proc`.

use std::time::{Duration, Instant};

use plasma_client::{Client, ClientOptions, ObjectId};

use crate::daemon::{Daemon, SPIN_US};
use crate::error::{client, Result};

use crate::ids::{pattern, IdGen};
use crate::placement::Cpus;
use crate::procfs;
use crate::sample::Sample;

/// What the Rust client does in one repetition.
#[derive(Clone, Copy, Debug)]
pub enum RustOp {
    /// create + write + seal + release of `size` bytes, `iters` times, after
    /// `warmup` untimed ones; with `delete`, each object is deleted after
    /// its put (untimed).
    Put {
        size: u64,
        iters: u64,
        warmup: u64,
        delete: bool,
    },
    /// One object of `size` bytes, then get + release `iters` times, with
    /// the blocking `get` (timeout -1, like Plasma's `Get(ids, -1)`).
    Get { size: u64, iters: u64, warmup: u64 },
    /// The same with `try_get` (timeout 0, never waits).
    TryGet { size: u64, iters: u64, warmup: u64 },
    /// Puts as `Put` (no delete) by one `AsyncClient` on a current-thread
    /// runtime on this thread, keeping `depth` of them in flight at once
    /// (each its own create, write, seal and release; no batching by the
    /// caller).
    PipelinedPut {
        size: u64,
        iters: u64,
        warmup: u64,
        depth: usize,
    },
}

/// How the Rust client is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RustTune {
    /// `ClientOptions::default()`: digest at seal, no spinning.
    Default,
    /// The seal digest turned off.
    NoDigest,
    /// Polls `SPIN_US` for each reply before sleeping (digest on).
    Spin,
}

/// A client of `store` whose every request goes through the socket (our
/// `direct` capability off): what the rows that ask how the event loop
/// serves others under some load measure with. A direct get never meets
/// the loop, so it would show nothing of it.
pub fn socket_only_client(store: &Daemon) -> Result<Client> {
    let mut options = ClientOptions::default();
    options.direct = false;
    Client::connect_with(store.socket(), options).map_err(client("connect"))
}

/// Connects to `store` with `tune` and runs `op` pinned to `cpu`.
pub fn run(
    store: &Daemon,
    cpus: &Cpus,
    cpu: Option<usize>,
    op: RustOp,
    tune: RustTune,
) -> Result<Sample> {
    let mut options = ClientOptions::default();
    options.digest = tune != RustTune::NoDigest;
    if tune == RustTune::Spin {
        options.spin = Duration::from_micros(SPIN_US);
    }
    let c = Client::connect_with(store.socket(), options).map_err(client("connect"))?;
    cpus.pinned(cpu, || match op {
        RustOp::Put {
            size,
            iters,
            warmup,
            delete,
        } => put(&c, store, size, iters, warmup, delete),
        RustOp::Get {
            size,
            iters,
            warmup,
        } => get(&c, store, size, iters, warmup, false),
        RustOp::TryGet {
            size,
            iters,
            warmup,
        } => get(&c, store, size, iters, warmup, true),
        RustOp::PipelinedPut {
            size,
            iters,
            warmup,
            depth,
        } => pipelined_put(store, size, iters, warmup, depth),
    })?
}

/// `n` puts by `client` with `depth` in flight.
async fn puts_in_flight(
    c: &plasma_client::AsyncClient,
    ids: &[ObjectId],
    src: &[u8],
    depth: usize,
) -> Result<()> {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let put = |id: ObjectId| {
        let c = c.clone();
        async move {
            let mut b = c
                .create(id, src.len() as u64, &[])
                .await
                .map_err(client("create"))?;
            b.write_data(src);
            drop(b.seal().await.map_err(client("seal"))?);
            Ok::<(), crate::error::BenchError>(())
        }
    };
    let mut todo = ids.iter();
    let mut in_flight = FuturesUnordered::new();
    for id in todo.by_ref().take(depth) {
        in_flight.push(put(*id));
    }
    while let Some(done) = in_flight.next().await {
        done?;
        if let Some(id) = todo.next() {
            in_flight.push(put(*id));
        }
    }
    Ok(())
}

fn pipelined_put(
    store: &Daemon,
    size: u64,
    iters: u64,
    warmup: u64,
    depth: usize,
) -> Result<Sample> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(crate::error::io("start a tokio runtime"))?;
    let src = pattern(size);
    let mut ids = IdGen::new();
    let warm: Vec<ObjectId> = (0..warmup).map(|_| ids.next_id()).collect();
    let todo: Vec<ObjectId> = (0..iters).map(|_| ids.next_id()).collect();
    rt.block_on(async {
        let c = plasma_client::AsyncClient::connect(store.socket())
            .await
            .map_err(client("async connect"))?;
        puts_in_flight(&c, &warm, &src, depth).await?;
        let store0 = store.cpu_secs()?;
        let me0 = procfs::thread_cpu_secs()?;
        let store_sw0 = store.switches()?;
        let me_sw0 = procfs::thread_switches()?;
        let t0 = Instant::now();
        puts_in_flight(&c, &todo, &src, depth).await?;
        let elapsed = t0.elapsed();
        Ok(Sample {
            ops: iters,
            secs: elapsed.as_secs_f64(),
            store_cpu_secs: store.cpu_secs()? - store0,
            client_cpu_secs: procfs::thread_cpu_secs()? - me0,
            store_switches: Some(store.switches()? - store_sw0),
            client_switches: Some(procfs::thread_switches()? - me_sw0),
        })
    })
}

/// Times one put of `size` bytes with a new client on `store` (connecting
/// is not timed): the first put a fresh store sees.
pub fn first_put(store: &Daemon, cpus: &Cpus, cpu: Option<usize>, size: u64) -> Result<Sample> {
    let c = Client::connect(store.socket()).map_err(client("connect"))?;
    let src = pattern(size);
    let id = IdGen::new().next_id();
    cpus.pinned(cpu, || {
        measure(store, || {
            let t0 = Instant::now();
            put_one(&c, id, &src)?;
            Ok((1, t0.elapsed()))
        })
    })?
}

fn put_one(c: &Client, id: ObjectId, src: &[u8]) -> Result<()> {
    let mut b = c
        .create(id, src.len() as u64, &[])
        .map_err(client("create"))?;
    b.write_data(src);
    drop(b.seal().map_err(client("seal"))?); // the drop releases it
    Ok(())
}

fn put(
    c: &Client,
    store: &Daemon,
    size: u64,
    iters: u64,
    warmup: u64,
    delete: bool,
) -> Result<Sample> {
    let src = pattern(size);
    let mut ids = IdGen::new();
    for _ in 0..warmup {
        let id = ids.next_id();
        put_one(c, id, &src)?;
        if delete {
            c.delete(&[id]).map_err(client("delete"))?;
        }
    }
    let todo: Vec<ObjectId> = (0..iters).map(|_| ids.next_id()).collect();
    measure(store, || {
        if !delete {
            let t0 = Instant::now();
            for &id in &todo {
                put_one(c, id, &src)?;
            }
            return Ok((iters, t0.elapsed()));
        }
        let mut timed = Duration::ZERO;
        for &id in &todo {
            let t0 = Instant::now();
            put_one(c, id, &src)?;
            timed += t0.elapsed();
            c.delete(&[id]).map_err(client("delete"))?;
        }
        Ok((iters, timed))
    })
}

fn get(
    c: &Client,
    store: &Daemon,
    size: u64,
    iters: u64,
    warmup: u64,
    try_get: bool,
) -> Result<Sample> {
    let id = IdGen::new().next_id();
    put_one(c, id, &pattern(size))?;
    // Each returns the bytes seen; the buffers drop at its end, which
    // releases the object.
    let once = || -> Result<usize> {
        if try_get {
            let found = c.try_get(&[id]).map_err(client("try_get"))?;
            Ok(found.iter().flatten().map(|b| b.data().len()).sum())
        } else {
            let found = c.get(&[id]).map_err(client("get"))?;
            Ok(found.iter().map(|b| b.data().len()).sum())
        }
    };
    for _ in 0..warmup {
        once()?;
    }
    measure(store, || {
        let t0 = Instant::now();
        let mut total = 0u64;
        for _ in 0..iters {
            total += once()? as u64;
        }
        let elapsed = t0.elapsed();
        if total != size * iters {
            return Err(crate::error::BenchError::Client(format!(
                "get returned {total} bytes in all, expected {}",
                size * iters
            )));
        }
        Ok((iters, elapsed))
    })
}

/// Runs `timed` (which returns ops and the wall time to count) and adds
/// the CPU the store and this thread spent meanwhile.
fn measure(store: &Daemon, timed: impl FnOnce() -> Result<(u64, Duration)>) -> Result<Sample> {
    let store0 = store.cpu_secs()?;
    let me0 = procfs::thread_cpu_secs()?;
    let store_sw0 = store.switches()?;
    let me_sw0 = procfs::thread_switches()?;
    let (ops, elapsed) = timed()?;
    let me_sw1 = procfs::thread_switches()?;
    let store_sw1 = store.switches()?;
    let me1 = procfs::thread_cpu_secs()?;
    let store1 = store.cpu_secs()?;
    Ok(Sample {
        ops,
        secs: elapsed.as_secs_f64(),
        store_cpu_secs: store1 - store0,
        client_cpu_secs: me1 - me0,
        store_switches: Some(store_sw1 - store_sw0),
        client_switches: Some(me_sw1 - me_sw0),
    })
}
