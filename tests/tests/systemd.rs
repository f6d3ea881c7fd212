//! Running under systemd: `Type=notify` readiness and stopping reports read
//! from a `NOTIFY_SOCKET` the test binds, and socket activation with the
//! listening socket passed as systemd passes it (descriptor 3,
//! `LISTEN_FDS=1`, `LISTEN_PID`), by this package's `e2e-activate` and, where
//! installed, by Debian's `systemd-socket-activate`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;

use plasma_e2e::{TestStore, PATIENCE};
use plasma_protocol::ObjectId;

/// A datagram socket standing in for systemd's notification socket.
fn notify_socket(dir: &Path) -> (UnixDatagram, std::path::PathBuf) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    (sock, path)
}

/// The next notification message, as text.
fn next_message(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no notification within {PATIENCE:?}: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn serves(store: &TestStore) {
    let client = store.client();
    let id = ObjectId::random();
    client.create_and_seal(id, b"activated", b"").unwrap();
    assert_eq!(client.get(&[id]).unwrap()[0].data(), b"activated");
}

#[test]
fn ready_is_reported_once_the_socket_accepts_and_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (notify, path) = notify_socket(dir.path());
    let mut store = TestStore::builder()
        .env("NOTIFY_SOCKET", &path)
        .start_without_waiting();
    let ready = next_message(&notify);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    // Ready means accepting: a connection succeeds at once.
    UnixStream::connect(store.socket()).expect("the store accepts once it says READY=1");
    assert!(ready.contains("STATUS=accepting connections"), "{ready:?}");
    serves(&store);
    store.sigterm();
    let stopping = next_message(&notify);
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    assert_eq!(store.wait_exit().code(), Some(0));
}

#[test]
fn a_socket_passed_by_the_service_manager_is_served_and_left_as_it_was() {
    let mut store = TestStore::builder().socket_activation(0o660).start();
    serves(&store);
    assert!(
        store
            .stderr_text()
            .contains("serving the socket passed by the service manager"),
        "{}",
        store.stderr_report()
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // The unit owns the socket's mode (we would make our own 0600) ...
    assert_eq!(mode(store.socket()), 0o660);
    assert_eq!(store.terminate().code(), Some(0));
    // ... and its file: it outlives this run of the daemon.
    assert!(
        store.socket().exists(),
        "the passed socket's file was removed"
    );
}

#[test]
fn systemd_socket_activate_starts_a_working_store() {
    let tool = Path::new("/usr/bin/systemd-socket-activate");
    if !tool.exists() {
        eprintln!("skipped: {} is not installed", tool.display());
        return;
    }
    let mut store = TestStore::builder().systemd_socket_activate(tool).start();
    serves(&store);
    assert_eq!(store.terminate().code(), Some(0));
}
