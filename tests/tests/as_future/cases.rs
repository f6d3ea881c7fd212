//! The cases, run by `as_future.rs` (the store pushes awaited objects:
//! our Await addition) and by `as_future_notifications.rs` (the client
//! waits through seal notifications and Gets, as with Arrow Plasma 11).

use std::future::Future;
use std::time::{Duration, Instant};

use plasma_client::{AsFutureError, AsyncClient, AsyncClientOptions, DeleteOutcome, GetError};
use plasma_e2e::{pattern, TestStore, PATIENCE};
use plasma_protocol::ObjectId;

async fn connect(store: &TestStore) -> AsyncClient {
    let mut options = AsyncClientOptions::default();
    options.store_extensions = super::STORE_EXTENSIONS;
    AsyncClient::connect_with(store.socket(), options)
        .await
        .unwrap_or_else(|e| panic!("async connect failed: {e}\n{}", store.stderr_report()))
}

/// Awaits `f`, failing the test (instead of hanging) after [`PATIENCE`].
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {PATIENCE:?}"),
    }
}

/// Whether `f` is still pending after `wait`.
async fn still_pending<F: Future + Unpin>(f: &mut F, wait: Duration) -> bool {
    tokio::time::timeout(wait, f).await.is_err()
}

/// Seals `data` as `id` from a blocking client on its own thread.
async fn seal_elsewhere(store: &TestStore, id: ObjectId, data: Vec<u8>) {
    let client = store.client();
    tokio::task::spawn_blocking(move || {
        let mut builder = client.create(id, data.len() as u64, b"meta").unwrap();
        builder.data_mut().copy_from_slice(&data);
        drop(builder.seal().unwrap());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn future_created_before_the_seal_resolves_with_the_sealed_bytes() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let id = ObjectId::random();
    let mut future = client.as_future(id);
    assert!(
        still_pending(&mut future, Duration::from_millis(100)).await,
        "resolved before anyone sealed the object"
    );
    let data = pattern(1, 10_000);
    seal_elsewhere(&store, id, data.clone()).await;
    let buf = within("the future", future).await.unwrap();
    assert_eq!(buf.id(), id);
    assert_eq!(buf.data(), &data[..]);
    assert_eq!(buf.metadata(), b"meta");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_sealed_before_the_call_resolves_at_once() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let id = ObjectId::random();
    client.create_and_seal(id, b"early", b"m").await.unwrap();
    let buf = within("the future", client.as_future(id)).await.unwrap();
    assert_eq!(buf.data(), b"early");
    assert_eq!(buf.metadata(), b"m");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_sealed_by_another_process_resolves_the_future() {
    let store = TestStore::start();
    let client = connect(&store).await;
    client.init().await.unwrap();
    let id = ObjectId::random();
    let future = client.as_future(id);
    let mut producer = store.client_process("put", &[&id.to_string(), "4096", "7"]);
    let buf = within("the future", future).await.unwrap();
    assert_eq!(buf.data(), &pattern(7, 4096)[..]);
    producer.expect_line("sealed");
    producer.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_futures_on_one_id_resolve_from_one_fetch() {
    let store = TestStore::start();
    let client = connect(&store).await;
    client.init().await.unwrap();
    let before = client.stats().await.unwrap();
    let id = ObjectId::random();
    let futures = client.as_futures(&vec![id; 1000]);
    assert_eq!(client.stats().await.unwrap().waiting_objects, 1);
    seal_elsewhere(&store, id, b"shared".to_vec()).await;
    let bufs: Vec<_> = within("1000 futures on one id", futures)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(bufs.len(), 1000);
    let first = bufs[0].data().as_ptr();
    for buf in &bufs {
        assert_eq!(buf.data(), b"shared");
        assert_eq!(buf.data().as_ptr(), first, "one fetch, one mapping");
    }
    let after = client.stats().await.unwrap();
    // One check when the first waiter registered, one fetch after the seal.
    assert!(
        after.router_ids - before.router_ids <= 2,
        "{} ids fetched for one object",
        after.router_ids - before.router_ids
    );
    assert_eq!(after.waiting_objects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_distinct_futures_resolve_with_their_own_objects() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let ids: Vec<ObjectId> = (0..10_000).map(|_| ObjectId::random()).collect();
    let futures = client.as_futures(&ids);
    let producer = {
        let producer = store.client();
        let ids = ids.clone();
        tokio::task::spawn_blocking(move || {
            for (i, id) in ids.iter().enumerate() {
                producer
                    .create_and_seal(*id, &(i as u64).to_le_bytes(), b"")
                    .unwrap();
            }
        })
    };
    let got = within("10,000 futures", futures).await;
    producer.await.unwrap();
    for (i, outcome) in got.into_iter().enumerate() {
        let buf = outcome.unwrap();
        assert_eq!(buf.id(), ids[i]);
        assert_eq!(buf.data(), (i as u64).to_le_bytes());
    }
    let stats = client.stats().await.unwrap();
    assert_eq!(stats.waiting_objects, 0);
    assert!(
        stats.router_gets < 10_000,
        "checks and fetches are batched ({} gets)",
        stats.router_gets
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_futures_are_forgotten_and_the_rest_still_resolve() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let ids: Vec<ObjectId> = (0..10).map(|_| ObjectId::random()).collect();
    let all: Vec<_> = (0..1000).map(|i| client.as_future(ids[i % 10])).collect();
    assert_eq!(client.stats().await.unwrap().waiting_objects, 10);
    drop(all);
    assert_eq!(client.stats().await.unwrap().waiting_objects, 0);

    // Half of the futures on one id dropped: the other half resolve.
    let id = ids[0];
    let mut kept = Vec::new();
    for i in 0..100 {
        let future = client.as_future(id);
        if i % 2 == 0 {
            kept.push(future);
        }
    }
    assert_eq!(client.stats().await.unwrap().waiting_objects, 1);
    seal_elsewhere(&store, id, b"half".to_vec()).await;
    for outcome in within("the kept futures", futures_join(kept)).await {
        assert_eq!(outcome.unwrap().data(), b"half");
    }
    assert_eq!(client.stats().await.unwrap().waiting_objects, 0);
}

async fn futures_join<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(futures.len());
    for f in futures {
        out.push(f.await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_fails_every_pending_wait_and_a_later_call_starts_again() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let ids: Vec<ObjectId> = (0..100).map(|_| ObjectId::random()).collect();
    let futures = client.as_futures(&ids);
    let get = client.get_timeout(&[ObjectId::random()], Duration::from_secs(60));
    let wait = client.wait(&ids, 1, None);
    client.init().await.unwrap();
    client.shutdown().await;
    for outcome in within("futures after shutdown", futures).await {
        assert!(
            matches!(outcome, Err(AsFutureError::Shutdown)),
            "{outcome:?}"
        );
    }
    assert!(matches!(
        within("get after shutdown", get).await,
        Err(GetError::Shutdown)
    ));
    assert!(matches!(
        within("wait after shutdown", wait).await,
        Err(AsFutureError::Shutdown)
    ));
    assert_eq!(client.stats().await.unwrap().waiting_objects, 0);

    // The next wait sets the channel up again.
    let id = ObjectId::random();
    let future = client.as_future(id);
    seal_elsewhere(&store, id, b"again".to_vec()).await;
    assert_eq!(
        within("a future after shutdown", future)
            .await
            .unwrap()
            .data(),
        b"again"
    );
    client.shutdown().await;
    client.init().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_store_resolves_pending_futures_with_disconnected_within_100_ms() {
    let mut store = TestStore::start();
    let client = connect(&store).await;
    client.init().await.unwrap();
    let ids: Vec<ObjectId> = (0..1000).map(|_| ObjectId::random()).collect();
    let futures = tokio::spawn(client.as_futures(&ids));
    let get = tokio::spawn(client.get(&[ObjectId::random()]));
    assert_eq!(client.stats().await.unwrap().waiting_objects, 1001);

    let killed = Instant::now();
    store.kill();
    let outcomes = within("futures after the store died", futures)
        .await
        .unwrap();
    let elapsed = killed.elapsed();
    for outcome in outcomes {
        assert!(
            matches!(outcome, Err(AsFutureError::Disconnected)),
            "{outcome:?}"
        );
    }
    assert!(
        elapsed <= Duration::from_millis(100),
        "futures resolved {elapsed:?} after the kill"
    );
    assert!(matches!(
        within("get after the store died", get).await.unwrap(),
        Err(GetError::Disconnected)
    ));
    // Later calls fail at once instead of hanging.
    assert!(within("contains", client.contains(ids[0])).await.is_err());
    assert!(matches!(
        within("a new future", client.as_future(ids[0])).await,
        Err(AsFutureError::Disconnected)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_length_objects_resolve_like_any_other() {
    let store = TestStore::start();
    let client = connect(&store).await;
    // Sealed before the call.
    let before = ObjectId::random();
    client.create_and_seal(before, b"", b"").await.unwrap();
    // Sealed after the call: empty data, and empty data with metadata.
    let after = ObjectId::random();
    let with_meta = ObjectId::random();
    let futures = client.as_futures(&[before, after, with_meta, after]);
    let producer = connect(&store).await;
    let builder = producer.create(after, 0, b"").await.unwrap();
    drop(builder.seal().await.unwrap());
    let builder = producer.create(with_meta, 0, b"m").await.unwrap();
    drop(builder.seal().await.unwrap());
    let got: Vec<_> = within("zero-length futures", futures)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), 4);
    for buf in &got {
        assert!(buf.data().is_empty());
    }
    assert_eq!(got[2].metadata(), b"m");
    assert_eq!(got[1].id(), after);
    assert_eq!(client.stats().await.unwrap().waiting_objects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_object_resolves_only_once_created_again_and_sealed() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let producer = connect(&store).await;
    let id = ObjectId::random();
    let mut future = client.as_future(id);

    let mut builder = producer.create(id, 4, b"").await.unwrap();
    builder.data_mut().copy_from_slice(b"old!");
    drop(builder); // aborts: no notification, no object
    assert!(still_pending(&mut future, Duration::from_millis(200)).await);
    assert!(!producer.contains(id).await.unwrap());

    let mut builder = producer.create(id, 4, b"").await.unwrap();
    builder.data_mut().copy_from_slice(b"new!");
    drop(builder.seal().await.unwrap());
    assert_eq!(within("the future", future).await.unwrap().data(), b"new!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_reports_which_objects_are_ready_and_which_are_not() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let ids: Vec<ObjectId> = (0..5).map(|_| ObjectId::random()).collect();
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        client.create_and_seal(*id, &[i as u8], b"").await.unwrap();
    }
    // Enough are ready: returns at once.
    let out = within("wait", client.wait(&ids, 3, None)).await.unwrap();
    assert_eq!(
        out.ready.iter().map(|b| b.id()).collect::<Vec<_>>(),
        vec![ids[0], ids[2], ids[4]]
    );
    assert_eq!(out.pending, vec![ids[1], ids[3]]);

    // Not enough ever: returns at the timeout with what is ready.
    let start = Instant::now();
    let out = within(
        "wait",
        client.wait(&ids, 5, Some(Duration::from_millis(150))),
    )
    .await
    .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!(out.ready.len(), 3);
    assert_eq!(out.pending, vec![ids[1], ids[3]]);

    // Zero timeout: only what is sealed now, at most `num_ready` of it, in
    // the caller's order.
    let out = within("wait", client.wait(&ids, 2, Some(Duration::ZERO)))
        .await
        .unwrap();
    assert_eq!(
        out.ready.iter().map(|b| b.id()).collect::<Vec<_>>(),
        vec![ids[0], ids[2]]
    );
    assert_eq!(out.ready[0].data(), [0]);
    assert_eq!(out.pending, vec![ids[1], ids[3], ids[4]]);

    // A seal while waiting completes the wait.
    let wait = client.wait(&ids, 4, None);
    seal_elsewhere(&store, ids[3], b"late".to_vec()).await;
    let out = within("wait", wait).await.unwrap();
    assert_eq!(out.pending, vec![ids[1]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_with_timeout_waits_through_the_router() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let absent = ObjectId::random();
    let start = Instant::now();
    let got = within(
        "get_timeout",
        client.get_timeout(&[absent], Duration::from_millis(100)),
    )
    .await
    .unwrap();
    assert!(got[0].is_none());
    assert!(start.elapsed() >= Duration::from_millis(100));

    let id = ObjectId::random();
    let get = client.get(&[id, absent, id]);
    let get_some = client.get_timeout(&[id, absent], Duration::from_millis(500));
    // Other calls are not held up by the waiting gets.
    assert!(!within("contains", client.contains(id)).await.unwrap());
    seal_elsewhere(&store, id, b"got".to_vec()).await;
    let got = within("get_timeout", get_some).await.unwrap();
    assert_eq!(got[0].as_ref().map(|b| b.data()), Some(&b"got"[..]));
    assert!(got[1].is_none());
    client.create_and_seal(absent, b"x", b"").await.unwrap();
    let got = within("get", get).await.unwrap();
    assert_eq!(
        got.iter().map(|b| b.data().to_vec()).collect::<Vec<_>>(),
        vec![b"got".to_vec(), b"x".to_vec(), b"got".to_vec()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_work_and_a_release_is_ordered_before_the_next_request() {
    let store = TestStore::start();
    let client = connect(&store).await;
    assert_eq!(client.store_capacity(), store.memory());
    let id = ObjectId::random();
    let mut builder = client.create(id, 5, b"meta").await.unwrap();
    assert_eq!(builder.metadata(), b"meta");
    builder.data_mut().copy_from_slice(b"hello");
    let sealed = builder.seal().await.unwrap();
    assert_eq!(sealed.data(), b"hello");
    assert!(client.contains(id).await.unwrap());
    let listed = client.list().await.unwrap();
    let info = listed.iter().find(|i| i.object_id == id).unwrap();
    assert_eq!((info.data_size, info.ref_count), (5, 1));

    let got = client.try_get(&[id, ObjectId::random()]).await.unwrap();
    assert_eq!(got[0].as_ref().unwrap().data(), b"hello");
    assert!(got[1].is_none());
    // Dropping every buffer queues the release before the delete below.
    drop(sealed);
    drop(got);
    assert_eq!(
        client.delete(&[id]).await.unwrap(),
        vec![DeleteOutcome::Deleted]
    );
    assert!(!client.contains(id).await.unwrap());

    client.create_and_seal(id, b"again", b"").await.unwrap();
    assert!(client.evict(1).await.unwrap() >= 5);
    assert!(!client.contains(id).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_awaited_buffer_releases_it_before_the_next_request() {
    let store = TestStore::start();
    let client = connect(&store).await;
    for _ in 0..20 {
        // With the channel being set up while the object is sealed, the
        // router may fetch it twice (its check and the notification); the
        // redundant fetch must not hold the release back.
        client.shutdown().await;
        let id = ObjectId::random();
        let futures = client.as_futures(&[id, id, id]);
        client
            .create_and_seal(id, b"short-lived", b"")
            .await
            .unwrap();
        let bufs = within("the futures", futures).await;
        assert!(bufs.iter().all(|b| b.is_ok()));
        drop(bufs);
        assert_eq!(
            client.delete(&[id]).await.unwrap(),
            vec![DeleteOutcome::Deleted]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_create_future_leaves_no_object_behind() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let id = ObjectId::random();
    drop(client.create(id, 100, b""));
    let _ = client.list().await.unwrap();
    // The abort was queued before this second list.
    let listed = client.list().await.unwrap();
    assert!(listed.iter().all(|i| i.object_id != id), "{listed:?}");
    // And the id can be created again.
    client.create_and_seal(id, b"ok", b"").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_share_one_client() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let tasks: Vec<_> = (0..50u64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let id = ObjectId::random();
                let waiting = client.as_future(id);
                let data = pattern(i, 1000 + i as usize);
                let mut b = client.create(id, data.len() as u64, b"").await.unwrap();
                b.data_mut().copy_from_slice(&data);
                let sealed = b.seal().await.unwrap();
                let got = client.try_get(&[id]).await.unwrap().pop().flatten();
                assert_eq!(got.unwrap().data(), &data[..]);
                assert_eq!(waiting.await.unwrap().data(), sealed.data());
            })
        })
        .collect();
    for t in tasks {
        within("a task", t).await.unwrap();
    }
    assert_eq!(client.stats().await.unwrap().waiting_objects, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_current_thread_runtime() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let producer = connect(&store).await;
    let id = ObjectId::random();
    let future = client.as_future(id);
    producer.create_and_seal(id, b"single", b"").await.unwrap();
    assert_eq!(
        within("the future", future).await.unwrap().data(),
        b"single"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_wait_through_the_path_chosen_for_this_store() {
    let store = TestStore::start();
    let client = connect(&store).await;
    let id = ObjectId::random();
    let future = client.as_future(id);
    client.create_and_seal(id, b"x", b"").await.unwrap();
    within("the future", future).await.unwrap();
    let stats = client.stats().await.unwrap();
    if super::STORE_EXTENSIONS {
        assert_eq!((stats.pushed, stats.router_gets), (1, 0), "{stats:?}");
    } else {
        assert_eq!(stats.pushed, 0, "{stats:?}");
        assert!(stats.router_gets >= 1, "{stats:?}");
    }
}
