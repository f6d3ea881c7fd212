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
//! e2e-client get-all SOCKET IDHEX...         for each id in turn: get (waiting forever), print
//!     "len=N crc=XXXXXXXX digest=ok|bad" (the digest recomputed and compared with the stored one),
//!     release
//! e2e-client kill-me SOCKET STEP SEED IDHEX... do the protocol up to STEP, print "ready", sleep until killed
//! e2e-client hold-past-drop SOCKET IDHEX CHECKFILE
//!     get and hold over a bare socket, print "held len=N crc=X"; send a
//!     bad frame so that the store drops the connection, print "dropped";
//!     when CHECKFILE exists, read the object's bytes again (through the
//!     arena's descriptor, still open) and print "len=N crc=X"; sleep
//! e2e-client put-and-hang SOCKET IDHEX SIZE  put (create, write, seal), keep the buffer, print "put", sleep until killed
//! e2e-client release-and-hang SOCKET IDHEX...  get each and drop it, print "released", sleep until killed
//! ```
//!
//! `kill-me` is the kill sweep's victim (`tests/tests/kill_sweep.rs`). The
//! IDHEX arguments are objects another client keeps sealed; STEP is one of
//! [`STEPS`]: `create` (an unsealed object), `write` (written, unsealed),
//! `seal` (sealed and held), `get` (holding the given objects), `release`
//! (held, then released), `subscribe`, `await` (one given object pushed and
//! held, one absent id registered), `create_and_seal`, `batch`
//! (CreateAndSealBatch of four objects).

use std::process::ExitCode;
use std::time::Duration;

use plasma_client::{AsyncClient, Client, GetError};
use plasma_e2e::{crc32, pattern, RawConnection, STEPS};
use plasma_protocol::{ErrorCode, ObjectId, Reply, Request};

const USAGE: &str = "usage: e2e-client put SOCKET IDHEX SIZE SEED | get SOCKET IDHEX TIMEOUT_MS | \
create-and-hang SOCKET IDHEX SIZE | hold SOCKET IDHEX... | get-blocking SOCKET IDHEX | \
get-all SOCKET IDHEX... | put-and-hang SOCKET IDHEX SIZE | release-and-hang SOCKET IDHEX... | \
kill-me SOCKET STEP SEED IDHEX... | hold-past-drop SOCKET IDHEX CHECKFILE";

/// Size of the objects `kill-me` creates.
const VICTIM_SIZE: usize = 64 * 1024;

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
        ("get-all", ids) if !ids.is_empty() => {
            let client = connect()?;
            for id in ids {
                let id = parse_id(id)?;
                let got = client.get(&[id]).map_err(|e| format!("get: {e}"))?;
                let line = got.first().map(|b| describe(b.data())).unwrap_or_default();
                drop(got);
                let ok = client.verify(id).map_err(|e| format!("verify: {e}"))?;
                say(&format!("{line} digest={}", if ok { "ok" } else { "bad" }));
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
        ("kill-me", [step, seed, ids @ ..]) => {
            let seed = parse_num(seed)?;
            let ids = ids
                .iter()
                .map(|s| parse_id(s))
                .collect::<Result<Vec<_>, _>>()?;
            kill_me(socket, step, seed, &ids)
        }
        ("hold-past-drop", [id, check]) => hold_past_drop(socket, parse_id(id)?, check),
        _ => Err(USAGE.into()),
    }
}

/// Performs the protocol up to `step`, says "ready", and hangs on to every
/// connection, buffer and builder until killed.
fn kill_me(socket: &str, step: &str, seed: u64, kept: &[ObjectId]) -> Result<(), String> {
    if !STEPS.contains(&step) {
        return Err(format!("unknown step {step:?}; steps: {STEPS:?}"));
    }
    let client = Client::connect(socket).map_err(|e| format!("connect {socket}: {e}"))?;
    let id = ObjectId::random();
    let data = pattern(seed, VICTIM_SIZE);
    match step {
        "create" | "write" | "seal" => {
            let mut builder = client
                .create(id, data.len() as u64, b"victim")
                .map_err(|e| format!("create: {e}"))?;
            if step == "create" {
                say("ready");
                return hang(&(client, builder));
            }
            builder.data_mut().copy_from_slice(&data);
            if step == "write" {
                say("ready");
                return hang(&(client, builder));
            }
            let sealed = builder.seal().map_err(|e| format!("seal: {e}"))?;
            say("ready");
            hang(&(client, sealed))
        }
        "get" | "release" => {
            let held = client.get(kept).map_err(|e| format!("get: {e}"))?;
            if step == "get" {
                say("ready");
                return hang(&(client, held));
            }
            drop(held);
            // A round trip after the releases: the store has them.
            client.contains(id).map_err(|e| format!("contains: {e}"))?;
            say("ready");
            hang(&client)
        }
        "subscribe" => {
            let subscription = client.subscribe().map_err(|e| format!("subscribe: {e}"))?;
            say("ready");
            hang(&(client, subscription))
        }
        "await" => await_and_hang(socket, kept),
        "create_and_seal" => {
            client
                .create_and_seal(id, &data, b"victim")
                .map_err(|e| format!("create_and_seal: {e}"))?;
            say("ready");
            hang(&client)
        }
        _ => batch_and_hang(socket, &data),
    }
}

