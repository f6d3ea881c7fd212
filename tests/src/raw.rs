//! [`RawConnection`]: frames on a bare socket, for misbehaving on purpose.

use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use plasma_protocol::{decode_reply, parse_frame, Encoder, ObjectId, Reply, Request, HEADER_LEN};

use crate::PATIENCE;

/// One frame exactly as the wire carries it: version, type and payload
/// length as little-endian i64, then the payload. Any values, valid or not.
pub fn frame(version: i64, msg_type: i64, payload: &[u8]) -> Vec<u8> {
    frame_with_len(version, msg_type, payload.len() as i64, payload)
}

/// Like [`frame`] but with a length field that need not match the payload.
pub fn frame_with_len(version: i64, msg_type: i64, len: i64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&msg_type.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A connection that sends whatever bytes the test gives it and reads
/// replies with the protocol crate's decoder.
///
/// Replies are read with plain reads, so a passed fd is closed by the kernel
/// on arrival but its one data byte lands in the byte stream: after a reply
/// that is followed by an fd message (a successful Create or Get naming a
/// segment new to this connection), call [`skip_fd_message`](Self::skip_fd_message).
pub struct RawConnection {
    stream: UnixStream,
    buf: Vec<u8>,
    encoder: Encoder,
}

impl RawConnection {
    /// Connects (no handshake); reads time out after [`PATIENCE`].
    pub fn connect(socket: &Path) -> RawConnection {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", socket.display()));
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("setting a read timeout");
        RawConnection {
            stream,
            buf: Vec::new(),
            encoder: Encoder::new(),
        }
    }

    /// Connects and performs the Connect handshake; returns the capacity.
    pub fn connect_handshake(socket: &Path) -> (RawConnection, i64) {
        let mut conn = Self::connect(socket);
        match conn.request(&Request::Connect) {
            Reply::Connect { memory_capacity } => (conn, memory_capacity),
            other => panic!("expected a ConnectReply, got {other:?}"),
        }
    }

    /// The socket, e.g. to pass an fd over it.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Encodes and writes one request frame.
    pub fn send_request(&mut self, request: &Request<'_>) -> io::Result<()> {
        let mut bytes = Vec::new();
        self.encoder.encode_request(request, &mut bytes);
        self.send(&bytes)
    }

    /// Sends `request` and returns its reply; panics if the store closes the
    /// connection or does not answer in time.
    pub fn request(&mut self, request: &Request<'_>) -> Reply {
        self.send_request(request)
            .unwrap_or_else(|e| panic!("sending {request:?}: {e}"));
        match self.read_reply() {
            Ok(Some(reply)) => reply,
            Ok(None) => panic!("the store closed the connection instead of answering {request:?}"),
            Err(e) => panic!("no reply to {request:?}: {e}"),
        }
    }

    /// Reads the next reply frame. `Ok(None)`: the store closed the
    /// connection (EOF or reset). Panics on a frame that does not decode:
    /// the store must never send one.
    pub fn read_reply(&mut self) -> io::Result<Option<Reply>> {
        loop {
            match parse_frame(&self.buf, u64::MAX) {
                Ok(Some((frame, consumed))) => {
                    let reply = decode_reply(frame.msg_type, frame.payload).unwrap_or_else(|e| {
                        panic!(
                            "the store sent an undecodable frame (type {}): {e}",
                            frame.msg_type
                        )
                    });
                    self.buf.drain(..consumed);
                    return Ok(Some(reply));
                }
                Ok(None) => {}
                Err(e) => panic!("the store sent a bad frame header: {e}"),
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Seals `n` empty objects with CreateAndSealBatch requests of 5,000
    /// (fast, and no arena byte touched); returns their ids in order.
    pub fn seal_empty_objects(&mut self, n: usize) -> Vec<ObjectId> {
        let mut all = Vec::with_capacity(n);
        for start in (0..n).step_by(5000) {
            let ids: Vec<ObjectId> = (0..5000.min(n - start))
                .map(|_| ObjectId::random())
                .collect();
            let count = ids.len();
            all.extend_from_slice(&ids);
            let reply = self.request(&Request::CreateAndSealBatch {
                ids,
                evict_if_full: true,
                data: vec![b""; count],
                metadata: vec![b""; count],
                digests: vec![[0; 8]; count],
            });
            assert_eq!(
                reply,
                Reply::CreateAndSealBatch {
                    error: plasma_protocol::ErrorCode::Ok
                }
            );
        }
        all
    }

    /// Consumes the one data byte of an fd message (the fd itself was
    /// discarded by the plain read).
    pub fn skip_fd_message(&mut self) {
        while self.buf.is_empty() {
            let mut chunk = [0u8; 1];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the connection ended before the expected fd message"),
                Ok(_) => self.buf.push(chunk[0]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("waiting for an fd message: {e}"),
            }
        }
        self.buf.remove(0);
    }

    /// After something bad was sent: asks a Contains and reads until its
    /// reply (`true`: the store kept the connection) or the end of the
    /// connection (`false`: the store dropped it). Replies to earlier frames
    /// are skipped. Panics if neither happens in time.
    pub fn still_answers(&mut self) -> bool {
        let probe = ObjectId::random();
        if self.send_request(&Request::Contains { id: probe }).is_err() {
            return false; // EPIPE / reset: already dropped
        }
        loop {
            match self.read_reply() {
                Ok(None) => return false,
                Ok(Some(Reply::Contains { id, .. })) if id == probe => return true,
                Ok(Some(_)) => continue,
                Err(e) => panic!("the store neither answered nor closed the connection: {e}"),
            }
        }
    }
}
