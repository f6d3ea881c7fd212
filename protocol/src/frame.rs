//! Frame framing on the main socket (protocol.md §3): a 24-byte header of
//! three little-endian `i64`s (version 0, message type, payload length)
//! followed by the flatbuffers payload.

/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 24;

/// Default upper bound for a frame's payload length (1 GiB). The real store
/// has no limit; pyarrow's tests send 20 MB frames.
pub const DEFAULT_MAX_FRAME_LEN: u64 = 1 << 30;

/// One complete frame, borrowed from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The message type number from the header (see [`crate::MessageType`]).
    pub msg_type: i64,
    /// The flatbuffers payload.
    pub payload: &'a [u8],
}

/// A frame header no peer following the protocol would send. The connection
/// cannot be resynchronised after one of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The version field is not 0.
    #[error("frame version {0}, expected 0")]
    BadVersion(i64),
    /// The payload length field is negative.
    #[error("frame payload length {0} is negative")]
    NegativeLength(i64),
    /// The payload length exceeds the receiver's limit.
    #[error("frame payload of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// Announced payload length.
        len: u64,
        /// The limit in force.
        max: u64,
    },
}

fn i64_at(buf: &[u8], pos: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[pos..pos + 8]);
    i64::from_le_bytes(b)
}

/// Parses one frame from the start of `buf`.
///
/// `Ok(None)` means more bytes are needed. On `Ok(Some((frame, consumed)))`
/// the frame occupied `buf[..consumed]`. The header is checked as soon as
/// all 24 bytes are there, before the payload has arrived.
///
/// ```
/// use plasma_protocol::{parse_frame, DEFAULT_MAX_FRAME_LEN};
/// let mut bytes = vec![0u8; 24];
/// bytes[8] = 19; // ConnectRequest
/// bytes[16] = 2; // two payload bytes
/// assert_eq!(parse_frame(&bytes, DEFAULT_MAX_FRAME_LEN), Ok(None));
/// bytes.extend_from_slice(&[1, 2, 3]);
/// let (frame, used) = parse_frame(&bytes, DEFAULT_MAX_FRAME_LEN).unwrap().unwrap();
/// assert_eq!((frame.msg_type, frame.payload, used), (19, &[1u8, 2][..], 26));
/// ```
pub fn parse_frame(buf: &[u8], max_len: u64) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let version = i64_at(buf, 0);
    if version != 0 {
        return Err(FrameError::BadVersion(version));
    }
    let msg_type = i64_at(buf, 8);
    let len = i64_at(buf, 16);
    let len = u64::try_from(len).map_err(|_| FrameError::NegativeLength(len))?;
    if len > max_len {
        return Err(FrameError::TooLong { len, max: max_len });
    }
    let total = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(HEADER_LEN))
        .ok_or(FrameError::TooLong { len, max: max_len })?;
    match buf.get(HEADER_LEN..total) {
        Some(payload) => Ok(Some((Frame { msg_type, payload }, total))),
        None => Ok(None),
    }
}

/// The 24-byte header for a frame of `msg_type` with `payload_len` bytes.
pub fn frame_header(msg_type: i64, payload_len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[8..16].copy_from_slice(&msg_type.to_le_bytes());
    h[16..24].copy_from_slice(&(payload_len as u64).to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(version: i64, ty: i64, len: i64, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&version.to_le_bytes());
        v.extend_from_slice(&ty.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn partial_header_needs_more() {
        let f = frame(0, 19, 4, &[1, 2, 3, 4]);
        for n in 0..HEADER_LEN {
            assert_eq!(parse_frame(&f[..n], 100), Ok(None), "prefix {n}");
        }
    }

    #[test]
    fn partial_payload_needs_more() {
        let f = frame(0, 19, 4, &[1, 2, 3, 4]);
        for n in HEADER_LEN..f.len() {
            assert_eq!(parse_frame(&f[..n], 100), Ok(None), "prefix {n}");
        }
    }

    #[test]
    fn complete_frame_leaves_the_rest() {
        let mut f = frame(0, 7, 3, &[9, 8, 7]);
        f.extend_from_slice(&[0xaa; 5]);
        let (fr, used) = parse_frame(&f, 100).unwrap().unwrap();
        assert_eq!(fr.msg_type, 7);
        assert_eq!(fr.payload, &[9, 8, 7]);
        assert_eq!(used, 27);
    }

    #[test]
    fn empty_payload_is_a_frame() {
        let f = frame(0, 0, 0, &[]);
        let (fr, used) = parse_frame(&f, 0).unwrap().unwrap();
        assert_eq!((fr.msg_type, fr.payload.len(), used), (0, 0, 24));
    }

    #[test]
    fn bad_version_is_rejected_before_payload() {
        let f = frame(20, 19, 4, &[]);
        assert_eq!(parse_frame(&f, 100), Err(FrameError::BadVersion(20)));
    }

    #[test]
    fn negative_and_too_long_lengths_are_rejected() {
        assert_eq!(
            parse_frame(&frame(0, 1, -1, &[]), 100),
            Err(FrameError::NegativeLength(-1))
        );
        assert_eq!(
            parse_frame(&frame(0, 1, 101, &[]), 100),
            Err(FrameError::TooLong { len: 101, max: 100 })
        );
        assert!(parse_frame(&frame(0, 1, 100, &[]), 100).unwrap().is_none());
        assert_eq!(
            parse_frame(&frame(0, 1, i64::MAX, &[]), u64::MAX),
            Ok(None),
            "a huge but allowed length just waits for bytes"
        );
    }

    #[test]
    fn header_matches_parse() {
        let mut f = frame_header(33, 2).to_vec();
        f.extend_from_slice(&[5, 6]);
        let (fr, used) = parse_frame(&f, 10).unwrap().unwrap();
        assert_eq!((fr.msg_type, fr.payload, used), (33, &[5u8, 6][..], 26));
    }
}
