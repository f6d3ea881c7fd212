//! The store core driven as the event loop drives it: arbitrary sequences
//! of requests from four clients, with connects, disconnects, protocol
//! violations (which cost the client its connection, as in the loop), raw
//! frames through the request decoder, time passing for Get deadlines,
//! and, with spilling on, the disk work the core asks for finished in any
//! order, successfully or not, with deferred requests handed in again when
//! the core resumes them. After every step the core's invariants hold
//! (`Store::check_invariants`) and its effects are sound
//! (`EffectChecker`); at the end, with every client gone and the disk work
//! done, everything can be evicted and the arena is whole again.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use plasma_protocol::{decode_request, ObjectId, Request};
use plasma_store::core::{
    Audience, ClientId, Clock, DiskOp, Effect, EffectChecker, Handled, Outcome, RestoreError,
    SpillError, Store, StoreConfig, VecMemory,
};

/// Clients 0..CLIENTS; ids 0..IDS, so that requests meet each other's objects.
const CLIENTS: u8 = 4;
const IDS: u8 = 16;

/// Inline bytes for create-and-seal (their values do not matter).
static INLINE: [u8; 1 << 16] = [0xAB; 1 << 16];

#[derive(Arbitrary, Debug)]
struct Input {
    small: bool,
    external_store: bool,
    /// Spilling on, with a directory of this many bytes.
    spill_limit: Option<u16>,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
struct Step {
    client: u8,
    action: Action,
}

/// How the loop ends one write or read.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum IoEnd {
    Ok,
    NoSpace,
    Failed,
    Corrupt,
    Missing,
}

#[derive(Arbitrary, Clone, Debug)]
enum Timeout {
    Forever,
    Now,
    Ms(u8),
}

#[derive(Arbitrary, Clone, Debug)]
enum Action {
    Create {
        id: u8,
        data: u16,
        meta: u8,
        evict: bool,
    },
    CreateAnySize {
        id: u8,
        data: u64,
        meta: u64,
        evict: bool,
    },
    CreateAndSeal {
        id: u8,
        data: u16,
        meta: u8,
        evict: bool,
    },
    Batch {
        ids: Vec<u8>,
        len: u8,
        evict: bool,
    },
    Abort {
        id: u8,
    },
    Seal {
        id: u8,
        digest: u8,
    },
    Get {
        ids: Vec<u8>,
        timeout: Timeout,
    },
    Release {
        id: u8,
    },
    Delete {
        ids: Vec<u8>,
    },
    Contains {
        id: u8,
    },
    List,
    Evict {
        bytes: u32,
    },
    Subscribe,
    SetOptions {
        quota: i16,
    },
    DebugString,
    RefreshLru {
        ids: Vec<u8>,
    },
    Await {
        ids: Vec<u8>,
    },
    Unawait {
        ids: Vec<u8>,
    },
    Connect,
    Disconnect,
    Tick {
        ms: u8,
    },
    /// The loop ends one of the writes and reads under way.
    FinishIo {
        which: u8,
        end: IoEnd,
    },
    Raw {
        msg_type: u8,
        payload: Vec<u8>,
    },
}

fn oid(n: u8) -> ObjectId {
    let mut b = [0x5Au8; 20];
    b[0] = n % IDS;
    ObjectId::from_bytes(b)
}

fn oids(ns: &[u8]) -> Vec<ObjectId> {
    ns.iter().take(8).copied().map(oid).collect()
}

fn config(small: bool, external_store: bool, spill_limit: Option<u16>) -> StoreConfig {
    let capacity = if small { 1000 } else { 8000 };
    let arena_len = capacity + capacity / 4;
    StoreConfig {
        capacity,
        arena_len,
        segment_id: 1,
        mmap_size: i64::try_from(arena_len + 8).unwrap(),
        external_store,
        spill_limit: spill_limit.map(|l| u64::from(l) * 4),
    }
}

/// What the loop knows: who is connected, who subscribed, the effects
/// seen, the disk work under way, the requests deferred.
struct Harness {
    store: Store,
    clock: Clock,
    connected: HashSet<ClientId>,
    subscribed: HashSet<ClientId>,
    effects: EffectChecker,
    io: Vec<DiskOp>,
    /// Each deferred client's request (the loop keeps its frame).
    deferred: HashMap<ClientId, Action>,
    /// Clients the core resumed, to hand their request in again.
    resumed: Vec<ClientId>,
}

impl Harness {
    fn new(config: StoreConfig) -> Self {
        let len = usize::try_from(config.arena_len).unwrap();
        Self {
            store: Store::new(config, Box::new(VecMemory::new(len))),
            clock: Clock {
                now: Instant::now(),
                unix_secs: 1_700_000_000,
                mono_ns: 1_000_000_000,
            },
            connected: HashSet::new(),
            subscribed: HashSet::new(),
            effects: EffectChecker::default(),
            io: Vec::new(),
            deferred: HashMap::new(),
            resumed: Vec::new(),
        }
    }

