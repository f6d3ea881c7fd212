//! Bytes in and out of the driver's sockets, without waiting: the request
//! connection's replies (frames followed by the fds of new segments,
//! protocol.md §6), its outgoing frames, and the notification stream (§9).
//!
//! Every read and write here is one non-blocking syscall that may return
//! `WouldBlock`; the driver decides when to wait for readiness.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::socket::MsgFlags;
use plasma_protocol::{
    decode_notification, decode_reply, fd, parse_frame, ObjectInfo, Reply, DEFAULT_MAX_FRAME_LEN,
};

use crate::connection::{announced_segments, map_segment, trailing_fds, Answer};
use crate::error::{CallError, ProtocolError};
use crate::mapping::Mapping;
use crate::segments::FileRegistry;

/// Smallest free space offered to one read.
const MIN_READ: usize = 64 * 1024;
/// Buffers larger than this are given back once empty.
const KEEP_BUFFER: usize = 256 << 10;

/// A receive buffer: `buf[..filled]` holds bytes not consumed yet.
#[derive(Default)]
struct InBuf {
    buf: Vec<u8>,
    filled: usize,
}

impl InBuf {
    /// Room for one more read.
    fn spare(&mut self) -> &mut [u8] {
        if self.buf.len() - self.filled < MIN_READ {
            let new_len = (self.buf.len() * 2).max(self.filled + MIN_READ);
            self.buf.resize(new_len, 0);
        }
        &mut self.buf[self.filled..]
    }

    fn data(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.filled, 0);
        self.filled -= n;
        if self.filled == 0 && self.buf.len() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
    }
}

/// The reading side of the request connection.
pub(crate) struct Replies {
    inbuf: InBuf,
    /// Fds received, in arrival order; each belongs to one fd byte.
    fds: VecDeque<OwnedFd>,
    /// A reply decoded whose segment fds have not all arrived yet.
    decoded: Option<Reply>,
    /// Segment id → mapping, never forgotten while the connection lives.
    segments: HashMap<i32, Arc<Mapping>>,
    files: FileRegistry,
}

impl Replies {
    pub(crate) fn new() -> Self {
        Self {
            inbuf: InBuf::default(),
            fds: VecDeque::new(),
            decoded: None,
            segments: HashMap::new(),
            files: FileRegistry::default(),
        }
    }

    /// One non-blocking `recvmsg`. `Ok(0)`: the store closed the connection.
    pub(crate) fn read_from(&mut self, sock: BorrowedFd<'_>) -> io::Result<usize> {
        let mut fds = Vec::new();
        let n = fd::recv_with_fds(sock, self.inbuf.spare(), &mut fds)?;
        self.fds.extend(fds);
        self.inbuf.filled += n;
        Ok(n)
    }

    /// The next complete reply with the mappings of the segments it
    /// announces, or `None` if more bytes (or fds) are needed.
    pub(crate) fn next_answer(&mut self) -> Result<Option<Answer>, CallError> {
        if self.decoded.is_none() {
            let parsed = parse_frame(self.inbuf.data(), DEFAULT_MAX_FRAME_LEN)
                .map_err(ProtocolError::from)?;
            let Some((frame, consumed)) = parsed else {
                return Ok(None);
            };
            let reply = decode_reply(frame.msg_type, frame.payload).map_err(ProtocolError::from)?;
            self.inbuf.consume(consumed);
            self.decoded = Some(reply);
        }
        let Some(reply) = &self.decoded else {
            return Ok(None);
        };
        let announced = announced_segments(reply)?;
        let mut new: Vec<i32> = Vec::new();
        for (index, _) in &announced {
            if !self.segments.contains_key(index) && !new.contains(index) {
                new.push(*index);
            }
        }
        // Each new segment's fd follows the reply as one byte carrying it,
        // then any trailing ones (an AttachReply's).
        let trailing = trailing_fds(reply);
        let wanted = new.len() + trailing;
        if self.inbuf.filled < wanted {
            return Ok(None);
        }
        if self.fds.len() < wanted {
            return Err(ProtocolError::MissingFd.into());
        }
        self.inbuf.consume(wanted);
        for index in &new {
            let fd = self.fds.pop_front().ok_or(ProtocolError::MissingFd)?;
            let mmap_size = announced
                .iter()
                .find(|(i, _)| i == index)
                .map_or(0, |(_, size)| *size);
            let mapping = map_segment(&self.files, fd, mmap_size)?;
            self.segments.insert(*index, mapping);
        }
        let mut segments = Vec::with_capacity(announced.len());
        for (index, _) in announced {
            let mapping = self
                .segments
                .get(&index)
                .ok_or(ProtocolError::UnknownSegment(index))?;
            segments.push((index, Arc::clone(mapping)));
        }
        let mut extra = Vec::with_capacity(trailing);
        for _ in 0..trailing {
            extra.push(self.fds.pop_front().ok_or(ProtocolError::MissingFd)?);
        }
        let reply = self
            .decoded
            .take()
            .ok_or(ProtocolError::Mismatch("reply vanished"))?;
        Ok(Some(Answer::new(reply, segments, extra)))
    }

    /// Bytes received and not yet consumed (tests).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.inbuf.filled
    }
}

/// Frames waiting to be written to the request connection.
#[derive(Default)]
pub(crate) struct Outgoing {
    buf: Vec<u8>,
    sent: usize,
}

impl Outgoing {
    /// The buffer to append whole frames to.
    pub(crate) fn frames(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sent == self.buf.len()
    }

