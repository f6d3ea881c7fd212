//! A hostile client cannot flood the store's log: lines about misbehaving
//! or refused peers are limited per window, the rest counted.
//!
//! Before: every dropped connection wrote one warning, so a client
//! opening connections and sending garbage as fast as it could wrote the
//! log as fast as the store could accept.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use plasma_e2e::{RawConnection, TestStore, PATIENCE};

#[test]
fn many_bad_peers_make_a_bounded_number_of_log_lines() {
    let mut store = TestStore::start();
    for _ in 0..300 {
        let mut bad = UnixStream::connect(store.socket()).unwrap();
        bad.set_read_timeout(Some(PATIENCE)).unwrap();
        // Version 7: not a frame this store accepts.
        let _ = bad.write_all(&[7u8; 24]);
        // The store drops it (end of file, or a reset).
        let mut rest = Vec::new();
        match bad.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("the bad peer was not dropped: {e}"),
        }
    }
    // A well-behaved client is still served.
    assert!(RawConnection::connect(store.socket()).still_answers());
    store.assert_running();
    let text = store.stderr_text();
    let lines = text.lines().filter(|l| l.contains("WARN")).count();
    assert!(
        lines <= 21,
        "{lines} warning lines for 300 bad peers\n{}",
        store.stderr_report()
    );
    assert!(text.contains("dropping connection: bad frame header"));
}
