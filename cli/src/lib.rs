//! `plasma`, the operator's command for a plasma store: what is in it
//! (`list`), how full it is (`stats`), what happens to it (`watch`), and
//! the object operations (`put`, `get`, `delete`, `evict`, `verify`).
//!
//! Built on the blocking [`plasma_client::Client`], so every subcommand the
//! old protocol allows works against Arrow Plasma 11's store too; `stats`
//! then falls back to what List and the debug text give. Sizes print in
//! binary units; `--json` prints one JSON document (one object per line for
//! `watch`) instead. Failures say what failed on stderr and exit with 1
//! (bad usage: 2).
//!
//! ```text
//! plasma --socket /tmp/plasma.sock stats
//! PLASMA_STORE_SOCKET=/tmp/plasma.sock plasma list --sort size --limit 10
//! ```

mod format;
mod list;
mod object;
mod stats;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use plasma_client::{Client, ClientOptions, ObjectId};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "plasma",
    version,
    about = "Look into and operate a plasma store (plasma-store or Arrow Plasma 11)"
)]
pub struct Cli {
    /// The store's Unix socket.
    #[arg(
        long,
        short = 's',
        global = true,
        env = "PLASMA_STORE_SOCKET",
        value_name = "PATH"
    )]
    pub socket: Option<PathBuf>,
    /// Machine-readable output: one JSON document (for `watch`, one JSON
    /// object per line).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capacity, memory and objects by state, clients, waits, evictions,
    /// requests by type (against Arrow Plasma 11: what List and the debug
    /// text tell).
    Stats,
    /// The objects in the store, one per line.
    List(list::ListArgs),
    /// Seal and delete notifications as they happen, with rates.
    Watch(watch::WatchArgs),
    /// Store a file (or standard input, `-`) as a new object; prints its id.
    Put(object::PutArgs),
    /// Write an object's data to standard output or a file.
    Get(object::GetArgs),
    /// Delete objects (held or unsealed ones once released or sealed).
    Delete(object::DeleteArgs),
    /// Evict unused objects until this many bytes are freed (512M, 4G, ...).
    Evict(object::EvictArgs),
    /// Recompute an object's digest and compare it with the stored one.
    Verify(object::VerifyArgs),
}

/// Why a subcommand stopped early.
#[derive(Debug)]
pub enum Failure {
    /// Something failed: the message says what.
    Message(String),
    /// Standard output was closed by its reader (`plasma list | head`):
    /// not an error, nothing more to say.
    StdoutClosed,
}

impl<T: std::fmt::Display> From<T> for Failure {
    fn from(message: T) -> Self {
        Failure::Message(message.to_string())
    }
}

/// Writes one line to standard output.
pub(crate) fn write_line(line: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::StdoutClosed),
        Err(e) => Err(format!("writing to standard output: {e}").into()),
    }
}

/// `println!` that stops the subcommand quietly once nobody reads its
/// output (instead of the panic `println!` has then).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_line(format_args!($($arg)*))?
    };
}
pub(crate) use say;

/// How a subcommand ends.
pub type Outcome = Result<ExitCode, Failure>;

/// What every subcommand is given.
pub(crate) struct Context {
    pub client: Client,
    pub socket: PathBuf,
    pub json: bool,
}

impl Context {
    /// Prints `value` as pretty JSON on stdout.
    pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value).map_err(|e| format!("writing JSON: {e}"))?;
        say!("{text}");
        Ok(())
    }
}

/// Parses an object id of 40 hex digits.
pub(crate) fn parse_id(text: &str) -> Result<ObjectId, String> {
    ObjectId::from_hex(text)
        .ok_or_else(|| format!("invalid object id '{text}': expected 40 hex digits"))
}

fn connect(socket: &std::path::Path) -> Result<Client, Failure> {
    let mut options = ClientOptions::default();
    // An operator's command: say at once that no store is there, and never
    // hang on one that stopped answering.
    options.connect_retries = 0;
    options.request_timeout = Some(Duration::from_secs(30));
    Client::connect_with(socket, options).map_err(|e| {
        Failure::Message(format!(
            "cannot connect to the store at {}: {e}",
            socket.display()
        ))
    })
}

/// Runs one command line; returns the exit status.
pub fn run_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Message(message)) => {
            eprintln!("plasma: {message}");
            ExitCode::FAILURE
        }
        Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
    }
}

fn run(cli: Cli) -> Outcome {
    let Some(socket) = cli.socket else {
        return Err("no store given: pass --socket PATH or set PLASMA_STORE_SOCKET".into());
    };
    let ctx = Context {
        client: connect(&socket)?,
        socket,
        json: cli.json,
    };
    match cli.command {
        Command::Stats => stats::run(&ctx),
        Command::List(a) => list::run(&ctx, &a),
        Command::Watch(a) => watch::run(&ctx, &a),
        Command::Put(a) => object::put(&ctx, &a),
        Command::Get(a) => object::get(&ctx, &a),
        Command::Delete(a) => object::delete(&ctx, &a),
        Command::Evict(a) => object::evict(&ctx, &a),
        Command::Verify(a) => object::verify(&ctx, &a),
    }
}

/// The `plasma` binary's entry point (also the e2e tests' copy of it).
pub fn main() -> ExitCode {
    run_from(std::env::args_os())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_ids_are_refused_with_a_reason() {
        let e = Cli::try_parse_from(["plasma", "-s", "x", "get", "nothex"]).unwrap_err();
        assert!(e.to_string().contains("40 hex digits"), "{e}");
    }
}
