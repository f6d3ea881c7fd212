//! Our tokio client against Arrow Plasma 11's own `plasma-store-server`:
//! the store offers none of our additions, so the client finds that out
//! from its debug text and waits through seal notifications and Gets. A
//! future must resolve there as it does against our store, and the client
//! must never send the real store a message type it does not know (which
//! would make it abort).

use std::time::{Duration, Instant};

use plasma_client::AsyncClient;
use plasma_e2e::{TestStore, PATIENCE};
use plasma_protocol::ObjectId;

#[test]
fn as_future_resolves_against_arrow_plasma_11() {
    let mut store = TestStore::builder().memory(100_000_000).plasma11().start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = AsyncClient::connect(store.socket()).await.unwrap();
        let sealed_before = ObjectId::random();
        client
            .create_and_seal(sealed_before, b"before", b"")
            .await
            .unwrap();
        let later = ObjectId::random();
        let futures = client.as_futures(&[sealed_before, later]);
        // Seal `later` only once the client found `sealed_before` and still
        // waits for `later`, so that a seal notification must resolve it.
        let deadline = Instant::now() + PATIENCE;
        while client.stats().await.unwrap().waiting_objects != 1 {
            assert!(
                Instant::now() < deadline,
                "the client never checked its ids"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let producer = store.client();
        tokio::task::spawn_blocking(move || {
            let mut b = producer.create(later, 5, b"m").unwrap();
            b.data_mut().copy_from_slice(b"later");
            drop(b.seal().unwrap());
        });
        let got = tokio::time::timeout(PATIENCE, futures)
            .await
            .expect("the futures resolve");
        assert_eq!(got[0].as_ref().unwrap().data(), b"before");
        assert_eq!(got[1].as_ref().unwrap().data(), b"later");
        let stats = client.stats().await.unwrap();
        assert_eq!(stats.pushed, 0, "no pushes from a store without them");
        assert!(stats.router_gets >= 1);
    });
    store.assert_running();
}
