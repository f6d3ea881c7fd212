//! [`TestStore`]: one daemon per test, on its own socket, gone on drop.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use plasma_protocol::{Reply, Request};

use crate::{bin_path, wait_timeout, ClientProcess, RawConnection, PATIENCE};

/// Capacity (`-m`) of a store started without [`TestStoreBuilder::memory`].
const DEFAULT_MEMORY: u64 = 10_000_000;

/// A running `e2e-store` daemon in a fresh temp dir.
///
/// On drop it gets SIGTERM, then SIGKILL if it has not exited after a short
/// wait, and its temp dir (socket, captured stderr) is removed.
pub struct TestStore {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
    stderr_path: PathBuf,
    memory: u64,
    spill_dir: Option<PathBuf>,
    exited: Option<ExitStatus>,
}

/// Where a store started with [`TestStoreBuilder::spill`] spills.
#[derive(Clone, Debug)]
pub enum SpillPlace {
    /// `spill/` in the store's own temp dir.
    Own,
    /// This directory (which may outlive the store, e.g. for a restart).
    Dir(PathBuf),
    /// `spill/` in the store's temp dir with a tmpfs of this many bytes
    /// mounted on it, in a mount namespace of the store's own (gone with
    /// the store; only root can do this, see [`tmpfs_possible`]).
    Tmpfs(u64),
}

