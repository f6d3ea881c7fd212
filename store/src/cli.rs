//! The command line, Plasma-compatible: `plasma-store -s SOCKET -m BYTES
//! [-d DIR] [-h] [-e hashtable://NAME]`, plus this store's own limits.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use tracing_subscriber::EnvFilter;

use crate::backing::DEFAULT_SHM_DIR;
use crate::config::{ServerConfig, DEFAULT_QUEUE_CAP, DEFAULT_SPIN};
use crate::server::{self, Shutdown};

/// Parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "plasma-store",
    version,
    about = "Shared-memory object store speaking Arrow Plasma 11's protocol",
    disable_help_flag = true
)]
pub struct Args {
    /// Unix socket path clients connect to.
    #[arg(short = 's', value_name = "SOCKET")]
    pub socket: PathBuf,
    /// Byte budget for objects: a byte count, or with a binary suffix k, M, G, T (4G = 4·2^30).
    #[arg(short = 'm', value_name = "BYTES", value_parser = parse_size)]
    pub memory: u64,
    /// Directory for the arena; /dev/shm means an anonymous memfd.
    #[arg(short = 'd', value_name = "DIR", default_value = DEFAULT_SHM_DIR)]
    pub dir: PathBuf,
    /// Back the arena with huge pages.
    #[arg(short = 'h', action = ArgAction::SetTrue)]
    pub huge_pages: bool,
    /// External store for evicted objects; only hashtable://NAME exists.
    #[arg(short = 'e', value_name = "NAME://REST", value_parser = parse_external_store)]
    pub external_store: Option<String>,
    /// Also accept clients running as this user id (repeatable).
    #[arg(long = "allow-uid", value_name = "UID")]
    pub allow_uid: Vec<u32>,
    /// Also accept clients whose group id is this (repeatable).
    #[arg(long = "allow-gid", value_name = "GID")]
    pub allow_gid: Vec<u32>,
    /// Largest frame payload accepted, in bytes (suffixes as for -m).
    #[arg(long = "max-frame", value_name = "BYTES", value_parser = parse_size,
          default_value_t = plasma_protocol::DEFAULT_MAX_FRAME_LEN)]
    pub max_frame: u64,
    /// Cap on one connection's queued output, in bytes (suffixes as for -m).
    #[arg(long = "queue-cap", value_name = "BYTES", value_parser = parse_size,
          default_value_t = DEFAULT_QUEUE_CAP)]
    pub queue_cap: u64,
    /// Time a started frame has to arrive completely, in milliseconds.
    #[arg(long = "frame-deadline-ms", value_name = "MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub frame_deadline_ms: u64,
    /// After serving anything, keep polling without sleeping for this many
    /// microseconds before blocking: a client's next request then meets an
    /// awake loop instead of paying a wake-up (tens of microseconds across
    /// vCPUs). Costs CPU only while requests keep coming; 0 turns it off.
    #[arg(long = "spin-us", value_name = "US", default_value_t = DEFAULT_SPIN.as_micros() as u64,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub spin_us: u64,
    /// Objects the directory of our direct gets can publish at once (by
    /// default one per 4 KiB of -m, at least 4,096 and at most 1,048,576;
    /// 64 bytes of shared memory each); 0 turns direct gets and puts off.
    #[arg(long = "direct-entries", value_name = "N",
          value_parser = clap::value_parser!(u64).range(0..=1 << 31))]
    pub direct_entries: Option<u64>,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

impl Args {
    /// The server configuration these arguments ask for (signals handled).
    pub fn into_config(self) -> ServerConfig {
        let mut c = ServerConfig::new(self.socket, self.memory);
        c.shm_dir = self.dir;
        c.huge_pages = self.huge_pages;
        c.external_store = self.external_store;
        c.allow_uids = self.allow_uid;
        c.allow_gids = self.allow_gid;
        c.max_frame_len = self.max_frame;
        c.queue_cap = self.queue_cap;
        c.frame_deadline = std::time::Duration::from_millis(self.frame_deadline_ms);
        c.spin = std::time::Duration::from_micros(self.spin_us);
        c.direct_entries = self.direct_entries.and_then(|n| usize::try_from(n).ok());
        c.handle_signals = true;
        c
    }
}

/// Parses a positive byte count: digits, optionally followed by one binary
/// suffix `k`/`K` (2^10), `M` (2^20), `G` (2^30) or `T` (2^40).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let hint = "expected a byte count such as 1000000, 512M or 4G (k, M, G, T are powers of 1024)";
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!("invalid size '{text}': {hint}"));
    }
    let shift = match suffix {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        _ => return Err(format!("invalid size '{text}': {hint}")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("size '{text}' is too large"))?;
    if n == 0 {
        return Err(format!("size '{text}' must be greater than 0"));
    }
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size '{text}' is too large"))
}

