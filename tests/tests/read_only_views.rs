//! Views that only read see the store's memory through a read-only
//! mapping: a get's buffers, a sealed object's buffer, an object pushed to
//! an `AsyncClient` future. Only a builder writes, through a writable
//! mapping of its own. Every view used to be a window into one writable
//! mapping, so a stray write through a buffer (unsafe code that casts its
//! `&[u8]` to `&mut`) landed in a sealed object other processes read.

use plasma_client::{AsyncClient, AsyncClientOptions, ClientOptions, ObjectId};
use plasma_e2e::{permissions_of, TestStore};

const READ_ONLY: &str = "r--s";
const WRITABLE: &str = "rw-s";

#[test]
fn the_blocking_client_reads_through_a_read_only_mapping_and_builds_through_a_writable_one() {
    let store = TestStore::start();
    // Built in shared memory (a small object is built locally by default).
    let client = store.client_with({
        let mut o = ClientOptions::default();
        o.put_inline_max = 0;
        o
    });
    let id = ObjectId::random();
    let mut builder = client.create(id, 4096, b"meta").unwrap();
    assert_eq!(permissions_of(builder.data_mut()), WRITABLE);
    builder.data_mut().fill(7);
    let sealed = builder.seal().unwrap();
    assert_eq!(permissions_of(sealed.data()), READ_ONLY, "a sealed buffer");

    let reader = store.client();
    let got = reader.try_get(&[id]).unwrap().pop().flatten().unwrap();
    assert_eq!(permissions_of(got.data()), READ_ONLY, "a get's buffer");
    assert_eq!(permissions_of(got.metadata()), READ_ONLY);
    assert_eq!(got.data(), &[7; 4096][..]);
    assert_eq!(got.metadata(), b"meta");
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_client_reads_gets_and_pushes_through_a_read_only_mapping() {
    let store = TestStore::start();
    let mut options = AsyncClientOptions::default();
    options.put_inline_max = 0;
    let client = AsyncClient::connect_with(store.socket(), options)
        .await
        .unwrap();
    let pushed = ObjectId::random();
    let future = client.as_future(pushed);
    let mut builder = client.create(ObjectId::random(), 4096, b"").await.unwrap();
    assert_eq!(permissions_of(builder.data_mut()), WRITABLE);
    builder.data_mut().fill(3);
    let sealed = builder.seal().await.unwrap();
    assert_eq!(permissions_of(sealed.data()), READ_ONLY, "a sealed buffer");

    store
        .client()
        .create_and_seal(pushed, &[9; 4096], b"")
        .unwrap();
    let pushed_buf = future.await.unwrap();
    assert_eq!(permissions_of(pushed_buf.data()), READ_ONLY, "a push");
    assert_eq!(pushed_buf.data(), &[9; 4096][..]);
    let got = client.try_get(&[pushed]).await.unwrap()[0].clone().unwrap();
    assert_eq!(permissions_of(got.data()), READ_ONLY, "a get's buffer");
}

#[test]
fn a_small_put_and_a_direct_get_read_through_the_read_only_mapping_too() {
    let store = TestStore::start();
    let client = store.client();
    let id = ObjectId::random();
    let mut builder = client.create(id, 100, b"m").unwrap();
    builder.data_mut().fill(5);
    let sealed = builder.seal().unwrap();
    assert_eq!(permissions_of(sealed.data()), READ_ONLY, "a put's buffer");
    let got = store
        .client()
        .try_get(&[id])
        .unwrap()
        .pop()
        .flatten()
        .unwrap();
    assert_eq!(
        permissions_of(got.data()),
        READ_ONLY,
        "a direct get's buffer"
    );
    assert_eq!(got.data(), &[5; 100][..]);
}
