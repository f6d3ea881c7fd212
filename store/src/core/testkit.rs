//! Test helpers: a store over a `VecMemory`, a manual clock, and short
//! ways to send requests and pick effects apart.

use std::collections::HashMap;
use std::time::Instant;

use plasma_protocol::{
    decode_reply, parse_frame, Digest, ErrorCode, ObjectId, ObjectInfo, Reply, Request,
};

use super::{
    Audience, ClientId, Clock, DiskOp, Effect, LongRequest, Outcome, RestoreError, SpillError,
    SpillFile, Store, StoreConfig, VecMemory, Violation,
};

/// A store plus a manual clock; every call checks the store's invariants.
/// Disk work the store asks for waits in `io` until a test finishes it
/// ([`Kit::finish_writes`], [`Kit::finish_reads`]) on a disk of its own.
pub struct Kit {
    pub store: Store,
    pub clock: Clock,
    /// Writes and reads asked for and not finished yet, in order.
    pub io: Vec<DiskOp>,
    /// The spill files: their bytes.
    pub disk: HashMap<SpillFile, Vec<u8>>,
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
        spill_limit: None,
    }
}

impl Kit {
    pub fn new(capacity: u64) -> Self {
        Self::with_config(config(capacity))
    }

    /// A store of `capacity` bytes that spills up to `limit` bytes.
    pub fn spilling(capacity: u64, limit: u64) -> Self {
        Self::with_config(StoreConfig {
            spill_limit: Some(limit),
            ..config(capacity)
        })
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
            io: Vec::new(),
            disk: HashMap::new(),
        }
    }

    /// Handles `req`; long replies are built at once (in slices of three
    /// table slots) and appear as the reply they decode to. A deferred
    /// request gives no effect of its own (see [`Kit::is_deferred`]).
    pub fn try_run(&mut self, c: ClientId, req: Request<'_>) -> Result<Vec<Effect>, Violation> {
        let mut out = Outcome::default();
        let r = self.store.handle(c, req, &self.clock, &mut out);
        self.store.check_invariants();
        let effects = self.take(out);
        r.map(|_| {
            effects
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

    /// `out`'s effects; disk work is queued in `io` (removals are done at
    /// once).
    fn take(&mut self, out: Outcome) -> Vec<Effect> {
        for e in &out.effects {
            match e {
                Effect::Disk(DiskOp::Remove { file }) => {
                    self.disk.remove(file);
                }
                Effect::Disk(op) => self.io.push(op.clone()),
                _ => {}
            }
        }
        out.effects
    }

    /// Whether `c`'s last request was deferred and not resumed.
    pub fn is_deferred(&self, c: ClientId) -> bool {
        self.store.is_deferred(c)
    }

    /// Finishes every write asked for: the bytes go to the disk, the store
    /// hears success. Returns the effects of every end.
    pub fn finish_writes(&mut self) -> Vec<Effect> {
        self.finish_io(true, |_| None)
    }

    /// Finishes every read asked for from the disk (a file that is gone or
    /// whose CRC differs fails, as the loop's would).
    pub fn finish_reads(&mut self) -> Vec<Effect> {
        self.finish_io(false, |_| None)
    }

    /// Finishes every write (`writes`) or read, each with `fail(file)` if
    /// that gives a failure.
    pub fn finish_io(
        &mut self,
        writes: bool,
        fail: impl Fn(SpillFile) -> Option<Failure>,
    ) -> Vec<Effect> {
        let (mine, rest): (Vec<DiskOp>, Vec<DiskOp>) = std::mem::take(&mut self.io)
            .into_iter()
            .partition(|op| matches!(op, DiskOp::Write { .. }) == writes);
        self.io = rest;
        let mut effects = Vec::new();
        for op in mine {
            let mut out = Outcome::default();
            match op {
                DiskOp::Write { file, offset, len } => {
                    let bytes = self.store.memory_mut().read(offset, len);
                    let result = match fail(file) {
                        Some(Failure::Write(e)) => Err(e),
                        _ => {
                            let crc = crc32(&bytes);
                            self.disk.insert(file, bytes);
                            Ok(crc)
                        }
                    };
                    self.store.spill_done(file, result, &mut out);
                }
                DiskOp::Read {
                    file,
                    offset,
                    len,
                    crc,
                } => {
                    let result = match (fail(file), self.disk.get(&file)) {
                        (Some(Failure::Read(e)), _) => Err(e),
                        (_, None) => Err(RestoreError::Missing),
                        (_, Some(b)) if b.len() as u64 != len || crc32(b) != crc => {
                            Err(RestoreError::Corrupt)
                        }
                        (_, Some(b)) => {
                            let b = b.clone();
                            self.store.memory_mut().write(offset, &b);
                            Ok(())
                        }
                    };
                    self.store.restore_done(file, result, &mut out);
                }
                DiskOp::Remove { .. } => {}
            }
            self.store.check_invariants();
            effects.extend(self.take(out));
        }
        effects
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
        self.take(out)
    }

    pub fn expire_after(&mut self, ms: u64) -> Vec<Effect> {
        self.clock = self.clock.advanced_ms(ms);
        let mut out = Outcome::default();
        self.store.expire(&self.clock, &mut out);
        self.store.check_invariants();
        self.take(out)
    }

    pub fn ref_count(&self, id: ObjectId) -> Option<u32> {
        self.store.table.by_id(&id).map(|e| e.ref_count)
    }
}

/// How [`Kit::finish_io`] fails a write or read.
#[derive(Clone, Copy, Debug)]
pub enum Failure {
    Write(SpillError),
    Read(RestoreError),
}

/// CRC-32 as the loop computes it for spill files.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    h.finalize()
}

/// The ids the store asked the loop to resume.
pub fn resumed(effects: &[Effect]) -> Vec<ClientId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Resume { client } => Some(*client),
            _ => None,
        })
        .collect()
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
            _ => None,
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
            _ => {}
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
            _ => None,
        })
        .flatten()
        .filter(|i| i.is_deletion == deletion)
        .map(|i| i.object_id)
        .collect()
}
