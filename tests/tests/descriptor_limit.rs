//! At the descriptor limit the store neither hangs clients nor spins.
//!
//! Before: with `ulimit -n 256`, clients past the 247th sat in the backlog
//! with no reply, and stayed there after descriptors were freed, until yet
//! another client connected (the edge-triggered listener had given up on
//! EMFILE). Now clients past `--max-clients` (derived from the limit) are
//! refused at once, and when the process does run out of descriptors it
//! accepts the waiting clients as soon as it closes one of its own.

use std::time::Duration;

use plasma_e2e::procfs::{cpu_ticks, open_fds};
use plasma_e2e::{eventually, RawConnection, TestStore};
use plasma_store::config::max_clients_for;

const NOFILE: u32 = 64;

/// Clock ticks (1/100 s) the daemon may use in a two-second window while it
/// only refuses or waits: a busy loop would use about 200.
const IDLE_TICKS: u64 = 40;

fn ticks_over_two_seconds(store: &TestStore) -> u64 {
    let before = cpu_ticks(store.pid());
    // A measurement window, not a wait for a condition.
    std::thread::sleep(Duration::from_secs(2));
    cpu_ticks(store.pid()) - before
}

#[test]
fn clients_past_max_clients_are_refused_and_later_ones_served() {
    let mut store = TestStore::builder().nofile(NOFILE).start();
    let max = max_clients_for(u64::from(NOFILE));
    let mut served: Vec<RawConnection> = (0..max)
        .map(|_| RawConnection::connect_handshake(store.socket()).0)
        .collect();
    for i in 0..5 {
        let mut extra = RawConnection::connect(store.socket());
        assert!(
            !extra.still_answers(),
            "client {} past the max was served",
            max + i
        );
    }
    let idle = ticks_over_two_seconds(&store);
    assert!(idle <= IDLE_TICKS, "{idle} ticks of CPU while refusing");
    let text = store.stderr_text();
    assert_eq!(
        text.matches("refusing new ones").count(),
        1,
        "one line per burst\n{}",
        store.stderr_report()
    );
    let full = open_fds(store.pid());
    served.truncate(max - 5);
    // A client racing the store's read of those hang-ups would be refused.
    eventually("the store closes the five connections", || {
        open_fds(store.pid()) == full - 5
    });
    for _ in 0..5 {
        let (mut again, _) = RawConnection::connect_handshake(store.socket());
        assert!(again.still_answers());
        served.push(again);
    }
    for conn in &mut served {
        assert!(conn.still_answers());
    }
    store.assert_running();
    assert!(store.stderr_text().contains("5 refused meanwhile"));
}

#[test]
fn clients_waiting_for_a_descriptor_are_served_once_one_frees() {
    // A max far above what the descriptors allow: the store runs out first.
    let mut store = TestStore::builder()
        .nofile(NOFILE)
        .arg("--max-clients")
        .arg("1000")
        .start();
    // Counted once the loop runs (it opens its poller after the socket).
    let (first, _) = RawConnection::connect_handshake(store.socket());
    let room = NOFILE as usize - open_fds(store.pid());
    let mut served: Vec<RawConnection> = (0..room)
        .map(|_| RawConnection::connect_handshake(store.socket()).0)
        .collect();
    served.push(first);
    let room = served.len();
    // These connect (the backlog takes them) but find no descriptor.
    let mut waiting: Vec<RawConnection> = (0..3)
        .map(|_| {
            let mut c = RawConnection::connect(store.socket());
            c.send_request(&plasma_protocol::Request::Connect).unwrap();
            c
        })
        .collect();
    eventually("the store notices it has no descriptor left", || {
        store.stderr_text().contains("no descriptor left")
    });
    let idle = ticks_over_two_seconds(&store);
    assert!(
        idle <= IDLE_TICKS,
        "{idle} ticks of CPU while out of descriptors"
    );
    // Three served clients leave; nobody else connects.
    served.truncate(room - 3);
    for c in &mut waiting {
        match c.read_reply() {
            Ok(Some(plasma_protocol::Reply::Connect { .. })) => {}
            other => panic!(
                "a waiting client was not served: {other:?}\n{}",
                store.stderr_report()
            ),
        }
    }
    for c in served.iter_mut().chain(&mut waiting) {
        assert!(c.still_answers());
    }
    store.assert_running();
}
