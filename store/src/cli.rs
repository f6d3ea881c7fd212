//! The command line, Plasma-compatible: `plasma-store -s SOCKET -m BYTES
//! [-d DIR] [-h] [-e hashtable://NAME]`, plus this store's own limits,
//! operators' options and spilling (`--spill-dir`, `--spill-max`). Every
//! flag can also come from the environment, `PLASMA_STORE_<FLAG>` (see
//! [`command`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::backing::DEFAULT_SHM_DIR;
use crate::config::{
    default_max_clients, ServerConfig, DEFAULT_DRAIN_TIMEOUT, DEFAULT_FRAME_DEADLINE, DEFAULT_SPIN,
};
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
    /// Largest frame payload accepted, in bytes (suffixes as for -m). Default:
    /// -m plus 16M, the largest CreateAndSeal that can succeed (its object
    /// inline) with room for the ids of a large batch or Get.
    #[arg(long = "max-frame", value_name = "BYTES", value_parser = parse_size)]
    pub max_frame: Option<u64>,
    /// Bytes of partly read frames all connections together may hold; a
    /// connection that would exceed it is not read until others finish their
    /// frames. Default: the --max-frame value (one largest frame at a time).
    #[arg(long = "input-budget", value_name = "BYTES", value_parser = parse_size)]
    pub input_budget: Option<u64>,
    /// Unread replies a connection may leave queued before it is dropped, in
    /// bytes (suffixes as for -m). One large reply being read does not count.
    #[arg(long = "queue-cap", value_name = "BYTES", value_parser = parse_size,
          default_value = "4M")]
    pub queue_cap: u64,
    /// Unread notifications a subscriber may leave queued before its
    /// notification socket is closed, in bytes (suffixes as for -m).
    #[arg(long = "subscriber-queue-cap", value_name = "BYTES", value_parser = parse_size,
          default_value = "8M")]
    pub subscriber_queue_cap: u64,
    /// Time a started frame has to arrive completely, in milliseconds; a
    /// peer that is slower is dropped.
    #[arg(long = "frame-deadline-ms", value_name = "MS",
          default_value_t = DEFAULT_FRAME_DEADLINE.as_millis() as u64,
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
    /// Clients served at once; each one past it is accepted and closed at
    /// once (one log line per burst). The default is the descriptor limit
    /// (ulimit -n) less 16 and less a sixteenth, which the store keeps for
    /// its own descriptors and subscribers' sockets.
    #[arg(long = "max-clients", value_name = "N", default_value_t = default_max_clients() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_clients: u64,
    /// Spill objects pushed out of memory to files in this directory
    /// (created if needed; one store per directory; emptied at start and at
    /// exit: objects do not survive a restart) instead of dropping them; a
    /// get, contains or await brings a spilled object back. Without it,
    /// eviction drops objects, as Plasma does.
    #[arg(
        long = "spill-dir",
        value_name = "DIR",
        conflicts_with = "external_store"
    )]
    pub spill_dir: Option<PathBuf>,
    /// Bytes of spill files allowed (suffixes as for -m); past it, objects
    /// are dropped instead of spilled. Default: the free space of the
    /// spill directory at start, less a twentieth (at most 1G).
    #[arg(long = "spill-max", value_name = "BYTES", value_parser = parse_size,
          requires = "spill_dir")]
    pub spill_max: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics; meant for
    /// loopback (127.0.0.1:9464). Off unless given.
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log lines on stderr as text or as JSON objects (one per line).
    #[arg(long = "log-format", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// On SIGTERM, how long to let clients read the replies and
    /// notifications they are owed before closing, in milliseconds.
    #[arg(long = "drain-timeout-ms", value_name = "MS",
          default_value_t = DEFAULT_DRAIN_TIMEOUT.as_millis() as u64)]
    pub drain_timeout_ms: u64,
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
        if let Some(max) = self.max_frame {
            c.max_frame_len = max;
            c.input_budget = max;
        }
        if let Some(budget) = self.input_budget {
            c.input_budget = budget;
        }
        c.queue_cap = self.queue_cap;
        c.subscriber_queue_cap = self.subscriber_queue_cap;
        c.frame_deadline = std::time::Duration::from_millis(self.frame_deadline_ms);
        c.spin = std::time::Duration::from_micros(self.spin_us);
        c.direct_entries = self.direct_entries.and_then(|n| usize::try_from(n).ok());
        c.max_clients = usize::try_from(self.max_clients).unwrap_or(usize::MAX);
        c.spill_dir = self.spill_dir;
        c.spill_max = self.spill_max;
        c.metrics_listen = self.metrics_listen;
        c.drain_timeout = std::time::Duration::from_millis(self.drain_timeout_ms);
        c.handle_signals = true;
        c.systemd = true;
        c
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for journald, Loki, ...).
    Json,
}

/// The environment variable that stands in for the flag with clap id `id`.
pub fn env_name(id: &str) -> String {
    format!("PLASMA_STORE_{}", id.to_uppercase())
}

