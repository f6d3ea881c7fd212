//! A store that dies (SIGKILL) under a blocked get: the get ends promptly
//! with `Disconnected`, in this process and in another one.

use std::sync::mpsc;

use plasma_client::GetError;
use plasma_e2e::{eventually, TestStore, PATIENCE};
use plasma_protocol::ObjectId;

#[test]
fn blocked_get_fails_with_disconnected_when_the_store_is_killed() {
    let mut store = TestStore::start();
    let client = store.client();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = client.get(&[ObjectId::random()]).map(|got| got.len());
        let _ = tx.send(result);
    });
    eventually("the get waits in the store", || store.waiting_gets() == 1);
    store.kill();
    match rx.recv_timeout(PATIENCE) {
        Ok(Err(GetError::Disconnected)) => {}
        Ok(other) => panic!("expected Err(Disconnected), got {other:?}"),
        Err(_) => panic!("the get was still blocked {PATIENCE:?} after the store died"),
    }
}

#[test]
fn blocked_get_in_another_process_ends_with_disconnected_when_the_store_is_killed() {
    let mut store = TestStore::start();
    let mut waiter = store.client_process("get-blocking", &[&ObjectId::random().to_string()]);
    eventually("the waiter's get waits in the store", || {
        store.waiting_gets() == 1
    });
    store.kill();
    waiter.expect_line("error: Disconnected");
    waiter.finish();
}

#[test]
fn calls_after_the_store_died_fail_instead_of_hanging() {
    let mut store = TestStore::start();
    let client = store.client();
    store.kill();
    let result = plasma_e2e::within("contains after the store died", move || {
        client.contains(ObjectId::random()).is_err()
    });
    assert!(result, "contains on a dead store must fail");
}
