//! An `AsyncClient` whose connection fails while the store still serves it
//! used to close its socket at once. The store then released the client's
//! holds and erased the objects it had not sealed, while the client's
//! buffers still read that memory and its builders still wrote it: a
//! reused extent could change under a `&[u8]`, and `data_mut()` could write
//! into another client's object. Now the socket (and so the holds) lasts
//! until the last buffer and builder is dropped.
//!
//! The failure is made on our side only: `shutdown(SHUT_RD)` on the
//! client's own socket makes its I/O task read end-of-stream and give up,
//! as after a protocol error, while the store sees a live, quiet
//! connection. This file holds one test, so the socket it finds is that
//! client's.

use std::os::fd::RawFd;
use std::path::Path;

use nix::sys::socket::{getpeername, shutdown, Shutdown, UnixAddr};
use plasma_client::{
    AsyncClient, AsyncClientOptions, ContainsError, DeleteOutcome, ObjectId, ObjectInfo,
};
use plasma_e2e::{eventually, TestStore, PATIENCE};

/// The only socket of this process connected to the store in `dir` (it
/// binds under a temporary name there, which its peers see).
fn socket_to(dir: &Path) -> RawFd {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(fd) = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .parse::<RawFd>()
        else {
            continue;
        };
        if let Ok(peer) = getpeername::<UnixAddr>(fd) {
            if peer.path().is_some_and(|p| p.starts_with(dir)) {
                found.push(fd);
            }
        }
    }
    assert_eq!(found.len(), 1, "sockets connected to the store: {found:?}");
    found[0]
}

fn info(objects: &[ObjectInfo], id: ObjectId) -> Option<&ObjectInfo> {
    objects.iter().find(|o| o.object_id == id)
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_async_connection_keeps_its_holds_and_unsealed_objects_until_the_last_view_goes() {
    let store = TestStore::start();
    // Every object created in the store's memory, so the builder below
    // has an object there to keep (a small one would be built locally).
    let mut options = AsyncClientOptions::default();
    options.put_inline_max = 0;
    let client = AsyncClient::connect_with(store.socket(), options)
        .await
        .unwrap();
    let held = ObjectId::random();
    let unsealed = ObjectId::random();
    client
        .create_and_seal(held, b"held bytes", b"")
        .await
        .unwrap();
    let buffer = client.try_get(&[held]).await.unwrap()[0].clone().unwrap();
    let mut builder = client.create(unsealed, 4, b"").await.unwrap();

    shutdown(socket_to(store.dir()), Shutdown::Read).unwrap();
    // Waited for with `stats`, which the client answers itself: a request
    // written now would find the store's sending side shut, and the store
    // would drop the connection.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while client.stats().await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client never gave up"
        );
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        client.contains(held).await,
        Err(ContainsError::Disconnected)
    ));

    // The store still counts our hold and keeps our unsealed object.
    let other = store.client();
    let objects = other.list().unwrap();
    assert_eq!(
        info(&objects, held).map(|o| o.ref_count),
        Some(1),
        "the failed client's hold ended while its buffer lives"
    );
    assert!(
        info(&objects, unsealed).is_some(),
        "the failed client's unsealed object was erased while its builder lives"
    );
    assert_eq!(other.delete(&[held]).unwrap(), vec![DeleteOutcome::InUse]);
    builder.data_mut().copy_from_slice(b"mine");
    assert_eq!(buffer.data(), b"held bytes");

    drop(client);
    drop(builder);
    assert!(
        info(&other.list().unwrap(), unsealed).is_some(),
        "the connection closed while a buffer lives"
    );
    drop(buffer);
    eventually(
        "the store ends the failed client's hold and erases its object",
        || {
            let objects = other.list().unwrap();
            info(&objects, held).is_none() && info(&objects, unsealed).is_none()
        },
    );
}
