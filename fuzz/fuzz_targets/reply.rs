//! Reply decoding (docs/protocol.md §4-§5), as a client reads the store's
//! frames: the first byte is the message type, the rest the payload.
//! Whatever the bytes, `decode_reply` returns a reply or an error, never
//! panics; a reply it returns re-encodes to one frame that decodes to the
//! same reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plasma_protocol::{decode_reply, parse_frame, Encoder};

fuzz_target!(|data: &[u8]| {
    let Some((&msg_type, payload)) = data.split_first() else {
        return;
    };
    let Ok(reply) = decode_reply(i64::from(msg_type), payload) else {
        return;
    };
    let mut frame = Vec::new();
    Encoder::new().encode_reply(&reply, &mut frame);
    let (again, used) = parse_frame(&frame, u64::MAX)
        .expect("our own frame header")
        .expect("a whole frame");
    assert_eq!(used, frame.len());
    let decoded = decode_reply(again.msg_type, again.payload)
        .unwrap_or_else(|e| panic!("{reply:?} re-encoded does not decode: {e}"));
    assert_eq!(decoded, reply);
});
