//! Request decoding (docs/protocol.md §4-§5): the first byte is the message
//! type, the rest the payload. Whatever the bytes, `decode_request` returns
//! a request or an error, never panics; a request it returns re-encodes to
//! one frame that decodes to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plasma_protocol::{decode_request, parse_frame, Encoder};

fuzz_target!(|data: &[u8]| {
    let Some((&msg_type, payload)) = data.split_first() else {
        return;
    };
    let Ok(request) = decode_request(i64::from(msg_type), payload) else {
        return;
    };
    let mut frame = Vec::new();
    Encoder::new().encode_request(&request, &mut frame);
    let (again, used) = parse_frame(&frame, u64::MAX)
        .expect("our own frame header")
        .expect("a whole frame");
    assert_eq!(used, frame.len());
    let decoded = decode_request(again.msg_type, again.payload)
        .unwrap_or_else(|e| panic!("{request:?} re-encoded does not decode: {e}"));
    assert_eq!(decoded, request);
});
