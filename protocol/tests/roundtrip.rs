//! Property: every request, reply and notification survives
//! encode → parse_frame → decode unchanged.

use plasma_protocol::{
    decode_notification, decode_reply, decode_request, parse_frame, Digest, Encoder, ErrorCode,
    ObjectId, ObjectInfo, ObjectSpec, Reply, Request, Residence, SpillStats, StoreStats, Tally,
    DEFAULT_MAX_FRAME_LEN,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn id() -> impl Strategy<Value = ObjectId> {
    any::<[u8; 20]>().prop_map(ObjectId::from_bytes)
}

fn ids() -> impl Strategy<Value = Vec<ObjectId>> {
    vec(id(), 0..6)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}

fn error() -> impl Strategy<Value = ErrorCode> {
    (0i32..6).prop_map(|n| ErrorCode::from_i32(n).unwrap())
}

fn spec() -> impl Strategy<Value = ObjectSpec> {
    (any::<i32>(), any::<[u64; 4]>(), any::<i32>()).prop_map(|(seg, [a, b, c, d], dev)| {
        ObjectSpec {
            segment_index: seg,
            data_offset: a,
            data_size: b,
            metadata_offset: c,
            metadata_size: d,
            device_num: dev,
        }
    })
}

fn info() -> impl Strategy<Value = ObjectInfo> {
    (
        id(),
        any::<[i64; 4]>(),
        any::<i32>(),
        proptest::option::of(any::<Digest>()),
        any::<bool>(),
        0u8..4,
    )
        .prop_map(
            |(object_id, [a, b, c, d], ref_count, digest, is_deletion, residence)| ObjectInfo {
                object_id,
                data_size: a,
                metadata_size: b,
                ref_count,
                create_time: c,
                construct_duration: d,
                digest,
                is_deletion,
                residence: Residence::from_u8(residence).unwrap_or_default(),
            },
        )
}

/// Owned values a request can borrow from; `variant` picks the request.
#[derive(Debug, Clone)]
struct Parts {
    variant: u8,
    id: ObjectId,
    ids: Vec<ObjectId>,
    flag: bool,
    a: u64,
    b: u64,
    n32: i32,
    n64: i64,
    data: Vec<u8>,
    metadata: Vec<u8>,
    digest: Digest,
    batch: Vec<(ObjectId, Vec<u8>, Vec<u8>, Digest)>,
    name: String,
}

const REQUEST_VARIANTS: u8 = 23;

fn parts() -> impl Strategy<Value = Parts> {
    (
        (0..REQUEST_VARIANTS, id(), ids(), any::<bool>()),
        (any::<u64>(), any::<u64>(), any::<i32>(), any::<i64>()),
        (bytes(), bytes(), any::<Digest>()),
        vec((id(), bytes(), bytes(), any::<Digest>()), 0..4),
        ".{0,20}",
    )
        .prop_map(
            |(
                (variant, id, ids, flag),
                (a, b, n32, n64),
                (data, metadata, digest),
                batch,
                name,
            )| {
                Parts {
                    variant,
                    id,
                    ids,
                    flag,
                    a,
                    b,
                    n32,
                    n64,
                    data,
                    metadata,
                    digest,
                    batch,
                    name,
                }
            },
        )
}

fn request(p: &Parts) -> Request<'_> {
    let id = p.id;
    match p.variant {
        0 => Request::Disconnect,
        1 => Request::Connect,
        2 => Request::Create {
            id,
            evict_if_full: p.flag,
            data_size: p.a,
            metadata_size: p.b,
            device_num: p.n32,
        },
        3 => Request::CreateAndSeal {
            id,
            evict_if_full: p.flag,
            data: &p.data,
            metadata: &p.metadata,
            digest: p.digest,
        },
        4 => Request::CreateAndSealBatch {
            ids: p.batch.iter().map(|b| b.0).collect(),
            evict_if_full: p.flag,
            data: p.batch.iter().map(|b| &b.1[..]).collect(),
            metadata: p.batch.iter().map(|b| &b.2[..]).collect(),
            digests: p.batch.iter().map(|b| b.3).collect(),
        },
        5 => Request::Abort { id },
        6 => Request::Seal {
            id,
            digest: p.digest,
        },
        7 => Request::Get {
            ids: p.ids.clone(),
            timeout_ms: p.n64,
        },
        8 => Request::Release { id },
        9 => Request::Delete { ids: p.ids.clone() },
        10 => Request::Contains { id },
        11 => Request::List,
        12 => Request::Evict { num_bytes: p.a },
        13 => Request::Subscribe,
        14 => Request::SetOptions {
            client_name: p.name.clone(),
            output_memory_quota: p.n64,
        },
        15 => Request::DebugString,
        16 => Request::RefreshLru { ids: p.ids.clone() },
        17 => Request::Await { ids: p.ids.clone() },
        18 => Request::Unawait { ids: p.ids.clone() },
        19 => Request::Stats,
        20 => Request::Attach,
        21 => Request::Put {
            id,
            evict_if_full: p.flag,
            data: &p.data,
            metadata: &p.metadata,
            digest: p.digest,
            slot: p.n32 as u32,
        },
        _ => Request::HoldsChanged,
    }
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        any::<i64>().prop_map(|memory_capacity| Reply::Connect { memory_capacity }),
        (id(), spec(), error(), any::<i32>(), any::<i64>()).prop_map(
            |(id, object, error, store_fd, mmap_size)| Reply::Create {
                id,
                object,
                error,
                store_fd,
                mmap_size
            }
        ),
        error().prop_map(|error| Reply::CreateAndSeal { error }),
        error().prop_map(|error| Reply::CreateAndSealBatch { error }),
        id().prop_map(|id| Reply::Abort { id }),
        (id(), error()).prop_map(|(id, error)| Reply::Seal { id, error }),
        (
            vec((id(), spec()), 0..5),
            vec((any::<i32>(), any::<i64>()), 0..3)
        )
            .prop_map(|(found, segs)| {
                let (ids, objects) = found.into_iter().unzip();
                let (store_fds, mmap_sizes) = segs.into_iter().unzip();
                Reply::Get {
                    ids,
                    objects,
                    store_fds,
                    mmap_sizes,
                }
            }),
        vec((id(), error()), 0..5).prop_map(|v| {
            let (ids, errors) = v.into_iter().unzip();
            Reply::Delete { ids, errors }
        }),
        (id(), any::<bool>()).prop_map(|(id, has_object)| Reply::Contains { id, has_object }),
        vec(info(), 0..5).prop_map(|objects| Reply::List { objects }),
        any::<u64>().prop_map(|num_bytes| Reply::Evict { num_bytes }),
        error().prop_map(|error| Reply::SetOptions { error }),
        ".{0,200}".prop_map(|text| Reply::DebugString { text }),
        Just(Reply::RefreshLru),
        (id(), spec(), any::<i32>(), any::<i64>()).prop_map(|(id, object, store_fd, mmap_size)| {
            Reply::ObjectReady {
                id,
                object,
                store_fd,
                mmap_size,
            }
        }),
        vec(id(), 0..5).prop_map(|removed| Reply::Unawait { removed }),
        stats().prop_map(|s| Reply::Stats(Box::new(s))),
        (error(), any::<i32>(), any::<i64>()).prop_map(|(error, store_fd, mmap_size)| {
            Reply::Attach {
                error,
                store_fd,
                mmap_size,
            }
        }),
        (
            (id(), spec(), error(), any::<i32>(), any::<i64>()),
            (any::<u32>(), any::<u64>(), 0u8..3)
        )
            .prop_map(
                |((id, object, error, store_fd, mmap_size), (entry, gen, hold))| Reply::Put {
                    id,
                    object,
                    error,
                    store_fd,
                    mmap_size,
                    entry,
                    gen,
                    hold: plasma_protocol::PutHold::from_u8(hold).unwrap(),
                }
            ),
    ]
}

