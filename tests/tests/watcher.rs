//! `Watcher`: `as_future` driven by a loop the caller runs (what the Python
//! package's asyncio glue does), against our store (pushes) and against
//! Arrow Plasma 11 (notifications). The loop here is a plain `poll(2)` on
//! the watcher's descriptor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use plasma_client::{Pending, Ready, Watcher, WatcherOptions};
use plasma_e2e::{eventually, TestStore, PATIENCE};
use plasma_protocol::ObjectId;

/// A waiter: "still waiting" until the test says otherwise.
#[derive(Clone)]
struct Flag(Arc<AtomicBool>);

impl Flag {
    fn new() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
    fn cancel(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Pending for Flag {
    fn is_live(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

fn stores() -> Vec<(&'static str, TestStore)> {
    vec![
        ("ours", TestStore::builder().memory(50_000_000).start()),
        (
            "plasma11",
            TestStore::builder().memory(50_000_000).plasma11().start(),
        ),
    ]
}

/// Polls (sleeping in poll(2) on the watcher's descriptor) until `enough`
/// says the objects collected so far suffice.
fn run_until(
    watcher: &mut Watcher<Flag>,
    mut enough: impl FnMut(&[Ready<Flag>]) -> bool,
) -> Vec<Ready<Flag>> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    loop {
        got.extend(watcher.poll().expect("poll"));
        if enough(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "objects did not arrive in time");
        let mut flags = PollFlags::POLLIN;
        if watcher.wants_write() {
            flags |= PollFlags::POLLOUT;
        }
        let mut fds = [PollFd::new(watcher.fd(), flags)];
        poll(&mut fds, PollTimeout::from(100u16)).expect("poll(2)");
    }
}

fn seal(store: &TestStore, id: ObjectId, data: &[u8]) {
    store.client().create_and_seal(id, data, b"").unwrap();
}

#[test]
fn a_seal_in_another_thread_resolves_every_waiter_of_its_id_once() {
    for (name, store) in stores() {
        let mut watcher: Watcher<Flag> =
            Watcher::connect(store.socket(), WatcherOptions::default()).unwrap();
        assert_eq!(watcher.uses_pushes(), name == "ours", "{name}");
        let before = ObjectId::random();
        seal(&store, before, b"before");
        let later = ObjectId::random();
        let empty = ObjectId::random();
        assert!(watcher.register(before, Flag::new()));
        assert!(watcher.register(later, Flag::new()));
        assert!(!watcher.register(later, Flag::new()), "second waiter");
        assert!(watcher.register(empty, Flag::new()));
        let socket = store.socket().to_path_buf();
        let producer = std::thread::spawn(move || {
            let client = plasma_client::Client::connect(socket).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            client.create_and_seal(later, b"later", b"m").unwrap();
            client.create_and_seal(empty, b"", b"").unwrap();
        });
        let got = run_until(&mut watcher, |got| got.len() == 3);
        producer.join().unwrap();
        for ready in &got {
            let id = ready.buffer.id();
            let (data, waiters) = if id == before {
                (&b"before"[..], 1)
            } else if id == later {
                (&b"later"[..], 2)
            } else {
                (&b""[..], 1)
            };
            assert_eq!(ready.buffer.data(), data, "{name}");
            assert_eq!(ready.waiters.len(), waiters, "{name}");
        }
        assert!(watcher.is_empty(), "{name}: every id resolved once");
        assert!(watcher.poll().unwrap().is_empty(), "{name}: nothing twice");
    }
}

#[test]
fn a_cancelled_waiter_is_forgotten_and_holds_nothing() {
    for (name, store) in stores() {
        let mut watcher: Watcher<Flag> =
            Watcher::connect(store.socket(), WatcherOptions::default()).unwrap();
        let id = ObjectId::random();
        let flag = Flag::new();
        watcher.register(id, flag.clone());
        watcher.poll().unwrap();
        flag.cancel();
        watcher.cancel(id);
        assert!(watcher.is_empty(), "{name}");
        watcher.poll().unwrap();
        seal(&store, id, b"unwanted");
        let probe = ObjectId::random();
        watcher.register(probe, Flag::new());
        seal(&store, probe, b"probe");
        let got = run_until(&mut watcher, |got| {
            got.iter().any(|r| r.buffer.id() == probe)
        });
        for ready in &got {
            assert_ne!(ready.buffer.id(), id, "{name}: the cancelled id came back");
        }
        drop(got);
        let client = store.client();
        eventually("nobody holds the cancelled object", || {
            client
                .list()
                .unwrap()
                .iter()
                .all(|info| info.ref_count == 0)
        });
        assert_eq!(client.evict(1 << 20).unwrap(), 8 + 5, "{name}");
    }
}

#[test]
fn a_buffer_dropped_on_another_thread_releases_its_object() {
    for (name, store) in stores() {
        let mut watcher: Watcher<Flag> =
            Watcher::connect(store.socket(), WatcherOptions::default()).unwrap();
        let id = ObjectId::random();
        watcher.register(id, Flag::new());
        seal(&store, id, b"payload");
        let mut got = run_until(&mut watcher, |got| !got.is_empty());
        let buffer = got.pop().unwrap().buffer;
        let client = store.client();
        assert_eq!(client.list().unwrap()[0].ref_count, 1, "{name}: held");
        std::thread::spawn(move || drop(buffer)).join().unwrap();
        eventually("the release reaches the store", || {
            client.list().unwrap()[0].ref_count == 0
        });
        // The watcher's connection is still in step.
        let next = ObjectId::random();
        watcher.register(next, Flag::new());
        seal(&store, next, b"next");
        run_until(&mut watcher, |got| !got.is_empty());
    }
}

#[test]
fn store_death_ends_the_watch_at_once() {
    for (name, mut store) in stores() {
        let mut watcher: Watcher<Flag> =
            Watcher::connect(store.socket(), WatcherOptions::default()).unwrap();
        let id = ObjectId::random();
        let flag = Flag::new();
        watcher.register(id, flag);
        watcher.poll().unwrap();
        store.kill();
        // The descriptor turns readable by itself: a loop watching it
        // learns of the death without any timer.
        let mut fds = [PollFd::new(watcher.fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut fds, PollTimeout::from(10_000u16)).unwrap(), 1);
        assert!(watcher.poll().is_err(), "{name}: the loss is reported");
        let left = watcher.close();
        assert_eq!(left.len(), 1, "{name}: the pending waiter is handed back");
    }
}
