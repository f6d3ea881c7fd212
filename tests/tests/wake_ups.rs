//! One request, one wake-up on each side.
//!
//! The story: a reading peer makes the kernel signal write space on the
//! sender's socket, and that signal woke whoever listened for it: the
//! store (registered for writable events on every connection) was woken by
//! every reply a client read, and a blocking client sleeping in `recv` (and
//! the tokio client, registered for writable events too) by every request
//! the store read. On these virtual machines each wasted wake-up is a
//! cross-CPU interrupt costing tens of microseconds, and they doubled the
//! store's sleeps. Now the store asks for writable events only while output
//! waits, the blocking client sleeps in `poll(POLLIN)`, and the tokio
//! client registers its sockets for readability only.
//!
//! The tests count voluntary context switches (sleeps) in `/proc`: each
//! side must sleep about once per request, not twice.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use plasma_e2e::{RawConnection, TestStore};
use plasma_protocol::{ObjectId, Reply, Request};

const REQUESTS: u64 = 100;

/// Voluntary context switches of `status` text (a /proc status file).
fn voluntary(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches in /proc status")
}

/// Sleeps of every thread of process `pid` so far.
fn process_sleeps(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the store's /proc entry")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .map(|s| voluntary(&s))
        .sum()
}

/// Sleeps of the calling thread so far.
fn own_sleeps() -> u64 {
    voluntary(&std::fs::read_to_string("/proc/thread-self/status").expect("/proc/thread-self"))
}

#[test]
fn a_client_reading_its_reply_does_not_wake_the_store() {
    let store = TestStore::start();
    let (mut conn, _) = RawConnection::connect_handshake(store.socket());
    let id = ObjectId::random();
    let before = process_sleeps(store.pid());
    for _ in 0..REQUESTS {
        conn.send_request(&Request::Contains { id }).unwrap();
        // Read only once the store has surely gone back to sleep: reading
        // the reply must not wake it.
        let mut fds = [PollFd::new(conn.stream().as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(10_000u16)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        assert!(matches!(
            conn.read_reply(),
            Ok(Some(Reply::Contains { .. }))
        ));
        // And send the next request only once a wake-up caused by the read
        // would have put the store to sleep again.
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(5));
    let sleeps = process_sleeps(store.pid()) - before;
    assert!(
        sleeps <= REQUESTS * 3 / 2,
        "the store slept {sleeps} times for {REQUESTS} requests (twice each means every read reply woke it)"
    );
}

#[test]
fn a_blocking_call_sleeps_once_while_the_store_answers() {
    let store = TestStore::start();
    let client = store.client();
    let id = ObjectId::random();
    assert!(!client.contains(id).unwrap());
    let before = own_sleeps();
    for _ in 0..REQUESTS {
        assert!(!client.contains(id).unwrap());
    }
    let sleeps = own_sleeps() - before;
    assert!(
        sleeps <= REQUESTS * 3 / 2,
        "the calling thread slept {sleeps} times for {REQUESTS} calls (twice each means the store's read of each request woke it)"
    );
}

#[test]
fn an_async_call_sleeps_once_while_the_store_answers() {
    let store = TestStore::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = plasma_client::AsyncClient::connect(store.socket())
            .await
            .unwrap();
        let id = ObjectId::random();
        assert!(!client.contains(id).await.unwrap());
        let before = own_sleeps();
        for _ in 0..REQUESTS {
            assert!(!client.contains(id).await.unwrap());
        }
        let sleeps = own_sleeps() - before;
        assert!(
            sleeps <= REQUESTS * 3 / 2,
            "the runtime thread slept {sleeps} times for {REQUESTS} calls (twice each means the store's read of each request woke it)"
        );
    });
}
