//! A store daemon under test (ours or Plasma's), in a temp dir of its own,
//! stopped by pid when done.

use std::fmt;
use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::Serialize;
use tempfile::TempDir;

use crate::error::{io, BenchError, Result};
use crate::placement::Cpus;
use crate::procfs;
use crate::setup::Env;

/// How long a store may take to open its socket (ours backs its whole arena
/// before it listens).
const START_PATIENCE: Duration = Duration::from_secs(60);
/// How long a store may take to exit after SIGTERM.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// How long our store (`--spin-us`) and our client (`ClientOptions::spin`)
/// poll before they sleep in the spinning configuration.
pub const SPIN_US: u64 = 50;

/// Which store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// This project's `plasma-store`, default flags.
    Ours,
    /// This project's `plasma-store --spin-us SPIN_US`.
    OursSpin,
    /// Arrow Plasma 11's `plasma-store-server`.
    Plasma,
}

impl Side {
    /// Every side, in the order a session starts them.
    pub const ALL: [Side; 3] = [Side::Ours, Side::OursSpin, Side::Plasma];
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Side::Ours => f.write_str("plasma-store"),
            Side::OursSpin => write!(f, "plasma-store --spin-us {SPIN_US}"),
            Side::Plasma => f.write_str("Plasma 11"),
        }
    }
}

/// A running store. Dropping it kills the process if `stop` was not called.
pub struct Daemon {
    side: Side,
    child: Option<Child>,
    pid: u32,
    socket: PathBuf,
    started_in: Duration,
    _dir: TempDir,
}

impl Daemon {
    /// Starts `side` with `capacity` bytes and the flags `extra`, pinned to
    /// `cpu` (or not), and waits until its socket accepts connections.
    pub fn start(
        env: &Env,
        cpus: &Cpus,
        side: Side,
        capacity: u64,
        cpu: Option<usize>,
        extra: &[std::ffi::OsString],
    ) -> Result<Daemon> {
        static SERIAL: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::Builder::new()
            .prefix("plasma-bench-")
            .tempdir()
            .map_err(io("create a temp dir for a store socket"))?;
        let socket = dir.path().join("store.sock");
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        let log_path = env.logs.join(format!(
            "{}-{n}.log",
            match side {
                Side::Ours => "plasma-store",
                Side::OursSpin => "plasma-store-spin",
                Side::Plasma => "plasma-store-server",
            }
        ));
        let log = File::create(&log_path).map_err(io(format!("create {}", log_path.display())))?;
        let mut cmd = match side {
            Side::Ours | Side::OursSpin => {
                let mut c = Command::new(&env.ours[0]);
                c.args(&env.ours[1..]);
                if side == Side::OursSpin {
                    c.arg("--spin-us").arg(SPIN_US.to_string());
                }
                c
            }
            Side::Plasma => Command::new(&env.plasma_server),
        };
        cmd.arg("-s")
            .arg(&socket)
            .arg("-m")
            .arg(capacity.to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let t0 = Instant::now();
        let child = cpus
            .pinned(cpu, || cmd.spawn())?
            .map_err(io(format!("start {side}")))?;
        let mut daemon = Daemon {
            side,
            pid: child.id(),
            child: Some(child),
            socket,
            started_in: Duration::ZERO,
            _dir: dir,
        };
        daemon.wait_ready(&log_path)?;
        daemon.started_in = t0.elapsed();
        Ok(daemon)
    }

    fn wait_ready(&mut self, log: &Path) -> Result<()> {
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            let exited = match self.child.as_mut() {
                Some(c) => c.try_wait().map_err(io("poll a starting store"))?,
                None => None,
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(BenchError::Daemon(format!(
                    "{} exited at start-up ({status}); log {}:\n{}",
                    self.side,
                    log.display(),
                    std::fs::read_to_string(log).unwrap_or_default()
                )));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Daemon(format!(
                    "{} did not open {} within {START_PATIENCE:?}",
                    self.side,
                    self.socket.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Which store this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The socket clients connect to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// From spawn to the first accepted connection.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// CPU seconds the store has used so far.
    pub fn cpu_secs(&self) -> Result<f64> {
        procfs::process_cpu_secs(self.pid)
    }

    /// The store's context switches so far (all threads).
    pub fn switches(&self) -> Result<crate::sample::Switches> {
        procfs::process_switches(self.pid)
    }

    /// The store's anonymous resident memory (its heap: tables, indexes).
    pub fn rss_anon_bytes(&self) -> Result<u64> {
        procfs::rss_anon_bytes(self.pid)
    }

    /// Sends SIGTERM and waits for the exit (SIGKILL after a grace period).
    pub fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_PATIENCE;
        loop {
            // Stopped by our signal or exited by itself: both are fine.
            if child.try_wait().map_err(io("wait for a store"))?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BenchError::Daemon(format!(
                    "{} ignored SIGTERM for {STOP_PATIENCE:?} and was killed",
                    self.side
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
