//! Test helpers: a store over a `VecMemory`, a manual clock, and short
//! ways to send requests and pick effects apart.

use std::time::Instant;

use plasma_protocol::{
    decode_reply, parse_frame, Digest, ErrorCode, ObjectId, ObjectInfo, Reply, Request,
};

use super::{
    Audience, ClientId, Clock, Effect, LongRequest, Outcome, Store, StoreConfig, VecMemory,
    Violation,
};

/// A store plus a manual clock; every call checks the store's invariants.
pub struct Kit {
    pub store: Store,
    pub clock: Clock,
}

/// Id number `n`.
pub fn oid(n: u32) -> ObjectId {
    let mut b = [0xA5u8; 20];
    b[..4].copy_from_slice(&n.to_le_bytes());
    ObjectId::from_bytes(b)
}

/// The allocator region the daemon uses for a capacity (plan: capacity plus
/// max(capacity/16, 1 MiB), rounded up to 2 MiB).
pub fn arena_len_for(capacity: u64) -> u64 {
    let two_mib = 2 << 20;
    (capacity + (capacity / 16).max(1 << 20)).div_ceil(two_mib) * two_mib
}

pub fn config(capacity: u64) -> StoreConfig {
    let arena_len = arena_len_for(capacity);
    StoreConfig {
        capacity,
        arena_len,
        segment_id: 1,
        mmap_size: i64::try_from(arena_len + 8).unwrap(),
        external_store: false,
    }
}

impl Kit {
    pub fn new(capacity: u64) -> Self {
        Self::with_config(config(capacity))
    }

    pub fn with_config(config: StoreConfig) -> Self {
        let len = usize::try_from(config.arena_len).unwrap();
        Self {
            store: Store::new(config, Box::new(VecMemory::new(len))),
            clock: Clock {
                now: Instant::now(),
                unix_secs: 1_700_000_000,
                mono_ns: 1_000_000_000,
            },
        }
    }

    /// Handles `req`; long replies are built at once (in slices of three
    /// table slots) and appear as the reply they decode to.
    pub fn try_run(&mut self, c: ClientId, req: Request<'_>) -> Result<Vec<Effect>, Violation> {
        let mut out = Outcome::default();
        let r = self.store.handle(c, req, &self.clock, &mut out);
        self.store.check_invariants();
        r.map(|()| {
            out.effects
                .into_iter()
                .map(|e| match e {
                    Effect::Long { to, request } => Effect::Reply {
                        to,
                        reply: self.long_reply(request),
                        fds: Vec::new(),
                    },
                    other => other,
                })
                .collect()
        })
    }

    /// Builds a long reply in slices of three slots and decodes it.
    pub fn long_reply(&self, request: LongRequest) -> Reply {
        let mut job = self.store.start_long(request);
        let frame = loop {
            if let Some(frame) = self.store.advance_long(&mut job, 3) {
                break frame.as_slice().to_vec();
            }
        };
        let (f, used) = parse_frame(&frame, u64::MAX).unwrap().unwrap();
        assert_eq!(used, frame.len());
        decode_reply(f.msg_type, f.payload).unwrap()
    }

    pub fn run(&mut self, c: ClientId, req: Request<'_>) -> Vec<Effect> {
        self.try_run(c, req).unwrap()
    }

    /// The single reply a request produced (other effects ignored).
    pub fn ask(&mut self, c: ClientId, req: Request<'_>) -> Reply {
        let replies = replies(&self.run(c, req));
        assert_eq!(replies.len(), 1, "{replies:?}");
        replies[0].1.clone()
    }