fn tally() -> impl Strategy<Value = Tally> {
    any::<[u64; 2]>().prop_map(|[objects, bytes]| Tally { objects, bytes })
}

/// Every field of a StatsReply, each drawn on its own.
fn stats() -> impl Strategy<Value = StoreStats> {
    (
        vec(tally(), 6),
        any::<[u64; 10]>(),
        vec((any::<i64>(), any::<u64>()), 0..8),
        any::<[u64; 13]>(),
    )
        .prop_map(|(t, n, requests, p)| {
            let mut s = StoreStats::default();
            s.created = t[0];
            s.sealed = t[1];
            s.held = t[2];
            s.evictable = t[3];
            s.external = t[4];
            s.evictions = t[5];
            [
                s.capacity,
                s.clients,
                s.subscribers,
                s.waiting_gets,
                s.pending_awaits,
                s.deletions,
                s.creates_refused,
                s.queued_bytes,
                s.uptime_ms,
                _,
            ] = n;
            s.requests = requests;
            s.spill_limit = p[0];
            s.spill = spill_stats(&p[1..]);
            s
        })
}

/// Spill figures from 12 values, in field order.
fn spill_stats(v: &[u64]) -> SpillStats {
    let mut p = SpillStats::default();
    for (field, value) in [
        &mut p.spilled_objects,
        &mut p.spilled_bytes,
        &mut p.spills_in_flight,
        &mut p.restores_in_flight,
        &mut p.spills,
        &mut p.spill_bytes,
        &mut p.restores,
        &mut p.restore_bytes,
        &mut p.spills_abandoned,
        &mut p.spill_failures,
        &mut p.dropped,
        &mut p.restore_failures,
    ]
    .into_iter()
    .zip(v)
    {
        *field = *value;
    }
    p
}