/// The command line of [`Args`], with an environment-variable fallback for
/// every flag (`PLASMA_STORE_SOCKET`, `PLASMA_STORE_MEMORY`, ...; the
/// flag's long name or field name in capitals), shown in `--help`. Given
/// here once for all flags, so a flag added later has one too. Switches
/// take `1`/`true`/`yes`/`on` (and their opposites); repeatable flags take
/// a comma-separated list.
pub fn command() -> clap::Command {
    Args::command().mut_args(|arg| {
        let id = arg.get_id().as_str().to_owned();
        if id == "help" || id == "version" {
            return arg;
        }
        let arg = arg.env(env_name(&id));
        match arg.get_action() {
            ArgAction::SetTrue => arg.value_parser(clap::builder::FalseyValueParser::new()),
            ArgAction::Append => arg.value_delimiter(','),
            _ => arg,
        }
    })
}

/// Parses a command line (and the environment), as the daemon does.
pub fn parse<I, T>(args: I) -> Result<Args, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    Args::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
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

fn init_tracing(format: LogFormat) {
    let filter = std::env::var("PLASMA_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    // A second initialisation (the daemon run twice in one process) is harmless.
    let _ = match format {
        LogFormat::Text => lines
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => lines.json().try_init(),
    };
}

/// Parses the arguments, runs the store until SIGTERM/SIGINT, returns the
/// process status: 0 after a signal, 1 after a start-up error or bad usage.
pub fn run_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = match parse(args) {
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
    init_tracing(args.log_format);
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
        assert_eq!(c.max_frame_len, (4 << 30) + (16 << 20));
        assert_eq!(c.input_budget, c.max_frame_len);
        assert_eq!(c.queue_cap, crate::config::DEFAULT_QUEUE_CAP);
        assert_eq!(c.queue_cap, 4 << 20);
        assert_eq!(c.subscriber_queue_cap, 8 << 20);
        assert_eq!(c.frame_deadline, std::time::Duration::from_secs(10));
    }

    #[test]
    fn memory_limits_follow_their_flags() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["plasma-store", "-s", "x", "-m", "10M"];
            args.extend_from_slice(extra);
            Args::try_parse_from(args).unwrap().into_config()
        };
        let c = parse(&[]);
        assert_eq!(c.max_frame_len, (10 << 20) + (16 << 20));
        assert_eq!(c.input_budget, c.max_frame_len);
        let c = parse(&["--max-frame", "1M"]);
        assert_eq!((c.max_frame_len, c.input_budget), (1 << 20, 1 << 20));
        let c = parse(&["--max-frame", "1M", "--input-budget", "3M"]);
        assert_eq!((c.max_frame_len, c.input_budget), (1 << 20, 3 << 20));
        let c = parse(&["--queue-cap", "64k", "--subscriber-queue-cap", "1M"]);
        assert_eq!((c.queue_cap, c.subscriber_queue_cap), (64 << 10, 1 << 20));
        let c = parse(&["--max-clients", "7"]);
        assert_eq!(c.max_clients, 7);
        assert!(
            Args::try_parse_from(["plasma-store", "-s", "x", "-m", "1", "--max-clients", "0"])
                .is_err()
        );
    }

    #[test]
    fn spilling_has_a_directory_and_optionally_a_limit() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["plasma-store", "-s", "x", "-m", "10M"];
            args.extend_from_slice(extra);
            Args::try_parse_from(args)
        };
        let c = parse(&[]).unwrap().into_config();
        assert_eq!((c.spill_dir, c.spill_max), (None, None));
        let c = parse(&["--spill-dir", "/var/spill"]).unwrap().into_config();
        assert_eq!(c.spill_dir, Some(PathBuf::from("/var/spill")));
        assert_eq!(c.spill_max, None);
        let c = parse(&["--spill-dir", "d", "--spill-max", "2G"])
            .unwrap()
            .into_config();
        assert_eq!(c.spill_max, Some(2 << 30));
        let no_dir = parse(&["--spill-max", "2G"]).unwrap_err().to_string();
        assert!(no_dir.contains("--spill-dir"), "{no_dir}");
        let both = parse(&["--spill-dir", "d", "-e", "hashtable://x"])
            .unwrap_err()
            .to_string();
        assert!(both.contains("cannot be used with"), "{both}");
        assert!(parse(&["--spill-dir", "d", "--spill-max", "0"]).is_err());
    }

    #[test]
    fn every_flag_has_an_environment_fallback_shown_in_help() {
        let mut cmd = command();
        let mut flags = 0;
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            flags += 1;
            let env = arg.get_env().and_then(|e| e.to_str());
            assert_eq!(env, Some(env_name(id).as_str()), "--{id}");
        }
        assert!(flags >= 14, "{flags}");
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("[env: PLASMA_STORE_SOCKET="), "{help}");
        assert!(help.contains("[env: PLASMA_STORE_MEMORY="), "{help}");
    }

    #[test]
    fn operators_flags_reach_the_config() {
        let a = parse([
            "plasma-store",
            "-s",
            "x",
            "-m",
            "1M",
            "--metrics-listen",
            "127.0.0.1:9464",
            "--log-format",
            "json",
            "--drain-timeout-ms",
            "250",
        ])
        .unwrap();
        assert_eq!(a.log_format, LogFormat::Json);
        let c = a.into_config();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c.drain_timeout, std::time::Duration::from_millis(250));
        assert!(c.systemd);
        let bad = parse([
            "plasma-store",
            "-s",
            "x",
            "-m",
            "1M",
            "--metrics-listen",
            "9464",
        ]);
        assert!(bad.unwrap_err().to_string().contains("--metrics-listen"));
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