    /// Hands `request` (made from `action`) in; returns whether it was
    /// deferred.
    fn request(&mut self, client: ClientId, request: Request<'_>) -> bool {
        // The loop holds back every request that expects a reply while the
        // client's Get waits, and turns Disconnect into a disconnect.
        if request.expects_reply() && self.store.has_pending_get(client) {
            return false;
        }
        if matches!(request, Request::Disconnect) {
            self.disconnect(client);
            return false;
        }
        if matches!(request, Request::Subscribe) {
            // Its socket is attached before the backlog is sent.
            self.subscribed.insert(client);
        }
        self.connected.insert(client);
        let mut out = Outcome::default();
        let result = self.store.handle(client, request, &self.clock, &mut out);
        self.check(&out);
        match result {
            Ok(Handled::Deferred) => {
                assert!(self.store.is_deferred(client));
                assert!(
                    out.effects
                        .iter()
                        .all(|e| !matches!(e, Effect::Reply { to, .. } if *to == client)),
                    "a deferred request answered"
                );
                true
            }
            Ok(Handled::Done) => false,
            Err(_) => {
                self.disconnect(client);
                false
            }
        }
    }

    fn disconnect(&mut self, client: ClientId) {
        let mut out = Outcome::default();
        self.store.disconnect(client, &mut out);
        self.connected.remove(&client);
        self.subscribed.remove(&client);
        self.deferred.remove(&client);
        self.resumed.retain(|&c| c != client);
        self.effects.disconnected(client);
        self.check(&out);
        assert!(!self.store.has_pending_get(client));
        assert!(!self.store.is_deferred(client));
        assert_eq!(self.store.awaited_by(client), 0);
    }

    /// The loop ends disk job `which` (modulo those under way) with `end`.
    fn finish_io(&mut self, which: u8, end: IoEnd) {
        if self.io.is_empty() {
            return;
        }
        let op = self.io.remove(usize::from(which) % self.io.len());
        let mut out = Outcome::default();
        match op {
            DiskOp::Write { file, .. } => {
                let result = match end {
                    IoEnd::NoSpace => Err(SpillError::NoSpace),
                    IoEnd::Failed => Err(SpillError::Io),
                    _ => Ok(u32::from(which)),
                };
                self.store.spill_done(file, result, &mut out);
            }
            DiskOp::Read { file, .. } => {
                let result = match end {
                    IoEnd::Ok | IoEnd::NoSpace => Ok(()),
                    IoEnd::Failed => Err(RestoreError::Io),
                    IoEnd::Corrupt => Err(RestoreError::Corrupt),
                    IoEnd::Missing => Err(RestoreError::Missing),
                };
                self.store.restore_done(file, result, &mut out);
            }
            DiskOp::Remove { .. } => {}
        }
        self.check(&out);
    }

    /// Hands in again the requests the core resumed.
    fn resume(&mut self) {
        while let Some(client) = self.resumed.pop() {
            if let Some(action) = self.deferred.remove(&client) {
                run_action(self, client, &action);
            }
        }
    }

    fn tick(&mut self, ms: u8) {
        self.clock = self.clock.advanced_ms(u64::from(ms));
        let mut out = Outcome::default();
        self.store.expire(&self.clock, &mut out);
        self.check(&out);
    }

    /// The core's invariants, and effects addressed only to connections
    /// that exist (and notifications of one client only to a subscriber).
    fn check(&mut self, out: &Outcome) {
        self.store.check_invariants();
        self.effects.check(&self.store, &out.effects);
        for e in &out.effects {
            match e {
                Effect::Reply { to, .. } => assert!(self.connected.contains(to), "reply to {to}"),
                Effect::Notify {
                    to: Audience::Client(c),
                    ..
                }
                | Effect::NotifyEach {
                    to: Audience::Client(c),
                    ..
                } => assert!(self.subscribed.contains(c), "backlog to {c}"),
                Effect::Notify { .. } | Effect::NotifyEach { .. } | Effect::Notice(_) => {}
                Effect::Disk(DiskOp::Remove { .. }) => {}
                Effect::Disk(op) => {
                    assert!(self.store.spills(), "disk work without spilling");
                    self.io.push(op.clone());
                }
                Effect::Resume { client } => {
                    assert!(self.connected.contains(client), "resume of {client}");
                    assert!(!self.store.is_deferred(*client));
                    self.resumed.push(*client);
                }
                Effect::Long { to, request } => {
                    assert!(self.connected.contains(to), "long reply to {to}");
                    // The loop advances it between other turns; slices of
                    // 7 slots exercise the resumption.
                    let mut job = self.store.start_long(*request);
                    let mut turns = 0usize;
                    while self.store.advance_long(&mut job, 7).is_none() {
                        turns += 1;
                        assert!(turns < 1 << 20, "long reply never ends");
                    }
                }
            }
        }
    }
}