proptest! {
    #[test]
    fn requests_round_trip(p in parts(), junk in bytes()) {
        let req = request(&p);
        let mut enc = Encoder::new();
        // Encoding appends: whatever is already in `out` stays.
        let mut out = junk.clone();
        enc.encode_request(&req, &mut out);
        prop_assert_eq!(&out[..junk.len()], &junk[..]);
        let (frame, used) = parse_frame(&out[junk.len()..], DEFAULT_MAX_FRAME_LEN)
            .unwrap()
            .unwrap();
        prop_assert_eq!(used, out.len() - junk.len());
        prop_assert_eq!(frame.msg_type, req.message_type().as_i64());
        prop_assert_eq!(decode_request(frame.msg_type, frame.payload).unwrap(), req);
    }

    #[test]
    fn replies_round_trip(reply in reply()) {
        let mut enc = Encoder::new();
        let mut out = Vec::new();
        enc.encode_reply(&reply, &mut out);
        let (frame, used) = parse_frame(&out, DEFAULT_MAX_FRAME_LEN).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(frame.msg_type, reply.message_type().as_i64());
        prop_assert_eq!(decode_reply(frame.msg_type, frame.payload).unwrap(), reply);
    }

    #[test]
    fn notifications_round_trip(infos in vec(info(), 0..6)) {
        let mut enc = Encoder::new();
        let mut out = Vec::new();
        enc.encode_notification(&infos, &mut out);
        let (decoded, used) = decode_notification(&out, DEFAULT_MAX_FRAME_LEN).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(decoded, infos);
    }

    /// One encoder reused across many messages gives the same bytes as a
    /// fresh one each time (the builder reset leaves nothing behind).
    #[test]
    fn reused_encoder_matches_fresh_encoder(replies in vec(reply(), 1..6)) {
        let mut reused = Encoder::new();
        for r in &replies {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            reused.encode_reply(r, &mut a);
            Encoder::new().encode_reply(r, &mut b);
            prop_assert_eq!(a, b);
        }
    }
}

#[test]
fn every_request_variant_is_generated() {
    // `request()` maps each of 0..REQUEST_VARIANTS to a distinct variant.
    let mut seen = std::collections::HashSet::new();
    for variant in 0..REQUEST_VARIANTS {
        let p = Parts {
            variant,
            id: ObjectId::default(),
            ids: vec![],
            flag: false,
            a: 0,
            b: 0,
            n32: 0,
            n64: 0,
            data: vec![],
            metadata: vec![],
            digest: [0; 8],
            batch: vec![],
            name: String::new(),
        };
        seen.insert(request(&p).message_type());
    }
    assert_eq!(seen.len(), REQUEST_VARIANTS as usize);
}

#[test]
fn large_inline_data_round_trips_and_the_encoder_stays_usable() {
    let data = vec![0x5a; 3 << 20];
    let req = Request::CreateAndSeal {
        id: ObjectId::from_bytes([9; 20]),
        evict_if_full: true,
        data: &data,
        metadata: b"meta",
        digest: [1; 8],
    };
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    enc.encode_request(&req, &mut out);
    let (frame, _) = parse_frame(&out, DEFAULT_MAX_FRAME_LEN).unwrap().unwrap();
    assert_eq!(decode_request(frame.msg_type, frame.payload).unwrap(), req);
    out.clear();
    enc.encode_request(&Request::Connect, &mut out);
    assert_eq!(out.len(), 24 + 12);
}

#[test]
fn a_stats_reply_keeps_every_field_apart() {
    // Distinct values everywhere: a slot read into the wrong field shows.
    let mut s = StoreStats::default();
    let mut next = 0u64;
    let mut n = || {
        next += 1;
        next
    };
    s.capacity = n();
    for t in [
        &mut s.created,
        &mut s.sealed,
        &mut s.held,
        &mut s.evictable,
        &mut s.external,
        &mut s.evictions,
    ] {
        *t = Tally {
            objects: n(),
            bytes: n(),
        };
    }
    s.clients = n();
    s.subscribers = n();
    s.waiting_gets = n();
    s.pending_awaits = n();
    s.deletions = n();
    s.creates_refused = n();
    s.queued_bytes = n();
    s.uptime_ms = n();
    s.requests = vec![(9, n()), (68, u64::MAX)];
    s.spill_limit = n();
    let rest: Vec<u64> = (0..12).map(|_| n()).collect();
    s.spill = spill_stats(&rest);
    let reply = Reply::Stats(Box::new(s));
    let mut out = Vec::new();
    Encoder::new().encode_reply(&reply, &mut out);
    let (frame, _) = parse_frame(&out, DEFAULT_MAX_FRAME_LEN).unwrap().unwrap();
    assert_eq!(frame.msg_type, 69);
    assert_eq!(decode_reply(frame.msg_type, frame.payload).unwrap(), reply);
}
