//! Puts an object into a running store, gets it back, and prints it and the
//! store's object list.
//!
//! ```text
//! cargo run -p plasma-client --example put_get -- /tmp/plasma.sock
//! ```

use std::process::ExitCode;

use plasma_client::{Client, ObjectId};

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: put_get <store socket path>");
        return ExitCode::from(2);
    };
    match run(path.as_ref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("put_get: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::connect(path)?;
    println!(
        "connected to {}, capacity {} bytes",
        path.display(),
        client.store_capacity()
    );

    let id = ObjectId::random();
    let text = b"hello from plasma-client";
    let mut builder = client.create(id, text.len() as u64, b"text/plain")?;
    builder.data_mut().copy_from_slice(text);
    let sealed = builder.seal()?;
    println!("put {id}: {} data bytes", sealed.data().len());
    drop(sealed); // releases our hold; the object stays in the store

    let found = client.try_get(&[id])?;
    let buf = found[0].as_ref().ok_or("object vanished")?;
    println!(
        "got {id}: data {:?}, metadata {:?}",
        String::from_utf8_lossy(buf.data()),
        String::from_utf8_lossy(buf.metadata()),
    );

    println!("store list:");
    for info in client.list()? {
        let state = if info.digest.is_some() {
            "sealed"
        } else {
            "created"
        };
        println!(
            "  {} {state} data {} metadata {} holders {}",
            info.object_id, info.data_size, info.metadata_size, info.ref_count
        );
    }
    Ok(())
}