/// Accepts `hashtable://REST`, the only external store there is.
pub fn parse_external_store(text: &str) -> Result<String, String> {
    match text.split_once("://") {
        Some(("hashtable", _)) => Ok(text.to_owned()),
        Some((name, _)) => Err(format!(
            "unknown external store '{name}': only hashtable://NAME is supported"
        )),
        None => Err(format!(
            "invalid external store '{text}': expected NAME://REST, e.g. hashtable://test"
        )),
    }
}

fn init_tracing() {
    let filter = std::env::var("PLASMA_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // A second initialisation (the daemon run twice in one process) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .try_init();
}

/// Parses the arguments, runs the store until SIGTERM/SIGINT, returns the
/// process status: 0 after a signal, 1 after a start-up error or bad usage.
pub fn run_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing();
    match server::run(args.into_config(), Shutdown::new()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plasma-store: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The daemon's entry point (`plasma-store` and the e2e helper binary).
pub fn main() {
    let code = run_from(std::env::args_os());
    // Exit without unwinding anything else: the store has already cleaned up.
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_byte_counts_are_taken_as_is() {
        assert_eq!(parse_size("1000000"), Ok(1_000_000));
        assert_eq!(parse_size("2048"), Ok(2048));
    }

    #[test]
    fn binary_suffixes_multiply() {
        assert_eq!(parse_size("10k"), Ok(10 << 10));
        assert_eq!(parse_size("10K"), Ok(10 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
    }

    #[test]
    fn nonsense_and_zero_are_refused_with_a_reason() {
        for bad in [
            "", "G", "4X", "4GB", "1.5G", "-5", " 5", "5 ", "0x10", "4G4",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains("invalid size"), "{bad}: {err}");
        }
        assert!(parse_size("0").unwrap_err().contains("greater than 0"));
        assert!(parse_size("0G").unwrap_err().contains("greater than 0"));
        assert!(parse_size("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_size("16777216T").unwrap_err().contains("too large"));
    }

    #[test]
    fn only_hashtable_external_stores_are_accepted() {
        assert_eq!(
            parse_external_store("hashtable://test"),
            Ok("hashtable://test".into())
        );
        assert!(parse_external_store("redis://x")
            .unwrap_err()
            .contains("unknown external store"));
        assert!(parse_external_store("hashtable").is_err());
    }

    #[test]
    fn plasma_style_command_line_parses() {
        let a = Args::try_parse_from([
            "plasma-store",
            "-s",
            "/tmp/x.sock",
            "-m",
            "1000000",
            "-h",
            "-d",
            "/mnt/huge",
            "-e",
            "hashtable://test",
            "--allow-uid",
            "5",
            "--allow-uid",
            "6",
            "--allow-gid",
            "7",
        ])
        .unwrap();
        let c = a.into_config();
        assert_eq!(c.socket_path, PathBuf::from("/tmp/x.sock"));
        assert_eq!(c.capacity, 1_000_000);
        assert!(c.huge_pages);
        assert_eq!(c.shm_dir, PathBuf::from("/mnt/huge"));
        assert_eq!(c.external_store.as_deref(), Some("hashtable://test"));
        assert_eq!(c.allow_uids, vec![5, 6]);
        assert_eq!(c.allow_gids, vec![7]);
        assert!(c.handle_signals);
    }

    #[test]
    fn defaults_apply() {
        let a = Args::try_parse_from(["plasma-store", "-s", "x", "-m", "4G"]).unwrap();
        let c = a.into_config();
        assert_eq!(c.capacity, 4 << 30);
        assert_eq!(c.shm_dir, PathBuf::from("/dev/shm"));
        assert!(!c.huge_pages);
        assert_eq!(c.max_frame_len, plasma_protocol::DEFAULT_MAX_FRAME_LEN);
        assert_eq!(c.queue_cap, 256 << 20);
        assert_eq!(c.frame_deadline, std::time::Duration::from_secs(30));
    }

    #[test]
    fn missing_or_bad_required_arguments_fail() {
        assert!(Args::try_parse_from(["plasma-store", "-s", "x"]).is_err());
        assert!(Args::try_parse_from(["plasma-store", "-m", "10"]).is_err());
        assert!(Args::try_parse_from(["plasma-store", "-s", "x", "-m", "0"]).is_err());
        assert!(
            Args::try_parse_from(["plasma-store", "-s", "x", "-m", "10", "-e", "foo://"]).is_err()
        );
        let help = Args::try_parse_from(["plasma-store", "--help"]).unwrap_err();
        assert!(!help.use_stderr());
    }
}