/// Whether this process may give a store a tmpfs of its own
/// ([`SpillPlace::Tmpfs`]): it runs as root and `unshare` exists.
pub fn tmpfs_possible() -> bool {
    nix::unistd::geteuid().is_root()
        && Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Options for [`TestStore`]; made by [`TestStore::builder`].
#[derive(Clone, Debug)]
pub struct TestStoreBuilder {
    memory: u64,
    external_store: bool,
    args: Vec<OsString>,
    socket: Option<PathBuf>,
    umask: Option<u32>,
    nofile: Option<u32>,
    program: Option<PathBuf>,
    spill: Option<SpillPlace>,
    envs: Vec<(OsString, OsString)>,
    flags_in_env: bool,
    activation: Option<Activation>,
}

/// Who binds the socket and passes it to the daemon.
#[derive(Clone, Debug)]
enum Activation {
    /// This package's `e2e-activate`, setting this file mode.
    Ours { mode: u32 },
    /// Debian's `systemd-socket-activate` at this path.
    Systemd(PathBuf),
}

impl TestStore {
    /// A store with the default options (10 MB, no external store).
    pub fn start() -> TestStore {
        Self::builder().start()
    }

    /// Options to start a store with.
    pub fn builder() -> TestStoreBuilder {
        TestStoreBuilder {
            memory: DEFAULT_MEMORY,
            external_store: false,
            args: Vec::new(),
            socket: None,
            umask: None,
            nofile: None,
            program: None,
            spill: None,
            envs: Vec::new(),
            flags_in_env: false,
            activation: None,
        }
    }

    /// The listening socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The `-m` value the store was started with.
    pub fn memory(&self) -> u64 {
        self.memory
    }

    /// The store's temp dir (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The store's `--spill-dir`, if it spills.
    pub fn spill_dir(&self) -> Option<&Path> {
        self.spill_dir.as_deref()
    }

    /// The files in the spill directory now (but its lock file), by name.
    pub fn spill_files(&self) -> Vec<String> {
        let dir = self.spill_dir.as_deref().expect("a store that spills");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != plasma_store::disk::LOCK_FILE)
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A new blocking client connected to this store.
    pub fn client(&self) -> plasma_client::Client {
        plasma_client::Client::connect(&self.socket).unwrap_or_else(|e| {
            panic!(
                "connecting to the store at {} failed: {e}\n{}",
                self.socket.display(),
                self.stderr_report()
            )
        })
    }

    /// A new blocking client with `options`, connected to this store.
    pub fn client_with(&self, options: plasma_client::ClientOptions) -> plasma_client::Client {
        plasma_client::Client::connect_with(&self.socket, options).unwrap_or_else(|e| {
            panic!(
                "connecting to the store at {} failed: {e}\n{}",
                self.socket.display(),
                self.stderr_report()
            )
        })
    }

    /// Starts `e2e-client SUBCOMMAND SOCKET ARGS...` against this store.
    pub fn client_process(&self, subcommand: &str, args: &[&str]) -> ClientProcess {
        let mut all: Vec<OsString> = vec![subcommand.into(), self.socket.clone().into()];
        all.extend(args.iter().map(OsString::from));
        ClientProcess::spawn(&all)
    }

    /// The store's GetDebugString text, asked on a connection of its own.
    pub fn debug_text(&self) -> String {
        let (mut conn, _) = RawConnection::connect_handshake(&self.socket);
        match conn.request(&Request::DebugString) {
            Reply::DebugString { text } => text,
            other => panic!("expected a GetDebugStringReply, got {other:?}"),
        }
    }

    /// The number on the debug text's line `NAME: N`; panics if there is
    /// none (Plasma 11's store has only `allocated bytes` of ours).
    pub fn debug_figure(&self, name: &str) -> u64 {
        let text = self.debug_text();
        let prefix = format!("{name}: ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{name}: N` line in the debug text:\n{text}"))
    }

    /// Clients whose Get waits in the store now.
    pub fn waiting_gets(&self) -> u64 {
        self.debug_figure("waiting gets")
    }

    /// Await registrations in the store now, over all clients.
    pub fn awaited_objects(&self) -> u64 {
        self.debug_figure("awaited objects")
    }

    /// Σ data + metadata of the objects occupying the arena now.
    pub fn allocated_bytes(&self) -> u64 {
        self.debug_figure("allocated bytes")
    }

    /// Whether the daemon process is still running.
    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Runs the `plasma` command (this package's `e2e-plasma`) against this
    /// store with `args`, to completion (panics if it takes longer than
    /// [`PATIENCE`]).
    pub fn plasma(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(bin_path("e2e-plasma"));
        command.arg("--socket").arg(&self.socket).args(args);
        crate::run_bounded(&mut command, PATIENCE)
    }

    /// The metrics URL the daemon logged (started with
    /// `--metrics-listen 127.0.0.1:0`, it picks a free port and says which).
    pub fn metrics_url(&self) -> String {
        let mut url = None;
        crate::eventually("the store logs its metrics address", || {
            url = self.stderr_text().lines().find_map(|l| {
                let start = l.find("http://")?;
                let end = l[start..].find("/metrics")? + start + "/metrics".len();
                Some(l[start..end].to_string())
            });
            url.is_some()
        });
        url.unwrap_or_default()
    }

    /// Sends SIGTERM and returns at once (see [`TestStore::wait_exit`]).
    pub fn sigterm(&mut self) {
        if self.poll_exit().is_none() {
            kill(self.nix_pid(), Signal::SIGTERM).expect("sending SIGTERM to the store");
        }
    }

    /// Waits for the daemon to exit (panics after [`PATIENCE`]).
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(status) = self.poll_exit() {
            return status;
        }
        match wait_timeout(&mut self.child, PATIENCE) {
            Some(status) => {
                self.exited = Some(status);
                status
            }
            None => panic!(
                "the store still runs after {PATIENCE:?}\n{}",
                self.stderr_report()
            ),
        }
    }

    /// Kills the daemon with SIGKILL (no cleanup on its side) and reaps it.
    /// The socket file stays behind, as after a crash.
    pub fn kill(&mut self) {
        if self.poll_exit().is_none() {
            let _ = kill(self.nix_pid(), Signal::SIGKILL);
            self.exited = Some(self.child.wait().expect("waiting for the killed store"));
        }
    }

    /// Sends SIGTERM and waits for the exit status (panics if the daemon is
    /// still running after [`PATIENCE`]).
    pub fn terminate(&mut self) -> ExitStatus {
        if let Some(status) = self.poll_exit() {
            return status;
        }
        kill(self.nix_pid(), Signal::SIGTERM).expect("sending SIGTERM to the store");
        match wait_timeout(&mut self.child, PATIENCE) {
            Some(status) => {
                self.exited = Some(status);
                status
            }
            None => panic!(
                "the store did not exit within {PATIENCE:?} of SIGTERM\n{}",
                self.stderr_report()
            ),
        }
    }

    /// Panics (with the daemon's stderr) unless the daemon is still running.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.poll_exit() {
            panic!(
                "the store exited unexpectedly ({status})\n{}",
                self.stderr_report()
            );
        }
    }

    /// The daemon's stderr, framed for a panic message.
    pub fn stderr_report(&self) -> String {
        format!(
            "--- store stderr ---\n{}--- end of store stderr ---",
            self.stderr_text()
        )
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("polling the store process");
        }
        self.exited
    }

    fn nix_pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits in i32"))
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if self.exited.is_some() || matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = kill(self.nix_pid(), Signal::SIGTERM);
        if wait_timeout(&mut self.child, Duration::from_secs(2)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl TestStoreBuilder {
    /// The capacity in bytes (`-m`).
    pub fn memory(mut self, bytes: u64) -> Self {
        self.memory = bytes;
        self
    }

    /// Whether to pass `-e hashtable://test` (evict into the external store).
    pub fn external_store(mut self, on: bool) -> Self {
        self.external_store = on;
        self
    }

    /// One more command-line argument for the daemon.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Listen on this path instead of a fresh one in the store's temp dir.
    pub fn socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.socket = Some(path.into());
        self
    }

    /// Run Arrow Plasma 11's own `plasma-store-server` (from the pyarrow 11
    /// venv) instead of ours, with the same flags: for tests of our clients
    /// against the store they must stay compatible with.
    pub fn plasma11(mut self) -> Self {
        self.program = Some(crate::pyenv::pyarrow_dir().join("plasma-store-server"));
        self
    }

    /// One more environment variable for the daemon.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Give the socket and capacity as `PLASMA_STORE_SOCKET` and
    /// `PLASMA_STORE_MEMORY` instead of `-s` and `-m`.
    pub fn flags_in_env(mut self) -> Self {
        self.flags_in_env = true;
        self
    }

    /// Socket activation, as systemd does it: this package's `e2e-activate`
    /// binds and listens on the socket (with file mode `mode`), passes it
    /// as descriptor 3 with `LISTEN_FDS=1` and `LISTEN_PID`, and execs the
    /// daemon.
    pub fn socket_activation(mut self, mode: u32) -> Self {
        self.activation = Some(Activation::Ours { mode });
        self
    }

    /// Socket activation by systemd's own `systemd-socket-activate` (at
    /// `tool`), which execs the daemon at the first connection.
    pub fn systemd_socket_activate(mut self, tool: impl Into<PathBuf>) -> Self {
        self.activation = Some(Activation::Systemd(tool.into()));
        self
    }

    /// Starts the daemon without waiting for its socket (for tests that
    /// watch the start-up itself).
    pub fn start_without_waiting(self) -> TestStore {
        self.spawn()
    }

    /// Start the daemon under this umask (through `sh -c 'umask …; exec …'`).
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }

    /// Spill objects pushed out of memory to `place`, with `--spill-max
    /// max` if given.
    pub fn spill(mut self, place: SpillPlace, max: Option<u64>) -> Self {
        self.spill = Some(place);
        if let Some(max) = max {
            self.args.push("--spill-max".into());
            self.args.push(max.to_string().into());
        }
        self
    }

    /// Start the daemon with this descriptor limit (soft and hard
    /// `RLIMIT_NOFILE`, set by `ulimit -n` in the shell that execs it).
    pub fn nofile(mut self, limit: u32) -> Self {
        self.nofile = Some(limit);
        self
    }

    /// Starts the daemon and waits until its socket accepts connections.
    /// Panics with the daemon's stderr if it exits or does not listen in time.
    pub fn start(self) -> TestStore {
        let mut store = self.spawn();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if UnixStream::connect(&store.socket).is_ok() {
                return store;
            }
            if let Some(status) = store.poll_exit() {
                panic!(
                    "the store exited during start-up ({status})\n{}",
                    store.stderr_report()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the store did not accept connections on {} within {PATIENCE:?}\n{}",
                    store.socket.display(),
                    store.stderr_report()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts a daemon that is expected to refuse to run, and returns its
    /// exit status and stderr. Panics (after killing it) if it is still
    /// running after [`PATIENCE`].
    pub fn start_expecting_exit(self) -> (ExitStatus, String) {
        let mut store = self.spawn();
        match wait_timeout(&mut store.child, PATIENCE) {
            Some(status) => {
                store.exited = Some(status);
                (status, store.stderr_text())
            }
            None => panic!(
                "the store was expected to exit but still runs after {PATIENCE:?}\n{}",
                store.stderr_report()
            ),
        }
    }

    fn spawn(self) -> TestStore {
        let dir = tempfile::Builder::new()
            .prefix("plasma-e2e-")
            .tempdir()
            .expect("creating the store's temp dir");
        let socket = self
            .socket
            .clone()
            .unwrap_or_else(|| dir.path().join("plasma.sock"));
        let stderr_path = dir.path().join("store.stderr");
        let stderr = File::create(&stderr_path).expect("creating the store's stderr file");

        let mut args: Vec<OsString> = if self.flags_in_env {
            Vec::new()
        } else {
            vec![
                "-s".into(),
                socket.clone().into(),
                "-m".into(),
                self.memory.to_string().into(),
            ]
        };
        if self.external_store {
            args.push("-e".into());
            args.push("hashtable://test".into());
        }
        let spill_dir = self.spill.as_ref().map(|place| match place {
            SpillPlace::Dir(d) => d.clone(),
            SpillPlace::Own | SpillPlace::Tmpfs(_) => dir.path().join("spill"),
        });
        if let Some(d) = &spill_dir {
            args.push("--spill-dir".into());
            args.push(d.clone().into());
        }
        args.extend(self.args);

        let program = self.program.unwrap_or_else(|| bin_path("e2e-store"));
        let program_name = program.clone();
        // Process settings that only a shell in between sets before exec.
        let mut setup = Vec::new();
        if let Some(mask) = self.umask {
            setup.push(format!("umask {mask:03o}"));
        }
        if let Some(limit) = self.nofile {
            setup.push(format!("ulimit -n {limit}"));
        }
        let tmpfs = match (&self.spill, &spill_dir) {
            (Some(SpillPlace::Tmpfs(size)), Some(d)) => Some((*size, d.clone())),
            _ => None,
        };
        if let Some((size, d)) = &tmpfs {
            // In the namespace `unshare` made: gone with the store.
            setup.push(format!(
                "mkdir -p '{0}' && mount -t tmpfs -o size={size} tmpfs '{0}'",
                d.display()
            ));
        }
        let mut command = match self.activation {
            Some(Activation::Ours { mode }) => {
                let mut activate = Command::new(bin_path("e2e-activate"));
                activate.arg(&socket).arg(format!("{mode:o}")).arg(program);
                activate
            }
            Some(Activation::Systemd(tool)) => {
                let mut activate = Command::new(tool);
                activate.arg("-l").arg(&socket).arg(program);
                activate
            }
            None if setup.is_empty() => Command::new(program),
            None => {
                let mut sh = if tmpfs.is_some() {
                    let mut u = Command::new("unshare");
                    u.args(["--mount", "--propagation", "private", "sh"]);
                    u
                } else {
                    Command::new("sh")
                };
                setup.push("exec \"$0\" \"$@\"".into());
                sh.arg("-c").arg(setup.join(" && ")).arg(program);
                sh
            }
        };
        if self.flags_in_env {
            command
                .env("PLASMA_STORE_SOCKET", &socket)
                .env("PLASMA_STORE_MEMORY", self.memory.to_string());
        }
        let child = command
            .args(&args)
            .envs(self.envs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", program_name.display()));
        TestStore {
            child,
            dir,
            socket,
            stderr_path,
            memory: self.memory,
            spill_dir,
            exited: None,
        }
    }
}
