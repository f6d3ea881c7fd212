//! The command line.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::workloads::WORKLOADS;

/// plasma-bench: our plasma-store (and Rust client) against Arrow Plasma 11.
#[derive(Debug, Parser)]
#[command(
    name = "plasma-bench",
    about = "Benchmarks plasma-store and its Rust client against Arrow Plasma 11's plasma-store-server, in one run, stores alternating",
    long_about = "Benchmarks plasma-store and its Rust client against Arrow Plasma 11's \
plasma-store-server in one run: each workload runs against both stores, alternating, \
for several repetitions, and reports medians, min–max and the ratio ours/Plasma, with \
the CPU time of store and client per operation, next to physical anchors measured in \
the same run.\n\n\
Installs what it compares against by itself: scripts/pyenv.sh makes a venv with \
pyarrow==11.0.0 (plasma-store-server, the Python client, libplasma and its headers), \
and g++ compiles the C++ client and the anchors into OUT/build. Our daemon is this \
binary itself (`plasma-bench store -s SOCKET -m BYTES` runs plasma-store), so it is \
always built from the current sources; --store-bin benchmarks another binary.\n\n\
Writes OUT/results.md (tables), OUT/results.json (every repetition), OUT/latency.svg \
and OUT/throughput.svg, and prints the tables."
)]
pub struct Cli {
    /// Smoke run for CI (well under a minute): one repetition, tiny counts,
    /// 16 MiB for the large object, 10,000 objects for the million-object
    /// workloads, unpinned only. Checks that the harness runs; its numbers
    /// mean nothing.
    #[arg(long)]
    pub quick: bool,

    /// Output directory [default: <cargo target dir>/bench].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Run only these workloads (comma-separated names, listed below); the
    /// anchors always run.
    #[arg(long, value_name = "NAMES", value_delimiter = ',',
          value_parser = clap::builder::PossibleValuesParser::new(WORKLOADS.iter().map(|w| w.0)))]
    pub only: Vec<String>,

    /// Repetitions per measurement [default: 5, --quick: 1; the million-object
    /// workloads use at most 3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub reps: Option<u16>,

    /// Benchmark this plasma-store binary instead of the store built into
    /// plasma-bench.
    #[arg(long, value_name = "PATH")]
    pub store_bin: Option<PathBuf>,

    /// Use this python (with pyarrow 11.0.0) instead of the venv that
    /// scripts/pyenv.sh creates.
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
}

/// The workload list, as `--help` shows it.
pub fn workload_help() -> String {
    let mut s = String::from(
        "Workloads (--only NAMES). Small-object workloads run unpinned, with store and client \
on the same vCPU, and on different vCPUs; --quick runs unpinned only:\n",
    );
    for (name, text) in WORKLOADS {
        s.push_str(&format!("\n  {name}\n      {text}\n"));
    }
    s.push_str(
        "\nCPU: each repetition reads the store's CPU time from /proc/<pid>/task/*/schedstat \
and the client's (child process, or the harness thread for the Rust client) around the timed \
loop; tables show median µs per operation, store + client.",
    );
    s
}

/// Parses the process arguments (exits on `--help` or bad usage).
pub fn parse() -> Cli {
    let cmd = Cli::command()
        .after_long_help(workload_help())
        .after_help("Run with --help (not -h) for every workload's description.");
    let matches = cmd.get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_workload() {
        let help = workload_help();
        for (name, _) in WORKLOADS {
            assert!(help.contains(&format!("\n  {name}\n")), "{name}");
        }
    }

    #[test]
    fn only_takes_known_names() {
        let cli = Cli::try_parse_from(["plasma-bench", "--only", "put-1k,million"]).unwrap();
        assert_eq!(cli.only, ["put-1k", "million"]);
        assert!(Cli::try_parse_from(["plasma-bench", "--only", "nope"]).is_err());
    }
}
