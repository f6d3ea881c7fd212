//! The object subcommands: put, get, delete, evict, verify.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use plasma_client::{digest, DeleteOutcome, ObjectId};
use serde::Serialize;

use crate::format::{bytes, count, hex};
use crate::{parse_id, say, Context, Outcome};

/// Options of `plasma put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The file to store, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    /// The new object's id (40 hex digits); random if not given.
    #[arg(long, value_parser = parse_id)]
    pub id: Option<ObjectId>,
    /// Metadata to store with it.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub metadata: String,
}

/// Options of `plasma get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The object's id.
    #[arg(value_parser = parse_id)]
    pub id: ObjectId,
    /// Write the data to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Wait up to this many milliseconds for the object to be sealed.
    #[arg(long = "wait-ms", value_name = "MS", default_value_t = 0)]
    pub wait_ms: u64,
}

/// Options of `plasma delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The objects' ids.
    #[arg(required = true, value_parser = parse_id)]
    pub ids: Vec<ObjectId>,
}

/// Options of `plasma evict`.
#[derive(Debug, Args)]
pub struct EvictArgs {
    /// Bytes to free: a count, or with a binary suffix k, M, G, T.
    #[arg(value_name = "BYTES", value_parser = plasma_store::cli::parse_size)]
    pub bytes: u64,
}

/// Options of `plasma verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The object's id.
    #[arg(value_parser = parse_id)]
    pub id: ObjectId,
}

#[derive(Serialize)]
struct Stored {
    id: String,
    data_size: u64,
    metadata_size: u64,
}

pub fn put(ctx: &Context, args: &PutArgs) -> Outcome {
    let id = args.id.unwrap_or_else(ObjectId::random);
    let metadata = args.metadata.as_bytes();
    let create = |len: u64| {
        ctx.client
            .create(id, len, metadata)
            .map_err(|e| format!("creating object {id} of {}: {e}", bytes(len)))
    };
    let data_size = if args.file.as_os_str() == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(|e| format!("reading standard input: {e}"))?;
        let mut builder = create(data.len() as u64)?;
        builder.write_data(&data);
        drop(builder.seal().map_err(|e| format!("sealing {id}: {e}"))?);
        data.len() as u64
    } else {
        let shown = args.file.display();
        let mut file = File::open(&args.file).map_err(|e| format!("opening {shown}: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("reading the size of {shown}: {e}"))?
            .len();
        // Read straight into the store's memory: no copy in between.
        let mut builder = create(len)?;
        file.read_exact(builder.data_mut())
            .map_err(|e| format!("reading {shown}: {e}"))?;
        drop(builder.seal().map_err(|e| format!("sealing {id}: {e}"))?);
        len
    };
    if ctx.json {
        Context::print_json(&Stored {
            id: id.to_string(),
            data_size,
            metadata_size: metadata.len() as u64,
        })?;
    } else {
        say!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn get(ctx: &Context, args: &GetArgs) -> Outcome {
    let id = args.id;
    if ctx.json && args.output.is_none() {
        return Err("--json needs -o FILE: the data cannot share standard output with JSON".into());
    }
    let found = if args.wait_ms == 0 {
        ctx.client.try_get(&[id])
    } else {
        ctx.client
            .get_timeout(&[id], std::time::Duration::from_millis(args.wait_ms))
    }
    .map_err(|e| format!("getting {id}: {e}"))?;
    let Some(buf) = found.into_iter().next().flatten() else {
        return Err(format!("object {id} is not in the store (or not sealed)").into());
    };
    match &args.output {
        None => std::io::stdout()
            .lock()
            .write_all(buf.data())
            .map_err(|e| format!("writing to standard output: {e}"))?,
        Some(path) => {
            std::fs::write(path, buf.data())
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            if ctx.json {
                Context::print_json(&Stored {
                    id: id.to_string(),
                    data_size: buf.data().len() as u64,
                    metadata_size: buf.metadata().len() as u64,
                })?;
            } else {
                say!(
                    "wrote {} of {id} to {}",
                    bytes(buf.data().len() as u64),
                    path.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Deleted {
    id: String,
    outcome: &'static str,
}

pub fn delete(ctx: &Context, args: &DeleteArgs) -> Outcome {
    let outcomes = ctx
        .client
        .delete(&args.ids)
        .map_err(|e| format!("deleting: {e}"))?;
    let mut missing = 0;
    let mut rows = Vec::new();
    for (id, outcome) in args.ids.iter().zip(outcomes) {
        let (key, text) = match outcome {
            DeleteOutcome::Deleted => ("deleted", "deleted"),
            DeleteOutcome::NotFound => ("not_found", "not found"),
            DeleteOutcome::InUse => ("in_use", "in use: deleted when its last holder releases it"),
            DeleteOutcome::NotSealed => {
                ("not_sealed", "not sealed: deleted once sealed and released")
            }
            _ => ("unknown", "unknown outcome"),
        };
        missing += usize::from(key == "not_found");
        if !ctx.json {
            say!("{id}  {text}");
        }
        rows.push(Deleted {
            id: id.to_string(),
            outcome: key,
        });
    }
    if ctx.json {
        Context::print_json(&rows)?;
    }
    if missing > 0 {
        eprintln!("plasma: {missing} of the objects were not found");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Evicted {
    requested: u64,
    evicted: u64,
}

pub fn evict(ctx: &Context, args: &EvictArgs) -> Outcome {
    let evicted = ctx
        .client
        .evict(args.bytes)
        .map_err(|e| format!("evicting: {e}"))?;
    if ctx.json {
        Context::print_json(&Evicted {
            requested: args.bytes,
            evicted,
        })?;
    } else {
        say!(
            "evicted {} ({} bytes) of {} asked for",
            bytes(evicted),
            count(evicted),
            bytes(args.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Verified {
    id: String,
    ok: bool,
    stored: String,
    computed: String,
}

pub fn verify(ctx: &Context, args: &VerifyArgs) -> Outcome {
    let id = args.id;
    let found = ctx
        .client
        .try_get(&[id])
        .map_err(|e| format!("getting {id}: {e}"))?;
    let Some(buf) = found.into_iter().next().flatten() else {
        return Err(format!("object {id} is not in the store (or not sealed)").into());
    };
    let computed = digest(buf.data(), buf.metadata());
    let listed = ctx
        .client
        .list()
        .map_err(|e| format!("listing objects for the stored digest: {e}"))?;
    let Some(stored) = listed
        .iter()
        .find(|o| o.object_id == id)
        .and_then(|o| o.digest)
    else {
        return Err(format!("object {id} disappeared while it was being verified").into());
    };
    let ok = stored == computed;
    if ctx.json {
        Context::print_json(&Verified {
            id: id.to_string(),
            ok,
            stored: hex(&stored),
            computed: hex(&computed),
        })?;
    } else if ok {
        say!("{id}  ok (digest {})", hex(&stored));
    } else {
        say!(
            "{id}  MISMATCH: stored digest {}, computed {}{}",
            hex(&stored),
            hex(&computed),
            if stored == plasma_client::NO_DIGEST {
                " (it was sealed without a digest)"
            } else {
                ""
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