    /// Non-blocking `send`s (`MSG_NOSIGNAL`) of what is left, until all is
    /// written (`Ok`) or the socket is full (`WouldBlock`, bytes kept).
    pub(crate) fn write_to(&mut self, sock: BorrowedFd<'_>) -> io::Result<()> {
        while self.sent < self.buf.len() {
            match nix::sys::socket::send(
                sock.as_raw_fd(),
                &self.buf[self.sent..],
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(n) => self.sent += n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.buf.clear();
        self.sent = 0;
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
        Ok(())
    }
}

/// The notification stream: 8-byte length + PlasmaNotification, repeated.
#[derive(Default)]
pub(crate) struct Notifications {
    inbuf: InBuf,
}

impl Notifications {
    /// One non-blocking read. `Ok(0)`: the store closed the channel.
    pub(crate) fn read_from(&mut self, sock: BorrowedFd<'_>) -> io::Result<usize> {
        loop {
            match nix::sys::socket::recv(
                sock.as_raw_fd(),
                self.inbuf.spare(),
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(n) => {
                    self.inbuf.filled += n;
                    return Ok(n);
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Hands the objects of every complete message received to `each`.
    pub(crate) fn drain(&mut self, mut each: impl FnMut(ObjectInfo)) -> Result<(), ProtocolError> {
        let mut start = 0;
        while let Some((infos, consumed)) =
            decode_notification(&self.inbuf.data()[start..], DEFAULT_MAX_FRAME_LEN)?
        {
            start += consumed;
            infos.into_iter().for_each(&mut each);
        }
        self.inbuf.consume(start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plasma_protocol::{Encoder, ObjectId, ObjectSpec};
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn get_reply(segment: i32) -> Reply {
        Reply::Get {
            ids: vec![ObjectId::from_bytes([1; 20])],
            objects: vec![ObjectSpec {
                segment_index: segment,
                data_offset: 64,
                data_size: 5,
                metadata_offset: 69,
                metadata_size: 0,
                device_num: 0,
            }],
            store_fds: vec![segment],
            mmap_sizes: vec![4096 + 8],
        }
    }

    fn segment_file() -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[0u8; 4096]).unwrap();
        f
    }

    #[test]
    fn a_reply_waits_for_its_fd_and_a_known_segment_needs_none() {
        let (store, client) = UnixStream::pair().unwrap();
        client.set_nonblocking(true).unwrap();
        let mut enc = Encoder::new();
        let mut frame = Vec::new();
        enc.encode_reply(&get_reply(3), &mut frame);
        let mut r = Replies::new();

        // The frame alone: the fd of new segment 3 is still missing.
        (&store).write_all(&frame).unwrap();
        r.read_from(client.as_fd()).unwrap();
        assert!(r.next_answer().unwrap().is_none());

        // Then the fd message, and the same reply again (segment known).
        let file = segment_file();
        fd::send_fd(store.as_fd(), file.as_fd()).unwrap();
        (&store).write_all(&frame).unwrap();
        while r.read_from(client.as_fd()).is_ok() {}
        let first = r.next_answer().unwrap().expect("complete answer");
        assert!(first.segment(3).is_ok());
        let second = r.next_answer().unwrap().expect("second answer, no fd");
        assert!(second.segment(3).is_ok());
        assert_eq!(r.buffered(), 0);
        assert!(r.next_answer().unwrap().is_none());
    }

    #[test]
    fn a_plain_byte_where_an_fd_belongs_is_a_protocol_error() {
        let (store, client) = UnixStream::pair().unwrap();
        client.set_nonblocking(true).unwrap();
        let mut frame = Vec::new();
        Encoder::new().encode_reply(&get_reply(4), &mut frame);
        frame.push(0x14); // the byte without its fd
        (&store).write_all(&frame).unwrap();
        let mut r = Replies::new();
        r.read_from(client.as_fd()).unwrap();
        assert!(matches!(
            r.next_answer(),
            Err(CallError::Protocol(ProtocolError::MissingFd))
        ));
    }

    #[test]
    fn notifications_split_across_reads_are_reassembled() {
        let (store, client) = UnixStream::pair().unwrap();
        client.set_nonblocking(true).unwrap();
        let info = ObjectInfo {
            object_id: ObjectId::from_bytes([9; 20]),
            data_size: 3,
            digest: Some([0; 8]),
            ..ObjectInfo::default()
        };
        let mut bytes = Vec::new();
        let mut enc = Encoder::new();
        enc.encode_notification(std::slice::from_ref(&info), &mut bytes);
        enc.encode_notification(std::slice::from_ref(&info), &mut bytes);
        let mut n = Notifications::default();
        let mut out = Vec::new();
        (&store).write_all(&bytes[..5]).unwrap();
        n.read_from(client.as_fd()).unwrap();
        n.drain(|i| out.push(i)).unwrap();
        assert!(out.is_empty());
        (&store).write_all(&bytes[5..]).unwrap();
        n.read_from(client.as_fd()).unwrap();
        n.drain(|i| out.push(i)).unwrap();
        assert_eq!(out, vec![info.clone(), info]);
        drop(store);
        assert_eq!(n.read_from(client.as_fd()).unwrap(), 0);
    }

    #[test]
    fn outgoing_writes_everything_and_reports_would_block() {
        let (store, client) = UnixStream::pair().unwrap();
        let mut out = Outgoing::default();
        out.frames().extend_from_slice(b"hello");
        assert!(!out.is_empty());
        out.write_to(client.as_fd()).unwrap();
        assert!(out.is_empty());
        let mut got = [0u8; 5];
        std::io::Read::read_exact(&mut &store, &mut got).unwrap();
        assert_eq!(&got, b"hello");

        // Fill the socket until it refuses more: WouldBlock, bytes kept.
        out.frames().extend(std::iter::repeat_n(7u8, 8 << 20));
        let err = out.write_to(client.as_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(!out.is_empty());
    }
}
