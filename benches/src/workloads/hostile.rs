//! W17, hostile load: how well-behaved clients fare while others misbehave,
//! all at once: 100 slowloris peers (each trickles a frame it never
//! finishes, and comes back when dropped), a subscriber that never reads its
//! notifications, a client that floods `list` and never reads the replies
//! (and comes back when dropped), and 1,000 idle connected clients. Our
//! Rust client measures create + write + seal and get latencies, first on
//! the quiet store, then under that load; the store's anonymous memory is
//! read before, during (peak) and after.
//!
//! Our store only. Plasma 11 reads a started frame to its end with blocking
//! reads, so one slowloris peer stalls it for every client (docs/protocol.md
//! §3); its figures would say nothing but "hung", and a hung store would
//! hang the run.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use plasma_client::{Client, ObjectId};
use plasma_protocol::{Encoder, Request, HEADER_LEN};

use super::Ctx;
use crate::daemon::{Daemon, Side};
use crate::error::{client, BenchError, Result};
use crate::placement::Placement;
use crate::plan::count_label;
use crate::procfs;
use crate::results::{ClientKind, Contender, Row, Target, Unit};
use crate::rust_client::socket_only_client;
use crate::sample::{quantile, Sample};

/// Object size of the measured operations.
const SIZE: usize = 1024;
/// Payload length the slowloris peers announce (and never finish).
const SLOW_FRAME: usize = 64 * 1024;
/// Pause between two trickled bytes of each slowloris peer, and between two
/// memory readings.
const TRICKLE: Duration = Duration::from_millis(50);
/// How long a hostile peer's reads and connects may block.
const PATIENCE: Duration = Duration::from_secs(10);

/// The measured client's latencies (µs) of one phase, and its sample.
struct Phase {
    put_us: Vec<f64>,
    get_us: Vec<f64>,
    sample: Sample,
}

impl Phase {
    /// `n` puts of `SIZE` bytes (create + write + seal timed, the release
    /// not), then a get (+ release, untimed) of each object.
    fn measure(c: &Client, store: &Daemon, n: u64) -> Result<Phase> {
        let data = vec![0x5a; SIZE];
        let t0 = Instant::now();
        let (cpu0, store0) = (procfs::thread_cpu_secs()?, store.cpu_secs()?);
        let mut ids = Vec::with_capacity(n as usize);
        let mut put_us = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let id = ObjectId::random();
            let start = Instant::now();
            let mut b = c.create(id, SIZE as u64, b"").map_err(client("create"))?;
            b.write_data(&data);
            let sealed = b.seal().map_err(client("seal"))?;
            put_us.push(start.elapsed().as_secs_f64() * 1e6);
            drop(sealed);
            ids.push(id);
        }
        let mut get_us = Vec::with_capacity(ids.len());
        for id in &ids {
            let start = Instant::now();
            let got = c.get(&[*id]).map_err(client("get"))?;
            get_us.push(start.elapsed().as_secs_f64() * 1e6);
            drop(got);
        }
        let sample = Sample {
            ops: 2 * n,
            secs: t0.elapsed().as_secs_f64(),
            store_cpu_secs: store.cpu_secs()? - store0,
            client_cpu_secs: procfs::thread_cpu_secs()? - cpu0,
            ..Sample::default()
        };
        put_us.sort_by(f64::total_cmp);
        get_us.sort_by(f64::total_cmp);
        Ok(Phase {
            put_us,
            get_us,
            sample,
        })
    }
}

/// Raises this process's soft descriptor limit towards `want` (children,
/// the store among them, inherit it); returns the limit now in force.
fn raise_nofile(want: u64) -> Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| BenchError::Setup(format!("getrlimit(RLIMIT_NOFILE): {e}")))?;
    if soft >= want {
        return Ok(soft);
    }
    let new = want.min(hard);
    setrlimit(Resource::RLIMIT_NOFILE, new, hard)
        .map_err(|e| BenchError::Setup(format!("setrlimit(RLIMIT_NOFILE, {new}): {e}")))?;
    Ok(new)
}

