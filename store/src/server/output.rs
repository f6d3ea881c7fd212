//! A connection's send side: reply frames and fd messages, in order.
//!
//! Frame bytes and descriptor messages interleave exactly as queued: a
//! client reads a reply, then one 1-byte fd message per new segment
//! (protocol.md §6). Whatever the socket does not take at once waits here
//! for the next writable event; nothing ever blocks on the peer.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::socket::{send, MsgFlags};

#[derive(Debug)]
enum Item {
    /// Frame bytes; `sent` of them already went out.
    Bytes { data: Vec<u8>, sent: usize },
    /// One fd message carrying this segment's descriptor.
    Fd(Segment),
}

/// A segment whose descriptor can follow a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// The arena.
    Arena,
    /// The directory (`direct`).
    Directory,
    /// The connection's own hold table (`direct`).
    Holds,
}

/// The descriptors a connection's queued fd messages may carry.
#[derive(Clone, Copy, Debug)]
pub struct SegmentFds<'a> {
    /// The arena.
    pub arena: BorrowedFd<'a>,
    /// The directory, if the store has one.
    pub directory: Option<BorrowedFd<'a>>,
    /// The connection's hold table, if it has one.
    pub holds: Option<BorrowedFd<'a>>,
}

impl<'a> SegmentFds<'a> {
    fn get(&self, segment: Segment) -> Option<BorrowedFd<'a>> {
        match segment {
            Segment::Arena => Some(self.arena),
            Segment::Directory => self.directory,
            Segment::Holds => self.holds,
        }
    }
}

/// Ordered output of one connection.
#[derive(Debug, Default)]
pub struct OutQueue {
    items: VecDeque<Item>,
    queued: u64,
}

/// `send` that never raises SIGPIPE and never blocks.
pub fn send_nosignal(sock: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<usize> {
    loop {
        match send(
            sock.as_raw_fd(),
            bytes,
            MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        ) {
            Err(Errno::EINTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

impl OutQueue {
    /// Bytes (and fd messages, one byte each) waiting to be sent.
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// Whether nothing waits.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends frame bytes produced by `fill` (which appends to the vector
    /// it is given).
    pub fn push_bytes(&mut self, fill: impl FnOnce(&mut Vec<u8>)) {
        if !matches!(self.items.back(), Some(Item::Bytes { .. })) {
            self.items.push_back(Item::Bytes {
                data: Vec::new(),
                sent: 0,
            });
        }
        if let Some(Item::Bytes { data, .. }) = self.items.back_mut() {
            let before = data.len();
            fill(data);
            self.queued += (data.len() - before) as u64;
        }
    }

    /// Appends a complete frame built elsewhere (its buffer is kept, not
    /// copied).
    pub fn push_frame(&mut self, frame: plasma_protocol::BuiltFrame) {
        let start = frame.start.min(frame.bytes.len());
        self.queued += (frame.bytes.len() - start) as u64;
        self.items.push_back(Item::Bytes {
            data: frame.bytes,
            sent: start,
        });
    }

    /// Appends one fd message carrying `segment`'s descriptor.
    pub fn push_fd(&mut self, segment: Segment) {
        self.items.push_back(Item::Fd(segment));
        self.queued += 1;
    }

    /// Sends as much as the socket takes. `Ok` when everything went out or
    /// the socket is full; `Err` when the peer is gone (or a descriptor to
    /// send does not exist, which no reply of the core asks for).
    pub fn flush(&mut self, sock: BorrowedFd<'_>, fds: SegmentFds<'_>) -> io::Result<()> {
        while let Some(item) = self.items.front_mut() {
            let done = match item {
                Item::Bytes { data, sent } => {
                    match send_nosignal(sock, &data[*sent..]) {
                        Ok(n) => {
                            *sent += n;
                            self.queued -= n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) => return Err(e),
                    }
                    *sent == data.len()
                }
                Item::Fd(segment) => {
                    let fd = fds
                        .get(*segment)
                        .ok_or_else(|| io::Error::other(format!("no {segment:?} descriptor")))?;
                    match plasma_protocol::fd::send_fd(sock, fd) {
                        Ok(()) => {
                            self.queued -= 1;
                            true
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
            };
            if !done {
                return Ok(());
            }
            self.items.pop_front();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn fds(arena: &UnixStream) -> SegmentFds<'_> {
        SegmentFds {
            arena: arena.as_fd(),
            directory: None,
            holds: None,
        }
    }

    #[test]
    fn frames_and_fd_messages_arrive_in_queue_order() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (arena, _keep) = UnixStream::pair().unwrap();
        let mut q = OutQueue::default();
        q.push_bytes(|v| v.extend_from_slice(b"reply"));
        q.push_fd(Segment::Arena);
        q.push_bytes(|v| v.extend_from_slice(b"next"));
        assert_eq!(q.queued(), 10);
        q.flush(a.as_fd(), fds(&arena)).unwrap();
        assert!(q.is_empty());
        assert_eq!(q.queued(), 0);
        let mut head = [0u8; 5];
        b.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"reply");
        plasma_protocol::fd::recv_fd(b.as_fd()).unwrap();
        let mut tail = [0u8; 4];
        b.read_exact(&mut tail).unwrap();
        assert_eq!(&tail, b"next");
    }

    #[test]
    fn a_full_socket_keeps_the_rest_queued() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (arena, _keep) = UnixStream::pair().unwrap();
        let mut q = OutQueue::default();
        let big = vec![9u8; 8 << 20];
        q.push_bytes(|v| v.extend_from_slice(&big));
        q.flush(a.as_fd(), fds(&arena)).unwrap();
        let left = q.queued();
        assert!(left > 0 && left < big.len() as u64);
        let mut got = vec![0u8; big.len() - left as usize];
        b.read_exact(&mut got).unwrap();
        while !q.is_empty() {
            q.flush(a.as_fd(), fds(&arena)).unwrap();
            let mut chunk = vec![0u8; 1 << 16];
            let n = b.read(&mut chunk).unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        while got.len() < big.len() {
            let mut chunk = vec![0u8; 1 << 16];
            let n = b.read(&mut chunk).unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got, big);
    }

    #[test]
    fn a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = UnixStream::pair().unwrap();
        let (arena, _keep) = UnixStream::pair().unwrap();
        drop(b);
        let mut q = OutQueue::default();
        q.push_bytes(|v| v.extend_from_slice(b"x"));
        assert!(q.flush(a.as_fd(), fds(&arena)).is_err());
    }
}
