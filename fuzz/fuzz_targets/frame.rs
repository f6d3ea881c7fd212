//! Frame and notification framing (docs/protocol.md §3, §9): whatever the
//! bytes, `parse_frame` and `decode_notification` either ask for more,
//! refuse, or return a frame that is exactly what the bytes say, and never
//! panic. The first input byte picks the length limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plasma_protocol::{
    decode_notification, parse_frame, Encoder, FrameError, DEFAULT_MAX_FRAME_LEN, HEADER_LEN,
};

const LIMITS: [u64; 4] = [0, 64, 4096, DEFAULT_MAX_FRAME_LEN];

fn i64_at(buf: &[u8], pos: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[pos..pos + 8]);
    i64::from_le_bytes(b)
}

fn check_frame(buf: &[u8], max: u64) {
    match parse_frame(buf, max) {
        Ok(Some((frame, used))) => {
            assert_eq!(used, HEADER_LEN + frame.payload.len());
            assert!(used <= buf.len());
            assert_eq!(i64_at(buf, 0), 0);
            assert_eq!(frame.msg_type, i64_at(buf, 8));
            assert_eq!(i64_at(buf, 16), frame.payload.len() as i64);
            assert!(frame.payload.len() as u64 <= max);
            assert_eq!(frame.payload, &buf[HEADER_LEN..used]);
            // One byte less is an incomplete frame, not another one.
            assert_eq!(parse_frame(&buf[..used - 1], max), Ok(None));
        }
        Ok(None) => {
            if buf.len() >= HEADER_LEN {
                let len = i64_at(buf, 16);
                assert_eq!(i64_at(buf, 0), 0);
                assert!(len >= 0 && len as u64 <= max);
                assert!(buf.len() < HEADER_LEN + len as usize);
            }
        }
        Err(e) => {
            assert!(buf.len() >= HEADER_LEN, "{e} before a whole header");
            match e {
                FrameError::BadVersion(v) => assert_eq!(v, i64_at(buf, 0)),
                FrameError::NegativeLength(n) => assert!(n < 0),
                FrameError::TooLong { len, max: m } => assert!(len > m && m == max),
                _ => {}
            }
        }
    }
}

fn check_notification(buf: &[u8], max: u64) {
    let Ok(Some((infos, used))) = decode_notification(buf, max) else {
        return;
    };
    assert!(used <= buf.len());
    // What decoded re-encodes to a message that decodes to the same.
    let mut again = Vec::new();
    Encoder::new().encode_notification(&infos, &mut again);
    let Ok(Some((decoded, n))) = decode_notification(&again, u64::MAX) else {
        panic!("a re-encoded notification does not decode: {infos:?}");
    };
    assert_eq!(n, again.len());
    assert_eq!(decoded, infos);
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, buf)) = data.split_first() else {
        return;
    };
    let max = LIMITS[usize::from(pick) % LIMITS.len()];
    check_frame(buf, max);
    check_notification(buf, max);
});