    pub fn create(&mut self, c: ClientId, id: ObjectId, data: u64, meta: u64) -> ErrorCode {
        match self.ask(c, create_req(id, data, meta)) {
            Reply::Create { error, .. } => error,
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn seal(&mut self, c: ClientId, id: ObjectId) -> Vec<Effect> {
        self.run(
            c,
            Request::Seal {
                id,
                digest: digest_of(id),
            },
        )
    }

    pub fn release(&mut self, c: ClientId, id: ObjectId) -> Vec<Effect> {
        self.run(c, Request::Release { id })
    }

    /// Create, seal and release; panics unless the create succeeds. Returns
    /// every effect of the three requests.
    pub fn put(&mut self, c: ClientId, id: ObjectId, data: u64, meta: u64) -> Vec<Effect> {
        let mut fx = self.run(c, create_req(id, data, meta));
        let created = replies(&fx).iter().any(|(_, r)| {
            matches!(
                r,
                Reply::Create {
                    error: ErrorCode::Ok,
                    ..
                }
            )
        });
        assert!(created, "{fx:?}");
        fx.extend(self.seal(c, id));
        fx.extend(self.release(c, id));
        fx
    }

    pub fn evict(&mut self, c: ClientId, num_bytes: u64) -> u64 {
        match self.ask(c, Request::Evict { num_bytes }) {
            Reply::Evict { num_bytes } => num_bytes,
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn contains(&mut self, c: ClientId, id: ObjectId) -> bool {
        match self.ask(c, Request::Contains { id }) {
            Reply::Contains { has_object, .. } => has_object,
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn get(&mut self, c: ClientId, ids: &[ObjectId], timeout_ms: i64) -> Vec<Effect> {
        self.run(
            c,
            Request::Get {
                ids: ids.to_vec(),
                timeout_ms,
            },
        )
    }

    pub fn list(&mut self, c: ClientId) -> Vec<ObjectInfo> {
        match self.ask(c, Request::List) {
            Reply::List { objects } => objects,
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn disconnect(&mut self, c: ClientId) -> Vec<Effect> {
        let mut out = Outcome::default();
        self.store.disconnect(c, &mut out);
        self.store.check_invariants();
        out.effects
    }

    pub fn expire_after(&mut self, ms: u64) -> Vec<Effect> {
        self.clock = self.clock.advanced_ms(ms);
        let mut out = Outcome::default();
        self.store.expire(&self.clock, &mut out);
        self.store.check_invariants();
        out.effects
    }

    pub fn ref_count(&self, id: ObjectId) -> Option<u32> {
        self.store.table.by_id(&id).map(|e| e.ref_count)
    }
}

pub fn create_req(id: ObjectId, data: u64, meta: u64) -> Request<'static> {
    Request::Create {
        id,
        evict_if_full: true,
        data_size: data,
        metadata_size: meta,
        device_num: 0,
    }
}

pub fn digest_of(id: ObjectId) -> Digest {
    let mut d = [0u8; 8];
    d.copy_from_slice(&id.as_bytes()[..8]);
    d
}

/// The replies among `effects`, with their receivers.
pub fn replies(effects: &[Effect]) -> Vec<(ClientId, Reply)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { to, reply, .. } => Some((*to, reply.clone())),
            Effect::Notify { .. } | Effect::NotifyEach { .. } | Effect::Long { .. } => None,
        })
        .collect()
}

/// Every notification message among `effects`, in order, with its
/// receivers (a `NotifyEach` counts one message per entry).
pub fn messages(effects: &[Effect]) -> Vec<(Audience, Vec<ObjectInfo>)> {
    let mut all = Vec::new();
    for e in effects {
        match e {
            Effect::Notify { to, infos } => all.push((*to, infos.clone())),
            Effect::NotifyEach { to, infos } => {
                all.extend(infos.iter().map(|i| (*to, vec![i.clone()])));
            }
            Effect::Reply { .. } | Effect::Long { .. } => {}
        }
    }
    all
}

/// Ids of every deletion notification among `effects`, in order.
pub fn deletions(effects: &[Effect]) -> Vec<ObjectId> {
    notified(effects, true)
}

/// Ids of every seal notification among `effects`, in order.
pub fn seals(effects: &[Effect]) -> Vec<ObjectId> {
    notified(effects, false)
}

fn notified(effects: &[Effect], deletion: bool) -> Vec<ObjectId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify { infos, .. } | Effect::NotifyEach { infos, .. } => Some(infos),
            Effect::Reply { .. } | Effect::Long { .. } => None,
        })
        .flatten()
        .filter(|i| i.is_deletion == deletion)
        .map(|i| i.object_id)
        .collect()
}
