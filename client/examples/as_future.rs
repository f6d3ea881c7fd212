//! Object ids awaited like futures: four producer processes each sleep one
//! second and then seal an object; the four futures are awaited together,
//! so the whole thing takes about one second, not four (Ray's "Async API"
//! example, for real).
//!
//! ```text
//! cargo run --release --bin plasma-store -- -s /tmp/plasma.sock -m 1G   # in another terminal
//! cargo run -p plasma-client --example as_future -- /tmp/plasma.sock
//! ```

use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use plasma_client::{AsyncClient, Client, ObjectId};

const PRODUCERS: usize = 4;
const VALUE: &[u8] = br#"{'key1': ['value']}"#;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [socket] => consume(socket),
        [flag, socket, id] if flag == "--producer" => produce(socket, id),
        _ => {
            eprintln!("usage: as_future <store socket path>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("as_future: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A producer process: sleeps a second, then seals its object.
fn produce(socket: &str, id: &str) -> Result<(), Box<dyn std::error::Error>> {
    let id = ObjectId::from_hex(id).ok_or("bad object id")?;
    let client = Client::connect(socket)?;
    std::thread::sleep(Duration::from_secs(1));
    let mut builder = client.create(id, VALUE.len() as u64, b"text")?;
    builder.data_mut().copy_from_slice(VALUE);
    drop(builder.seal()?);
    Ok(())
}

#[tokio::main]
async fn consume(socket: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = AsyncClient::connect(socket).await?;
    client.init().await?;
    let ids: Vec<ObjectId> = (0..PRODUCERS).map(|_| ObjectId::random()).collect();

    let start = Instant::now();
    let exe = std::env::current_exe()?;
    let producers = ids
        .iter()
        .map(|id| {
            Command::new(&exe)
                .args(["--producer", socket, &id.to_string()])
                .spawn()
        })
        .collect::<Result<Vec<Child>, _>>()?;
    // Like `asyncio.gather(*[async_api.as_future(f.remote()) for i in range(4)])`.
    let results = client.as_futures(&ids).await;
    let elapsed = start.elapsed();

    let mut values = Vec::new();
    for result in results {
        let buf = result?;
        values.push(String::from_utf8_lossy(buf.data()).into_owned());
    }
    println!("[{}]", values.join(", "));
    println!(
        "{PRODUCERS} producers, each sleeping 1 s: all {PRODUCERS} futures resolved after {:.3} s",
        elapsed.as_secs_f64()
    );
    for mut child in producers {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a producer failed: {status}").into());
        }
    }
    client.shutdown().await;
    Ok(())
}
