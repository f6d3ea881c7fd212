//! The kill sweep: clients SIGKILLed after every protocol step, many times,
//! leave nothing behind.
//!
//! A keeper client seals a few objects and holds them. Each round starts
//! one `e2e-client kill-me` per step (create, write, seal, get, release,
//! subscribe, await, create_and_seal, batch; see that binary), all at once,
//! and kills them: in odd rounds right after they report the step done, in
//! even rounds at a staggered moment that may fall in the middle of a step.
//! After every round the store must have forgotten the dead clients' gets
//! and awaits, evicting everything evictable must bring its allocated bytes
//! back to the keeper's, and the keeper's objects must be intact (bytes and
//! digest). At the end, with the keeper's holds gone, a create of the whole
//! capacity must succeed.

use std::time::{Duration, Instant};

use plasma_client::{Client, ObjectBuffer};
use plasma_e2e::{eventually, pattern, ClientProcess, TestStore, STEPS};
use plasma_protocol::ObjectId;

/// Rounds of the sweep; each kills one client per step.
const ROUNDS: usize = 100;
/// The keeper's objects and their size.
const KEPT: u64 = 4;
const KEPT_SIZE: usize = 100_000;

struct Keeper {
    client: Client,
    ids: Vec<ObjectId>,
    held: Vec<ObjectBuffer>,
}

impl Keeper {
    fn start(store: &TestStore) -> Keeper {
        let client = store.client();
        let ids: Vec<ObjectId> = (0..KEPT).map(|_| ObjectId::random()).collect();
        for (seed, id) in ids.iter().enumerate() {
            client
                .create_and_seal(*id, &pattern(seed as u64, KEPT_SIZE), b"kept")
                .unwrap();
        }
        let held = client.get(&ids).unwrap();
        Keeper { client, ids, held }
    }

    fn assert_intact(&self, when: &str) {
        for (seed, (id, buffer)) in self.ids.iter().zip(&self.held).enumerate() {
            assert!(
                buffer.data() == pattern(seed as u64, KEPT_SIZE),
                "{when}: the bytes of {id} changed"
            );
            assert_eq!(buffer.metadata(), b"kept", "{when}: metadata of {id}");
            assert!(self.client.verify(*id).unwrap(), "{when}: digest of {id}");
        }
    }
}

fn kept_args(keeper: &Keeper) -> Vec<String> {
    keeper.ids.iter().map(ObjectId::to_string).collect()
}

#[test]
fn clients_killed_after_any_protocol_step_leave_nothing_behind() {
    let mut store = TestStore::start();
    let keeper = Keeper::start(&store);
    let baseline = store.allocated_bytes();
    assert_eq!(baseline, KEPT * KEPT_SIZE as u64 + KEPT * 4);
    let kept = kept_args(&keeper);
    let started = Instant::now();
    let mut kills = 0;
    let mut mid_step = 0;

    for round in 0..ROUNDS {
        let mut victims: Vec<ClientProcess> = STEPS
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let seed = (round * STEPS.len() + i).to_string();
                let mut args = vec![*step, seed.as_str()];
                args.extend(kept.iter().map(String::as_str));
                store.client_process("kill-me", &args)
            })
            .collect();
        if round % 2 == 1 {
            for victim in &mut victims {
                victim.expect_line("ready");
            }
        } else {
            // Deliberately unsynchronised: a moment between 0 and 7 ms
            // after the start, so some victims die inside a step.
            std::thread::sleep(Duration::from_millis((round / 2 % 8) as u64));
        }
        for victim in &mut victims {
            if !victim.has_exited() {
                mid_step += usize::from(round % 2 == 0);
                victim.kill();
                kills += 1;
            } else {
                panic!(
                    "a kill-me client exited by itself\n{}",
                    victim.stderr_report()
                );
            }
        }

        let when = format!("after round {round}");
        eventually("the store forgets the dead clients", || {
            store.waiting_gets() == 0 && store.awaited_objects() == 0 && {
                keeper.client.evict(u64::MAX).unwrap();
                store.allocated_bytes() == baseline
            }
        });
        store.assert_running();
        keeper.assert_intact(&when);
    }

    let capacity = store.memory();
    let Keeper { client, held, .. } = keeper;
    drop(held);
    let id = ObjectId::random();
    let whole = client
        .create(id, capacity, b"")
        .unwrap_or_else(|e| panic!("a create of the whole capacity failed: {e}"));
    drop(whole.seal().unwrap());
    assert_eq!(store.allocated_bytes(), capacity);
    store.assert_running();
    eprintln!(
        "kill sweep: {kills} clients killed ({ROUNDS} rounds x {} steps, {mid_step} at an unsynchronised moment) in {:.1} s",
        STEPS.len(),
        started.elapsed().as_secs_f64()
    );
}
