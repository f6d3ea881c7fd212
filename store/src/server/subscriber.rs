//! A notification socket handed over by a client (protocol.md §9), with the
//! messages it has not accepted yet.
//!
//! Every message goes out with one `send` when the socket has room for it;
//! only a message the kernel split leaves a remainder, which goes first
//! when the socket is writable again.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use super::output::send_nosignal;

/// A subscribed client's notification socket and its backlog.
#[derive(Debug)]
pub struct Subscriber {
    fd: OwnedFd,
    queue: VecDeque<(Vec<u8>, usize)>,
    queued: u64,
    /// Registered for writable events (only while a backlog waits).
    pub write_interest: bool,
    /// The first queued notification meant for it (see `slices.rs`).
    pub since: u64,
}

impl Subscriber {
    /// Takes over `fd`, made non-blocking; it receives the notifications
    /// queued from sequence number `since` on.
    pub fn new(fd: OwnedFd, since: u64) -> io::Result<Self> {
        let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
        Ok(Subscriber {
            fd,
            queue: VecDeque::new(),
            queued: 0,
            write_interest: false,
            since,
        })
    }

    /// The raw descriptor, for (de)registration with the poller.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Bytes waiting to be sent.
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// Queues one complete message (length prefix and body).
    pub fn push(&mut self, message: Vec<u8>) {
        self.queued += message.len() as u64;
        self.queue.push_back((message, 0));
    }

    /// Sends queued messages, one `send` each, until the socket is full.
    /// `Err` when the peer is gone (the subscriber is then closed).
    pub fn flush(&mut self) -> io::Result<()> {
        let sock: BorrowedFd<'_> = self.fd.as_fd();
        while let Some((msg, sent)) = self.queue.front_mut() {
            match send_nosignal(sock, &msg[*sent..]) {
                Ok(n) => {
                    *sent += n;
                    self.queued -= n as u64;
                    if *sent < msg.len() {
                        return Ok(());
                    }
                    self.queue.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    #[test]
    fn each_message_arrives_whole_and_a_backlog_waits_for_room() {
        let (store_end, mut client_end) = UnixStream::pair().unwrap();
        let mut s = Subscriber::new(OwnedFd::from(store_end), 0).unwrap();
        let msg = vec![5u8; 1000];
        // Far more than a socket buffer holds.
        for _ in 0..2000 {
            s.push(msg.clone());
        }
        s.flush().unwrap();
        assert!(s.queued() > 0, "the socket should have filled up");
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        client_end.set_nonblocking(true).unwrap();
        while total < 2000 * 1000 {
            match client_end.read(&mut buf) {
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.flush().unwrap(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn a_closed_reader_makes_flush_fail() {
        let (store_end, client_end) = UnixStream::pair().unwrap();
        let mut s = Subscriber::new(OwnedFd::from(store_end), 0).unwrap();
        drop(client_end);
        s.push(vec![1, 2, 3]);
        assert!(s.flush().is_err());
    }
}
