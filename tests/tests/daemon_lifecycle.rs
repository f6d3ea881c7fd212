//! The daemon as a process: its socket's permissions, refusing to displace
//! a live store, replacing a dead one's socket file, and a clean exit on
//! SIGTERM (pyarrow's harness asserts status 0).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use plasma_e2e::{RawConnection, TestStore};
use plasma_protocol::ObjectId;

#[test]
fn socket_is_private_even_when_started_under_umask_000() {
    let store = TestStore::builder().umask(0o000).start();
    // The daemon really runs under umask 000 (the test would prove nothing otherwise).
    let status = std::fs::read_to_string(format!("/proc/{}/status", store.pid())).unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(str::trim);
    assert_eq!(umask, Some("0000"), "{status}");
    let meta = std::fs::metadata(store.socket()).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "socket mode is {:o}",
        meta.permissions().mode() & 0o777
    );
}

#[test]
fn second_daemon_on_a_live_socket_exits_with_a_clear_message() {
    let mut first = TestStore::start();
    let (status, stderr) = TestStore::builder()
        .socket(first.socket())
        .start_expecting_exit();
    assert!(!status.success(), "the second daemon exited with {status}");
    let socket = first.socket().display().to_string();
    assert!(
        stderr.contains(&socket),
        "the message should name the socket {socket}: {stderr:?}"
    );
    let lower = stderr.to_lowercase();
    assert!(
        ["already", "in use", "serving"]
            .iter()
            .any(|w| lower.contains(w)),
        "the message should say the socket is in use: {stderr:?}"
    );

    // The first daemon keeps its socket and keeps serving.
    first.assert_running();
    let (_conn, capacity) = RawConnection::connect_handshake(first.socket());
    assert_eq!(capacity, first.memory() as i64);
}

#[test]
fn stale_socket_file_of_a_dead_daemon_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("plasma.sock");
    let mut dead = TestStore::builder()
        .socket(&socket)
        .memory(3_000_000)
        .start();
    dead.kill();
    assert!(socket.exists(), "a SIGKILLed daemon leaves its socket file");

    let fresh = TestStore::builder()
        .socket(&socket)
        .memory(4_000_000)
        .start();
    let (_conn, capacity) = RawConnection::connect_handshake(fresh.socket());
    assert_eq!(capacity, 4_000_000, "connected to the new daemon");
}

#[test]
fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, b"keep me").unwrap();
    let (status, stderr) = TestStore::builder().socket(&path).start_expecting_exit();
    assert!(!status.success(), "the daemon exited with {status}");
    assert!(!stderr.trim().is_empty(), "the refusal should be explained");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn sigterm_stops_the_daemon_with_status_0() {
    let mut store = TestStore::start();
    // A connected client must not keep the daemon from exiting.
    let (_conn, _) = RawConnection::connect_handshake(store.socket());
    let status = store.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}\n{}",
        store.stderr_report()
    );
}

#[test]
fn sigterm_with_a_blocked_get_and_a_subscriber_still_exits_0() {
    let mut store = TestStore::start();
    let client = store.client();
    let _sub = client.subscribe().unwrap();
    let _unsealed = client.create(ObjectId::random(), 100, b"").unwrap();
    let mut waiter = store.client_process("get-blocking", &[&ObjectId::random().to_string()]);
    plasma_e2e::eventually("the waiter's get waits in the store", || {
        store.waiting_gets() == 1
    });
    let status = store.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}\n{}",
        store.stderr_report()
    );
    waiter.expect_line("error: Disconnected");
}

#[test]
fn arena_in_an_explicit_directory_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = TestStore::builder().arg("-d").arg(dir.path()).start();
    let id = ObjectId::random();
    let client = store.client();
    client.create_and_seal(id, b"on disk", b"").unwrap();
    let got = client.try_get(&[id]).unwrap();
    assert_eq!(got[0].as_ref().unwrap().data(), b"on disk");
    drop(got);
    drop(client);
    assert_eq!(store.terminate().code(), Some(0));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files left in -d: {left:?}");
}

#[test]
fn bad_memory_argument_is_refused_with_status_1() {
    let (status, stderr) = TestStore::builder().memory(0).start_expecting_exit();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.trim().is_empty());
}
