//! Hostile and broken payloads: every one must give an `Err` (or, for the
//! lenient cases, the documented default), never a panic.

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use plasma_protocol::{
    decode_notification, decode_reply, decode_request, DecodeError, Encoder, ErrorCode,
    MessageType, ObjectId, ObjectInfo, Reply, Request, Residence,
};

mod common;
use common::{load, payloads};

fn decode_any(request: Option<bool>, msg_type: i64, bytes: &[u8]) -> Result<(), DecodeError> {
    match request {
        Some(true) => decode_request(msg_type, bytes).map(drop),
        Some(false) => decode_reply(msg_type, bytes).map(drop),
        None => {
            let mut framed = (bytes.len() as u64).to_le_bytes().to_vec();
            framed.extend_from_slice(bytes);
            match decode_notification(&framed, u64::MAX)? {
                Some((_, used)) => {
                    assert_eq!(used, framed.len());
                    Ok(())
                }
                None => panic!("a complete notification must not ask for more bytes"),
            }
        }
    }
}

#[test]
fn every_prefix_of_every_captured_payload_is_rejected() {
    let v = load();
    let mut prefixes = 0;
    for p in payloads(&v) {
        if p.complete {
            decode_any(p.request, p.msg_type, &p.bytes).expect("the full payload decodes");
        }
        for n in 0..p.bytes.len() {
            let r = decode_any(p.request, p.msg_type, &p.bytes[..n]);
            assert!(r.is_err(), "type {} prefix {n} decoded: {r:?}", p.msg_type);
            prefixes += 1;
        }
    }
    assert!(prefixes > 100_000, "only {prefixes} prefixes checked");
}

