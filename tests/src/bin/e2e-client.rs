//! A plasma client in another process, driven by its arguments, for the
//! end-to-end tests (see `plasma_e2e::ClientProcess`). Each subcommand
//! prints one line per milestone on stdout; failures go to stderr with a
//! non-zero exit status.
//!
//! ```text
//! e2e-client put SOCKET IDHEX SIZE SEED      create SIZE bytes of pattern(SEED), seal, release; prints "sealed"
//! e2e-client get SOCKET IDHEX TIMEOUT_MS     prints "len=N crc=XXXXXXXX" or "none"
//! e2e-client create-and-hang SOCKET IDHEX SIZE   create, print "created", sleep until killed
//! e2e-client hold SOCKET IDHEX...            get (waiting forever) and hold each; print "held", sleep until killed
//! e2e-client get-blocking SOCKET IDHEX       get waiting forever; prints "len=N crc=XXXXXXXX" or "error: KIND"
//! e2e-client put-and-hang SOCKET IDHEX SIZE  put (create, write, seal), keep the buffer, print "put", sleep until killed
//! e2e-client release-and-hang SOCKET IDHEX...  get each and drop it, print "released", sleep until killed
//! ```

use std::process::ExitCode;
use std::time::Duration;

use plasma_client::{Client, GetError};
use plasma_e2e::{crc32, pattern};
use plasma_protocol::ObjectId;

const USAGE: &str = "usage: e2e-client put SOCKET IDHEX SIZE SEED | get SOCKET IDHEX TIMEOUT_MS | \
create-and-hang SOCKET IDHEX SIZE | hold SOCKET IDHEX... | get-blocking SOCKET IDHEX | \
put-and-hang SOCKET IDHEX SIZE | release-and-hang SOCKET IDHEX...";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("e2e-client: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [command, socket, rest @ ..] = args else {
        return Err(USAGE.into());
    };
    let connect = || Client::connect(socket).map_err(|e| format!("connect {socket}: {e}"));
    match (command.as_str(), rest) {
        ("put", [id, size, seed]) => {
            let (id, size, seed) = (parse_id(id)?, parse_num(size)?, parse_num(seed)?);
            let client = connect()?;
            let data = pattern(seed, to_usize(size)?);
            let mut builder = client
                .create(id, size, b"")
                .map_err(|e| format!("create: {e}"))?;
            builder.data_mut().copy_from_slice(&data);
            let sealed = builder.seal().map_err(|e| format!("seal: {e}"))?;
            drop(sealed); // the release
            say("sealed");
            Ok(())
        }
        ("get", [id, timeout_ms]) => {
            let (id, timeout_ms) = (parse_id(id)?, parse_num(timeout_ms)?);
            let client = connect()?;
            let mut got = client
                .get_timeout(&[id], Duration::from_millis(timeout_ms))
                .map_err(|e| format!("get: {e}"))?;
            match got.pop().flatten() {
                Some(buffer) => say(&describe(buffer.data())),
                None => say("none"),
            }
            Ok(())
        }
        ("create-and-hang", [id, size]) => {
            let (id, size) = (parse_id(id)?, parse_num(size)?);
            let client = connect()?;
            let builder = client
                .create(id, size, b"")
                .map_err(|e| format!("create: {e}"))?;
            say("created");
            hang(&(client, builder))
        }
        ("hold", ids) if !ids.is_empty() => {
            let ids = ids
                .iter()
                .map(|s| parse_id(s))
                .collect::<Result<Vec<_>, _>>()?;
            let client = connect()?;
            let held = client.get(&ids).map_err(|e| format!("get: {e}"))?;
            say("held");
            hang(&(client, held))
        }
        ("get-blocking", [id]) => {
            let id = parse_id(id)?;
            let client = connect()?;
            match client.get(&[id]) {
                Ok(got) => match got.first() {
                    Some(buffer) => say(&describe(buffer.data())),
                    None => say("none"),
                },
                Err(e) => say(&format!("error: {}", error_kind(&e))),
            }
            Ok(())
        }
        ("put-and-hang", [id, size]) => {
            let (id, size) = (parse_id(id)?, parse_num(size)?);
            let client = connect()?;
            let mut builder = client
                .create(id, size, b"")
                .map_err(|e| format!("create: {e}"))?;
            builder.data_mut().fill(7);
            let sealed = builder.seal().map_err(|e| format!("seal: {e}"))?;
            say("put");
            hang(&(client, sealed))
        }
        ("release-and-hang", ids) if !ids.is_empty() => {
            let ids = ids
                .iter()
                .map(|s| parse_id(s))
                .collect::<Result<Vec<_>, _>>()?;
            let client = connect()?;
            drop(client.get(&ids).map_err(|e| format!("get: {e}"))?);
            say("released");
            hang(&client)
        }
        _ => Err(USAGE.into()),
    }
}

/// Keeps `_state` alive (connection, holds) until the process is killed.
fn hang<T>(_state: &T) -> Result<(), String> {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn describe(data: &[u8]) -> String {
    format!("len={} crc={:08x}", data.len(), crc32(data))
}

fn error_kind(e: &GetError) -> &'static str {
    match e {
        GetError::Disconnected => "Disconnected",
        GetError::Timeout => "Timeout",
        GetError::Protocol(_) => "Protocol",
        GetError::Io { .. } => "Io",
        _ => "Other",
    }
}

fn parse_id(hex: &str) -> Result<ObjectId, String> {
    ObjectId::from_hex(hex).ok_or_else(|| format!("not a 40-digit hex object id: {hex:?}"))
}

fn parse_num(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

fn to_usize(n: u64) -> Result<usize, String> {
    usize::try_from(n).map_err(|_| format!("{n} does not fit in memory"))
}