fn create(id: u8, data_size: u64, metadata_size: u64, evict_if_full: bool) -> Request<'static> {
    Request::Create {
        id: oid(id),
        evict_if_full,
        data_size,
        metadata_size,
        device_num: 0,
    }
}

fn run(h: &mut Harness, step: &Step) {
    let c = ClientId::from(step.client % CLIENTS);
    // A deferred client's frame stays at the head of its input: nothing
    // else of it is handled until it is resumed.
    let not_a_frame = matches!(
        step.action,
        Action::Disconnect | Action::Tick { .. } | Action::FinishIo { .. }
    );
    if h.deferred.contains_key(&c) && !not_a_frame {
        return;
    }
    run_action(h, c, &step.action);
    h.resume();
}

fn run_action(h: &mut Harness, c: ClientId, action: &Action) {
    let bytes = |n: u16| &INLINE[..usize::from(n)];
    let req = match action {
        Action::Create {
            id,
            data,
            meta,
            evict,
        } => create(*id, u64::from(*data), u64::from(*meta), *evict),
        Action::CreateAnySize {
            id,
            data,
            meta,
            evict,
        } => create(*id, *data, *meta, *evict),
        Action::CreateAndSeal {
            id,
            data,
            meta,
            evict,
        } => Request::CreateAndSeal {
            id: oid(*id),
            evict_if_full: *evict,
            data: bytes(*data),
            metadata: bytes(u16::from(*meta)),
            digest: [*id; 8],
        },
        Action::Batch { ids, len, evict } => {
            let ids = oids(ids);
            let n = ids.len();
            Request::CreateAndSealBatch {
                ids,
                evict_if_full: *evict,
                data: vec![bytes(u16::from(*len)); n],
                metadata: vec![bytes(u16::from(*len / 4)); n],
                digests: vec![[*len; 8]; n],
            }
        }
        Action::Abort { id } => Request::Abort { id: oid(*id) },
        Action::Seal { id, digest } => Request::Seal {
            id: oid(*id),
            digest: [*digest; 8],
        },
        Action::Get { ids, timeout } => Request::Get {
            ids: oids(ids),
            timeout_ms: match timeout {
                Timeout::Forever => -1,
                Timeout::Now => 0,
                Timeout::Ms(ms) => i64::from(*ms),
            },
        },
        Action::Release { id } => Request::Release { id: oid(*id) },
        Action::Delete { ids } => Request::Delete { ids: oids(ids) },
        Action::Contains { id } => Request::Contains { id: oid(*id) },
        Action::List => Request::List,
        Action::Evict { bytes } => Request::Evict {
            num_bytes: u64::from(*bytes),
        },
        Action::Subscribe => Request::Subscribe,
        Action::SetOptions { quota } => Request::SetOptions {
            client_name: format!("client {c}"),
            output_memory_quota: i64::from(*quota),
        },
        Action::DebugString => Request::DebugString,
        Action::RefreshLru { ids } => Request::RefreshLru { ids: oids(ids) },
        Action::Await { ids } => Request::Await { ids: oids(ids) },
        Action::Unawait { ids } => Request::Unawait { ids: oids(ids) },
        Action::Connect => Request::Connect,
        Action::Disconnect => return h.disconnect(c),
        Action::Tick { ms } => return h.tick(*ms),
        Action::FinishIo { which, end } => return h.finish_io(*which, *end),
        Action::Raw { msg_type, payload } => {
            // A frame the loop would have decoded; one that does not decode
            // costs the client its connection.
            match decode_request(i64::from(*msg_type), payload) {
                Ok(req) => {
                    if h.request(c, req) {
                        h.deferred.insert(c, action.clone());
                    }
                    return;
                }
                Err(_) => return h.disconnect(c),
            }
        }
    };
    if h.request(c, req) {
        h.deferred.insert(c, action.clone());
    }
}

fuzz_target!(|input: Input| {
    let config = config(input.small, input.external_store, input.spill_limit);
    let mut h = Harness::new(config);
    for step in input.steps.iter().take(256) {
        run(&mut h, step);
    }
    // Every client gone and the disk work done: nothing is held, everything
    // can be evicted, the arena is one free extent again (evicted and
    // spilled objects live outside it).
    for c in 0..CLIENTS {
        h.disconnect(ClientId::from(c));
    }
    while !h.io.is_empty() {
        h.finish_io(0, IoEnd::Ok);
    }
    h.request(
        ClientId::from(CLIENTS),
        Request::Evict {
            num_bytes: u64::MAX,
        },
    );
    assert_eq!(h.store.allocated(), 0);
});