/// Registers an absent id, then has one of `kept` pushed (held); the push
/// arrives after the store took the first registration (one connection,
/// requests in order).
fn await_and_hang(socket: &str, kept: &[ObjectId]) -> Result<(), String> {
    let first = *kept.first().ok_or("await needs one kept object")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let (client, pending, pushed) = runtime.block_on(async {
        let client = AsyncClient::connect(socket)
            .await
            .map_err(|e| format!("connect {socket}: {e}"))?;
        let pending = client.as_future(ObjectId::random());
        let pushed = client
            .as_future(first)
            .await
            .map_err(|e| format!("as_future: {e}"))?;
        Ok::<_, String>((client, pending, pushed))
    })?;
    say("ready");
    hang(&(runtime, client, pending, pushed))
}

/// CreateAndSealBatch of four objects (no client API sends it: raw frames).
fn batch_and_hang(socket: &str, data: &[u8]) -> Result<(), String> {
    let (mut conn, _) = RawConnection::connect_handshake(std::path::Path::new(socket));
    let ids: Vec<ObjectId> = (0..4).map(|_| ObjectId::random()).collect();
    let chunk = &data[..data.len() / 4];
    let reply = conn.request(&Request::CreateAndSealBatch {
        ids: ids.clone(),
        evict_if_full: true,
        data: vec![chunk; ids.len()],
        metadata: vec![b"victim"; ids.len()],
        digests: vec![[0; 8]; ids.len()],
    });
    if reply
        != (Reply::CreateAndSealBatch {
            error: ErrorCode::Ok,
        })
    {
        return Err(format!("batch: {reply:?}"));
    }
    say("ready");
    hang(&conn)
}

/// See the module doc. The object is read with `pread` on the arena's
/// descriptor: the same shared pages a mapping would show, without one.
fn hold_past_drop(socket: &str, id: ObjectId, check: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileExt;
    use std::os::unix::net::UnixStream;

    use plasma_protocol::{decode_reply, fd, Encoder, Reply, Request, HEADER_LEN};

    let mut sock = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    let mut frame = Vec::new();
    let get = Request::Get {
        ids: vec![id],
        timeout_ms: -1,
    };
    Encoder::new().encode_request(&get, &mut frame);
    sock.write_all(&frame)
        .map_err(|e| format!("send get: {e}"))?;
    let mut header = [0u8; HEADER_LEN];
    sock.read_exact(&mut header)
        .map_err(|e| format!("read reply: {e}"))?;
    let field = |i: usize| i64::from_le_bytes(header[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut payload = vec![0u8; usize::try_from(field(16)).map_err(|e| e.to_string())?];
    sock.read_exact(&mut payload)
        .map_err(|e| format!("read reply: {e}"))?;
    let Ok(Reply::Get { objects, .. }) = decode_reply(field(8), &payload) else {
        return Err("not a GetReply".into());
    };
    let spec = objects.first().ok_or("empty GetReply")?;
    let arena = std::fs::File::from(fd::recv_fd(sock.as_fd()).map_err(|e| e.to_string())?);
    let read_object = || -> Result<String, String> {
        let mut bytes = vec![0u8; to_usize(spec.data_size)?];
        arena
            .read_exact_at(&mut bytes, spec.data_offset)
            .map_err(|e| format!("reading the arena: {e}"))?;
        Ok(describe(&bytes))
    };
    say(&format!("held {}", read_object()?));
    // A frame header of version 7: the store drops the connection for it.
    sock.write_all(&[7u8; HEADER_LEN])
        .map_err(|e| format!("send bad frame: {e}"))?;
    let mut rest = Vec::new();
    let _ = sock.read_to_end(&mut rest);
    say("dropped");
    while !std::path::Path::new(check).exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    say(&read_object()?);
    hang(&(sock, arena))
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