#[test]
fn truncated_notification_waits_for_more_bytes() {
    let v = load();
    for p in payloads(&v).into_iter().filter(|p| p.request.is_none()) {
        let mut framed = (p.bytes.len() as u64).to_le_bytes().to_vec();
        framed.extend_from_slice(&p.bytes);
        for n in 0..framed.len() {
            assert_eq!(decode_notification(&framed[..n], u64::MAX), Ok(None));
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let v = load();
    for p in payloads(&v).into_iter().filter(|p| p.complete) {
        let mut bytes = p.bytes.clone();
        for i in 0..bytes.len() {
            for flip in [0xff, 0x80, 0x01] {
                bytes[i] ^= flip;
                let _ = decode_any(p.request, p.msg_type, &bytes);
                bytes[i] ^= flip;
            }
        }
    }
}

#[test]
fn notification_length_prefix_is_checked() {
    let mut buf = (-1i64).to_le_bytes().to_vec();
    assert_eq!(
        decode_notification(&buf, 100),
        Err(DecodeError::NegativeLength(-1))
    );
    buf = 101u64.to_le_bytes().to_vec();
    assert_eq!(
        decode_notification(&buf, 100),
        Err(DecodeError::TooLong { len: 101, max: 100 })
    );
}

// ---- crafted tables ----

type Fbb = FlatBufferBuilder<'static>;

const fn vt(slot: u16) -> u16 {
    4 + 2 * slot
}

/// Builds a payload whose root table gets its fields from `fill`.
fn table(fill: impl FnOnce(&mut Fbb) -> Vec<(u16, Field)>) -> Vec<u8> {
    let mut fbb = Fbb::new();
    let fields = fill(&mut fbb);
    let start = fbb.start_table();
    for (slot, f) in fields {
        match f {
            Field::Off(o) => fbb.push_slot_always(vt(slot), WIPOffset::<()>::new(o)),
            Field::I32(x) => fbb.push_slot_always(vt(slot), x),
            Field::I64(x) => fbb.push_slot_always(vt(slot), x),
            Field::Bool(x) => fbb.push_slot_always(vt(slot), x),
        }
    }
    let root = fbb.end_table(start);
    fbb.finish_minimal(root);
    fbb.finished_data().to_vec()
}

enum Field {
    Off(u32),
    I32(i32),
    I64(i64),
    Bool(bool),
}

fn string(fbb: &mut Fbb, b: &[u8]) -> Field {
    Field::Off(fbb.create_byte_string(b).value())
}

fn strings(fbb: &mut Fbb, items: &[&[u8]]) -> Field {
    let offs: Vec<_> = items.iter().map(|b| fbb.create_byte_string(b)).collect();
    Field::Off(fbb.create_vector(&offs).value())
}

fn i32s(fbb: &mut Fbb, items: &[i32]) -> Field {
    Field::Off(fbb.create_vector(items).value())
}

const ID: [u8; 20] = [0xff; 20];

#[test]
fn ids_must_be_20_bytes_and_may_be_any_bytes() {
    for len in [0, 19, 21, 40] {
        let p = table(|f| vec![(0, string(f, &vec![7; len]))]);
        assert_eq!(
            decode_request(MessageType::ReleaseRequest.as_i64(), &p),
            Err(DecodeError::BadIdLength(len))
        );
    }
    let p = table(|f| vec![(0, string(f, &ID))]);
    assert_eq!(
        decode_request(MessageType::ReleaseRequest.as_i64(), &p),
        Ok(Request::Release {
            id: ObjectId::from_bytes(ID)
        })
    );
}

#[test]
fn ids_are_required() {
    let p = table(|_| vec![]);
    for t in [
        MessageType::CreateRequest,
        MessageType::AbortRequest,
        MessageType::SealRequest,
        MessageType::ReleaseRequest,
        MessageType::ContainsRequest,
        MessageType::CreateAndSealRequest,
    ] {
        assert_eq!(
            decode_request(t.as_i64(), &p),
            Err(DecodeError::MissingField("object_id")),
            "{t:?}"
        );
    }
    for t in [
        MessageType::CreateReply,
        MessageType::AbortReply,
        MessageType::SealReply,
        MessageType::ContainsReply,
    ] {
        assert_eq!(
            decode_reply(t.as_i64(), &p),
            Err(DecodeError::MissingField("object_id")),
            "{t:?}"
        );
    }
}

#[test]
fn digests_must_be_8_bytes() {
    for len in [0, 7, 9] {
        let p = table(|f| vec![(0, string(f, &ID)), (1, string(f, &vec![1; len]))]);
        assert_eq!(
            decode_request(MessageType::SealRequest.as_i64(), &p),
            Err(DecodeError::BadDigestLength(len))
        );
        let p = table(|f| vec![(0, string(f, &ID)), (4, string(f, &vec![1; len]))]);
        assert_eq!(
            decode_request(MessageType::CreateAndSealRequest.as_i64(), &p),
            Err(DecodeError::BadDigestLength(len))
        );
    }
    let p = table(|f| vec![(0, string(f, &ID))]);
    assert_eq!(
        decode_request(MessageType::SealRequest.as_i64(), &p),
        Err(DecodeError::MissingField("digest"))
    );
}

#[test]
fn absent_scalars_take_schema_defaults() {
    let p = table(|f| vec![(0, string(f, &ID))]);
    assert_eq!(
        decode_request(MessageType::CreateRequest.as_i64(), &p),
        Ok(Request::Create {
            id: ObjectId::from_bytes(ID),
            evict_if_full: false,
            data_size: 0,
            metadata_size: 0,
            device_num: 0,
        })
    );
    let p = table(|f| vec![(0, strings(f, &[&ID]))]);
    assert_eq!(
        decode_request(MessageType::GetRequest.as_i64(), &p),
        Ok(Request::Get {
            ids: vec![ObjectId::from_bytes(ID)],
            timeout_ms: 0
        })
    );
    let p = table(|_| vec![]);
    assert_eq!(
        decode_reply(
            MessageType::SealReply.as_i64(),
            &table(|f| vec![(0, string(f, &ID))])
        ),
        Ok(Reply::Seal {
            id: ObjectId::from_bytes(ID),
            error: ErrorCode::Ok
        })
    );
    assert_eq!(
        decode_reply(MessageType::ConnectReply.as_i64(), &p),
        Ok(Reply::Connect { memory_capacity: 0 })
    );
    assert_eq!(
        decode_reply(MessageType::CreateAndSealReply.as_i64(), &p),
        Ok(Reply::CreateAndSeal {
            error: ErrorCode::Ok
        })
    );
    // Explicitly written defaults read the same.
    let p = table(|f| {
        vec![
            (0, string(f, &ID)),
            (1, Field::Bool(false)),
            (4, Field::I32(0)),
        ]
    });
    assert!(matches!(
        decode_request(MessageType::CreateRequest.as_i64(), &p),
        Ok(Request::Create {
            evict_if_full: false,
            ..
        })
    ));
    let p = table(|f| vec![(0, strings(f, &[])), (1, Field::I64(0))]);
    assert_eq!(
        decode_request(MessageType::GetRequest.as_i64(), &p),
        Ok(Request::Get {
            ids: vec![],
            timeout_ms: 0
        })
    );
}

#[test]
fn create_reply_needs_its_spec() {
    let p = table(|f| vec![(0, string(f, &ID)), (2, Field::I32(1))]);
    assert_eq!(
        decode_reply(MessageType::CreateReply.as_i64(), &p),
        Err(DecodeError::MissingField("plasma_object"))
    );
}

#[test]
fn unknown_error_codes_are_rejected() {
    for code in [-1, 6, 99] {
        let p = table(|_| vec![(0, Field::I32(code))]);
        assert_eq!(
            decode_reply(MessageType::CreateAndSealReply.as_i64(), &p),
            Err(DecodeError::BadErrorCode(code))
        );
        let p = table(|f| vec![(0, string(f, &ID)), (1, Field::I32(code))]);
        assert_eq!(
            decode_reply(MessageType::SealReply.as_i64(), &p),
            Err(DecodeError::BadErrorCode(code))
        );
    }
}

#[test]
fn get_reply_vectors_are_required_and_consistent() {
    let full = |skip: Option<u16>, specs: usize, sizes: &[i64]| {
        let sizes = sizes.to_vec();
        table(move |f| {
            let specs = {
                f.start_vector::<u64>(specs * 6);
                for _ in 0..specs * 6 {
                    f.push(0u64);
                }
                Field::Off(f.end_vector::<u64>(specs).value())
            };
            let fields = vec![
                (0, strings(f, &[&ID])),
                (1, specs),
                (2, i32s(f, &[4])),
                (3, Field::Off(f.create_vector(&sizes).value())),
            ];
            fields
                .into_iter()
                .filter(|(s, _)| Some(*s) != skip)
                .collect()
        })
    };
    let ty = MessageType::GetReply.as_i64();
    assert!(decode_reply(ty, &full(None, 1, &[8])).is_ok());
    for (slot, name) in [
        (0, "object_ids"),
        (1, "plasma_objects"),
        (2, "store_fds"),
        (3, "mmap_sizes"),
    ] {
        assert_eq!(
            decode_reply(ty, &full(Some(slot), 1, &[8])),
            Err(DecodeError::MissingField(name))
        );
    }
    assert_eq!(
        decode_reply(ty, &full(None, 2, &[8])),
        Err(DecodeError::LengthMismatch("plasma_objects"))
    );
    assert_eq!(
        decode_reply(ty, &full(None, 1, &[8, 9])),
        Err(DecodeError::LengthMismatch("mmap_sizes"))
    );
}

#[test]
fn delete_counts_must_match() {
    let req = |count| table(move |f| vec![(0, Field::I32(count)), (1, strings(f, &[&ID, &ID]))]);
    let ty = MessageType::DeleteRequest.as_i64();
    assert!(decode_request(ty, &req(2)).is_ok());
    for bad in [0, 1, 3, -2] {
        assert_eq!(
            decode_request(ty, &req(bad)),
            Err(DecodeError::LengthMismatch("count"))
        );
    }
    let reply = |count, errors: &'static [i32]| {
        table(move |f| {
            vec![
                (0, Field::I32(count)),
                (1, strings(f, &[&ID, &ID])),
                (2, i32s(f, errors)),
            ]
        })
    };
    let ty = MessageType::DeleteReply.as_i64();
    assert_eq!(
        decode_reply(ty, &reply(2, &[0, 5])),
        Ok(Reply::Delete {
            ids: vec![ObjectId::from_bytes(ID); 2],
            errors: vec![ErrorCode::Ok, ErrorCode::ObjectInUse]
        })
    );
    assert_eq!(
        decode_reply(ty, &reply(1, &[0, 5])),
        Err(DecodeError::LengthMismatch("count"))
    );
    assert_eq!(
        decode_reply(ty, &reply(2, &[0])),
        Err(DecodeError::LengthMismatch("errors"))
    );
    assert_eq!(
        decode_reply(ty, &reply(2, &[0, 6])),
        Err(DecodeError::BadErrorCode(6))
    );
}

#[test]
fn batch_vectors_must_have_equal_lengths() {
    let batch = |n_data: usize| {
        table(move |f| {
            let data: Vec<&[u8]> = vec![b"x"; n_data];
            vec![
                (0, strings(f, &[&ID, &ID])),
                (2, strings(f, &data)),
                (3, strings(f, &[b"", b"m"])),
                (4, strings(f, &[&[1; 8], &[2; 8]])),
            ]
        })
    };
    let ty = MessageType::CreateAndSealBatchRequest.as_i64();
    assert!(decode_request(ty, &batch(2)).is_ok());
    for n in [0, 1, 3] {
        assert_eq!(
            decode_request(ty, &batch(n)),
            Err(DecodeError::LengthMismatch("data"))
        );
    }
}

#[test]
fn list_entries_need_a_digest_but_deletions_do_not() {
    let info = |f: &mut Fbb, with_digest: bool| {
        let id = f.create_byte_string(&ID);
        let digest = with_digest.then(|| f.create_byte_string(b""));
        let start = f.start_table();
        f.push_slot_always(vt(0), id);
        if let Some(d) = digest {
            f.push_slot_always(vt(6), d);
        }
        f.push_slot(vt(7), !with_digest, false);
        f.end_table(start)
    };
    for with_digest in [true, false] {
        let p = table(|f| {
            let i = info(f, with_digest);
            vec![(0, Field::Off(f.create_vector(&[i]).value()))]
        });
        let list = decode_reply(MessageType::ListReply.as_i64(), &p);
        let mut framed = (p.len() as u64).to_le_bytes().to_vec();
        framed.extend_from_slice(&p);
        let note = decode_notification(&framed, u64::MAX).map(|o| o.map(|(v, _)| v));
        let expected = ObjectInfo {
            object_id: ObjectId::from_bytes(ID),
            is_deletion: !with_digest,
            ..ObjectInfo::default()
        };
        assert_eq!(note, Ok(Some(vec![expected.clone()])));
        if with_digest {
            assert_eq!(
                list,
                Ok(Reply::List {
                    objects: vec![expected]
                })
            );
        } else {
            assert_eq!(list, Err(DecodeError::MissingField("digest")));
        }
    }
}

#[test]
fn an_unknown_residence_is_refused() {
    let entry = |residence: u8| {
        let p = table(|f| {
            let id = f.create_byte_string(&ID);
            let digest = f.create_byte_string(&[1; 8]);
            let start = f.start_table();
            f.push_slot_always(vt(0), id);
            f.push_slot_always(vt(6), digest);
            f.push_slot(vt(8), residence, 0);
            let i = f.end_table(start);
            vec![(0, Field::Off(f.create_vector(&[i]).value()))]
        });
        decode_reply(MessageType::ListReply.as_i64(), &p)
    };
    match entry(2) {
        Ok(Reply::List { objects }) => assert_eq!(objects[0].residence, Residence::Disk),
        other => panic!("expected a list, got {other:?}"),
    }
    assert_eq!(entry(4), Err(DecodeError::BadResidence(4)));
}

#[test]
fn strings_need_their_nul_terminator() {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    enc.encode_request(
        &Request::Release {
            id: ObjectId::from_bytes(ID),
        },
        &mut out,
    );
    let payload = &mut out[24..];
    let nul = payload.len() - 4;
    assert_eq!(payload[nul], 0);
    payload[nul] = 1;
    assert!(matches!(
        decode_request(MessageType::ReleaseRequest.as_i64(), payload),
        Err(DecodeError::Flatbuffer(_))
    ));
}

#[test]
fn message_types_are_checked_by_direction() {
    let empty = table(|_| vec![]);
    assert_eq!(
        decode_request(99, &empty),
        Err(DecodeError::UnknownType(99))
    );
    assert_eq!(
        decode_request(-1, &empty),
        Err(DecodeError::UnknownType(-1))
    );
    assert_eq!(decode_reply(36, &empty), Err(DecodeError::UnknownType(36)));
    for t in MessageType::ALL.into_iter().chain(MessageType::EXTENSIONS) {
        let n = t.as_i64();
        let is_request = matches!(n, 1 | 3 | 5 | 7 | 9 | 11 | 13 | 15 | 17 | 19 | 21 | 23)
            || matches!(n, 28 | 30 | 32 | 34 | 64 | 66 | 68 | 70 | 72 | 74);
        let is_reply = !is_request && !matches!(n, 0 | 12 | 24..=27);
        if !is_request && n != 0 {
            assert_eq!(
                decode_request(n, &empty),
                Err(DecodeError::NotARequest(t)),
                "{t:?}"
            );
        }
        if !is_reply {
            assert_eq!(
                decode_reply(n, &empty),
                Err(DecodeError::NotAReply(t)),
                "{t:?}"
            );
        }
    }
}

#[test]
fn type_zero_is_a_disconnect_whatever_its_payload() {
    for payload in [&[][..], &[1, 2, 3][..], &[0xff; 64][..]] {
        assert_eq!(decode_request(0, payload), Ok(Request::Disconnect));
    }
}

#[test]
fn empty_and_garbage_payloads_are_rejected() {
    for t in [1i64, 9, 17, 19, 23] {
        assert!(decode_request(t, &[]).is_err());
        assert!(decode_request(t, &[0xff; 16]).is_err());
    }
    for t in [2i64, 10, 18, 20] {
        assert!(decode_reply(t, &[]).is_err());
        assert!(decode_reply(t, &[0xff; 16]).is_err());
    }
}

#[test]
fn offsets_into_a_shared_table_cannot_amplify_work() {
    // A ListReply whose vector points 20 000 times at one ObjectInfo table:
    // the verifier's apparent-size limit must refuse it.
    let p = table(|f| {
        let id = f.create_byte_string(&[1; 4000]);
        let digest = f.create_byte_string(b"");
        let start = f.start_table();
        f.push_slot_always(vt(0), id);
        f.push_slot_always(vt(6), digest);
        let info = f.end_table(start);
        let many = vec![info; 20_000];
        vec![(0, Field::Off(f.create_vector(&many).value()))]
    });
    assert!(matches!(
        decode_reply(MessageType::ListReply.as_i64(), &p),
        Err(DecodeError::Flatbuffer(_))
    ));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(t in 0i64..40, bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let _ = decode_request(t, &bytes);
        let _ = decode_reply(t, &bytes);
        let _ = decode_notification(&bytes, 1 << 20);
    }
}

#[test]
fn a_stats_reply_with_unpaired_request_vectors_is_refused() {
    let p = table(|f| {
        vec![
            (21, Field::Off(f.create_vector(&[9i64, 11]).value())),
            (22, Field::Off(f.create_vector(&[1i64]).value())),
        ]
    });
    assert_eq!(
        decode_reply(MessageType::StatsReply.as_i64(), &p),
        Err(DecodeError::LengthMismatch("request_counts"))
    );
}

#[test]
fn an_empty_stats_reply_reads_as_all_zeros() {
    // A store older than a field leaves its slot out: the reader sees 0.
    let p = table(|_| vec![]);
    assert_eq!(
        decode_reply(MessageType::StatsReply.as_i64(), &p),
        Ok(Reply::Stats(Box::default()))
    );
}
