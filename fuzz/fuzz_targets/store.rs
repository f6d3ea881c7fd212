//! The store core driven as the event loop drives it: arbitrary sequences
//! of requests from four clients, with connects, disconnects, protocol
//! violations (which cost the client its connection, as in the loop), raw
//! frames through the request decoder, and time passing for Get deadlines.
//! After every step the core's invariants hold (`Store::check_invariants`)
//! and its effects are sound (`EffectChecker`); at the end, with every
//! client gone, everything can be evicted and the arena is whole again.
#![no_main]

use std::collections::HashSet;
use std::time::Instant;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use plasma_protocol::{decode_request, ObjectId, Request};
use plasma_store::core::{
    Audience, ClientId, Clock, Effect, EffectChecker, Outcome, Store, StoreConfig, VecMemory,
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
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
struct Step {
    client: u8,
    action: Action,
}

#[derive(Arbitrary, Debug)]
enum Timeout {
    Forever,
    Now,
    Ms(u8),
}

#[derive(Arbitrary, Debug)]
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

fn config(small: bool, external_store: bool) -> StoreConfig {
    let capacity = if small { 1000 } else { 8000 };
    let arena_len = capacity + capacity / 4;
    StoreConfig {
        capacity,
        arena_len,
        segment_id: 1,
        mmap_size: i64::try_from(arena_len + 8).unwrap(),
        external_store,
    }
}

/// What the loop knows: who is connected, who subscribed, the effects seen.
struct Harness {
    store: Store,
    clock: Clock,
    connected: HashSet<ClientId>,
    subscribed: HashSet<ClientId>,
    effects: EffectChecker,
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
        }
    }

    fn request(&mut self, client: ClientId, request: Request<'_>) {
        // The loop holds back every request that expects a reply while the
        // client's Get waits, and turns Disconnect into a disconnect.
        if request.expects_reply() && self.store.has_pending_get(client) {
            return;
        }
        if matches!(request, Request::Disconnect) {
            return self.disconnect(client);
        }
        if matches!(request, Request::Subscribe) {
            // Its socket is attached before the backlog is sent.
            self.subscribed.insert(client);
        }
        self.connected.insert(client);
        let mut out = Outcome::default();
        let result = self.store.handle(client, request, &self.clock, &mut out);
        self.check(&out);
        if result.is_err() {
            self.disconnect(client);
        }
    }

    fn disconnect(&mut self, client: ClientId) {
        let mut out = Outcome::default();
        self.store.disconnect(client, &mut out);
        self.connected.remove(&client);
        self.subscribed.remove(&client);
        self.effects.disconnected(client);
        self.check(&out);
        assert!(!self.store.has_pending_get(client));
        assert_eq!(self.store.awaited_by(client), 0);
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
                Effect::Notify { .. } | Effect::NotifyEach { .. } => {}
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
    let bytes = |n: u16| &INLINE[..usize::from(n)];
    let req = match &step.action {
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
        Action::Raw { msg_type, payload } => {
            // A frame the loop would have decoded; one that does not decode
            // costs the client its connection.
            match decode_request(i64::from(*msg_type), payload) {
                Ok(req) => return h.request(c, req),
                Err(_) => return h.disconnect(c),
            }
        }
    };
    h.request(c, req);
}

fuzz_target!(|input: Input| {
    let config = config(input.small, input.external_store);
    let mut h = Harness::new(config);
    for step in input.steps.iter().take(256) {
        run(&mut h, step);
    }
    // Every client gone: nothing is held, everything can be evicted, the
    // arena is one free extent again (evicted objects live outside it).
    for c in 0..CLIENTS {
        h.disconnect(ClientId::from(c));
    }
    h.request(
        ClientId::from(CLIENTS),
        Request::Evict {
            num_bytes: u64::MAX,
        },
    );
    assert_eq!(h.store.allocated(), 0);
});