/// A connection with the Connect handshake done (its reply read raw).
fn handshaken(socket: &Path, connect: &[u8]) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(PATIENCE))?;
    s.write_all(connect)?;
    let mut header = [0u8; HEADER_LEN];
    s.read_exact(&mut header)?;
    let len = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
    let mut payload = vec![0u8; usize::try_from(len).unwrap_or(0).min(1 << 16)];
    s.read_exact(&mut payload)?;
    Ok(s)
}

/// What the hostile peers saw.
#[derive(Default)]
struct Hostile {
    stop: AtomicBool,
    /// Times the store dropped a slowloris peer (each came back).
    slow_dropped: AtomicU64,
    /// Times the store dropped the client that never reads (it came back).
    deaf_dropped: AtomicU64,
    /// `list` requests the deaf client wrote.
    deaf_requests: AtomicU64,
    /// Largest store RssAnon seen while the load ran.
    peak_rss: AtomicU64,
}

impl Hostile {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// `peers` slowloris connections: each sends a frame header announcing
    /// `SLOW_FRAME` bytes, then one byte per `TRICKLE`; a dropped one
    /// reconnects and starts over. Also samples the store's memory.
    fn slowloris(&self, store: &Daemon, peers: usize) {
        let mut header = [0u8; HEADER_LEN];
        header[8..16].copy_from_slice(&3i64.to_le_bytes()); // CreateAndSealRequest
        header[16..24].copy_from_slice(&(SLOW_FRAME as i64).to_le_bytes());
        let open = || {
            let s = UnixStream::connect(store.socket()).ok()?;
            s.set_nonblocking(true).ok()?;
            Some((s, 0usize))
        };
        let mut conns: Vec<Option<(UnixStream, usize)>> = (0..peers).map(|_| open()).collect();
        while self.running() {
            for slot in &mut conns {
                let alive = match slot {
                    Some((s, sent)) => {
                        let byte = header.get(*sent).copied().unwrap_or(0);
                        match s.write(&[byte]) {
                            Ok(n) => {
                                *sent += n;
                                *sent < HEADER_LEN + SLOW_FRAME
                            }
                            Err(e) => e.kind() == ErrorKind::WouldBlock,
                        }
                    }
                    None => false,
                };
                if !alive {
                    if slot.is_some() {
                        self.slow_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    *slot = open();
                }
            }
            if let Ok(rss) = store.rss_anon_bytes() {
                self.peak_rss.fetch_max(rss, Ordering::Relaxed);
            }
            std::thread::sleep(TRICKLE);
        }
    }

    /// Floods `list` on one connection and never reads; when the store
    /// drops it, connects again.
    fn deaf_client(&self, socket: &Path, connect: &[u8]) {
        let mut list = Vec::new();
        Encoder::new().encode_request(&Request::List, &mut list);
        let burst: Vec<u8> = list.repeat(64);
        while self.running() {
            let Ok(mut s) = handshaken(socket, connect) else {
                std::thread::sleep(TRICKLE);
                continue;
            };
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            let mut at = 0;
            while self.running() {
                match s.write(&burst[at..]) {
                    Ok(n) => {
                        at = (at + n) % burst.len();
                        self.deaf_requests
                            .fetch_add((n / list.len()) as u64, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(_) => {
                        self.deaf_dropped.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }
}

/// Runs W17 against our store.
pub fn run(ctx: &Ctx, rows: &mut Vec<Row>) -> Result<()> {
    let p = &ctx.plan;
    let slow = p.hostile_slowloris;
    // Room to spare: the store sizes its client limit from this too.
    let want_fds = (2 * (p.hostile_idle + slow) as u64).max(4096);
    let limit = raise_nofile(want_fds)?;
    // Both the store and this process hold one descriptor per connection.
    let idle = p
        .hostile_idle
        .min(usize::try_from(limit.saturating_sub(slow as u64 + 256)).unwrap_or(0));
    let store = ctx.start(Side::Ours, p.small_capacity, Placement::Unpinned)?;
    // Through the socket: a direct get or inline put would not show how
    // the loop serves a well-behaved client among hostile ones.
    let c = socket_only_client(&store)?;
    let mut connect = Vec::new();
    Encoder::new().encode_request(&Request::Connect, &mut connect);

    let quiet = Phase::measure(&c, &store, p.hostile_iters)?;
    let rss_before = store.rss_anon_bytes()?;

    let hostile = Hostile::default();
    hostile.peak_rss.store(rss_before, Ordering::Relaxed);
    let (loaded, idle_ok) = std::thread::scope(|scope| -> Result<(Phase, usize)> {
        scope.spawn(|| hostile.slowloris(&store, slow));
        scope.spawn(|| hostile.deaf_client(store.socket(), &connect));
        let result = (|| {
            let _subscription = c.subscribe().map_err(client("subscribe"))?;
            let mut idle_conns = Vec::with_capacity(idle);
            for _ in 0..idle {
                match handshaken(store.socket(), &connect) {
                    Ok(s) => idle_conns.push(s),
                    Err(e) => {
                        ctx.progress(format!(
                            "hostile: idle client {} of {idle} failed: {e}",
                            idle_conns.len() + 1
                        ));
                        break;
                    }
                }
            }
            let phase = Phase::measure(&c, &store, p.hostile_iters)?;
            Ok((phase, idle_conns.len()))
        })();
        hostile.stop.store(true, Ordering::Relaxed);
        result
    })?;
    // The peers are gone; let the store see every hang-up before reading
    // its memory again.
    c.contains(ObjectId::random())
        .map_err(client("contains after the load"))?;
    std::thread::sleep(Duration::from_millis(200));
    let rss_after = store.rss_anon_bytes()?;
    let peak = hostile.peak_rss.load(Ordering::Relaxed);
    store.stop()?;

    let n = count_label(p.hostile_iters);
    let who = format!(
        "{slow} slowloris peers, a subscriber and a client that never read, {} idle clients",
        count_label(idle_ok as u64)
    );
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let rows_of = [
        (
            "W17-put",
            "create + write + seal of 1 KiB through the socket",
            &quiet.put_us,
            &loaded.put_us,
        ),
        (
            "W17-get",
            "get (+ release) of 1 KiB through the socket",
            &quiet.get_us,
            &loaded.get_us,
        ),
    ];
    for (id, what, calm, busy) in rows_of {
        let p99 = quantile(busy, 0.99) / 1e3;
        rows.push(
            Row::ours_only(
                id,
                format!("{what}, p99 of {n} by another client under hostile load ({who})"),
                None,
                Unit::Millis,
                Contender::from_values(
                    Some(Side::Ours),
                    ClientKind::Rust,
                    vec![p99],
                    vec![loaded.sample],
                )?,
                Some(Target::AtMost(5.0)),
            )
            .with_note(format!(
                "Under load median {:.3} ms, max {:.2} ms; on the quiet store p99 {:.3} ms.",
                quantile(busy, 0.5) / 1e3,
                quantile(busy, 1.0) / 1e3,
                quantile(calm, 0.99) / 1e3,
            )),
        );
    }
    rows.push(
        Row::ours_only(
            "W17-rss",
            format!("store memory (RssAnon), peak under the same hostile load ({who})"),
            None,
            Unit::Mebibytes,
            Contender::from_values(
                Some(Side::Ours),
                ClientKind::Rust,
                vec![mib(peak)],
                Vec::new(),
            )?,
            None,
        )
        .with_note(format!(
            "{:.1} MiB before the load, {:.1} MiB after the peers left. The store dropped slowloris peers {} times and the client that never reads {} times (it wrote {} list requests); descriptor limit {limit}.",
            mib(rss_before),
            mib(rss_after),
            hostile.slow_dropped.load(Ordering::Relaxed),
            hostile.deaf_dropped.load(Ordering::Relaxed),
            hostile.deaf_requests.load(Ordering::Relaxed),
        )),
    );
    Ok(())
}
