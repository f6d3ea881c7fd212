//! A socket as the driver polls it: registered with tokio's reactor for
//! readability only, plus a second registration for writability that
//! exists only while written bytes wait for room.
//!
//! Why not `tokio::net::UnixStream`: it registers for both, and with
//! writable interest registered every request the store reads signals
//! write space on our socket and wakes the reactor for nothing (on a
//! virtual machine, a cross-CPU wake-up per request).
//!
//! The stream itself is shared (an `Arc`) with every [`Tether`], so a
//! connection can outlive the driver that reads it: see [`Tether`].
//!
//! tokio's registration with a chosen interest is an `unsafe fn` (its
//! contract: the descriptor stays open and the same while registered);
//! the two calls below are this crate's only unsafe code outside `mapping`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A non-blocking Unix stream socket driven by readiness.
pub(crate) struct Socket {
    read: AsyncFd<Arc<UnixStream>>,
    /// A duplicate descriptor registered for writability while a write
    /// waits (an epoll registration is per descriptor, so this one can
    /// come and go without touching the readable one).
    write: Option<AsyncFd<OwnedFd>>,
}

impl Socket {
    /// Takes over a tokio stream (deregistering it from tokio's own
    /// registration).
    pub(crate) fn from_tokio(stream: tokio::net::UnixStream) -> io::Result<Self> {
        Self::from_std(stream.into_std()?)
    }

    /// Takes over a standard stream, made non-blocking.
    pub(crate) fn from_std(stream: UnixStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        // SAFETY: descriptor ownership, docs/design.md: the AsyncFd owns one
        // `Arc` of `stream`, whose descriptor is closed only when the last
        // `Arc` goes, so it stays open and unchanged at least until the
        // AsyncFd (which deregisters first) drops its own.
        let read =
            unsafe { AsyncFd::register_with_interest(Arc::new(stream), Interest::READABLE) }?;
        Ok(Self { read, write: None })
    }

    /// A handle that keeps this socket open for as long as it lives.
    pub(crate) fn tether(&self) -> Tether {
        Tether {
            _stream: Arc::clone(self.read.get_ref()),
        }
    }

    /// The descriptor, for the syscalls themselves.
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.get_ref().as_fd()
    }

    /// Waits until the socket may be readable. The readiness stays set
    /// until a read finds nothing.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.read.readable().await.map(|_| ())
    }

    /// Waits until a waiting write may go on; never resolves while no
    /// write waits.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match &self.write {
            Some(w) => w.writable().await.map(|_| ()),
            None => std::future::pending().await,
        }
    }

    /// Runs the non-blocking read `f`: at once with `eager` (picks up data
    /// that arrived since the reactor last looked), else only if the
    /// reactor has seen the socket readable. A `WouldBlock` clears that
    /// readiness.
    pub(crate) fn try_read<T>(
        &self,
        eager: bool,
        mut f: impl FnMut(BorrowedFd<'_>) -> io::Result<T>,
    ) -> io::Result<T> {
        if eager {
            match f(self.as_fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return result,
            }
        }
        self.read.try_io(Interest::READABLE, |s| f(s.as_fd()))
    }

    /// Runs the non-blocking write `f` (sockets nearly always have room);
    /// on `WouldBlock`, starts watching for writability.
    pub(crate) fn try_write<T>(
        &mut self,
        mut f: impl FnMut(BorrowedFd<'_>) -> io::Result<T>,
    ) -> io::Result<T> {
        match f(self.as_fd()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            result => return result,
        }
        if self.write.is_none() {
            let dup = self.as_fd().try_clone_to_owned()?;
            // SAFETY: descriptor ownership, docs/design.md: the AsyncFd owns
            // `dup`, a descriptor of its own that nothing else closes.
            let write = unsafe { AsyncFd::register_with_interest(dup, Interest::WRITABLE) }?;
            self.write = Some(write);
        }
        match &self.write {
            Some(w) => w.try_io(Interest::WRITABLE, |d| f(d.as_fd())),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Nothing waits to be written any more: stop watching writability.
    pub(crate) fn drained(&mut self) {
        self.write = None;
    }
}

/// Keeps a connection's socket open without reading or writing it.
///
/// The store ends a client's holds, and erases the objects it has not
/// sealed, when the client's connection ends (docs/design.md, the sharing
/// contract). So every view into memory lent over a connection holds a
/// tether of that connection's socket: the socket closes only when the
/// driver has stopped *and* the last such view is gone, whatever stopped
/// the driver (a failed connection, a runtime shut down).
#[derive(Clone, Debug)]
pub(crate) struct Tether {
    _stream: Arc<UnixStream>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recv, send, MsgFlags};
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    #[tokio::test(flavor = "current_thread")]
    async fn reads_what_arrives_and_writes_through_a_full_socket() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let mut sock = Socket::from_std(ours).unwrap();
        theirs.write_all(b"ping").unwrap();
        sock.readable().await.unwrap();
        let mut buf = [0u8; 8];
        let n = sock
            .try_read(false, |fd| {
                recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)
            })
            .unwrap();
        assert_eq!(&buf[..n], b"ping");

        // Fill the socket until a write would block: the writable watch
        // starts, and resolves once the peer has read.
        let chunk = vec![7u8; 64 << 10];
        let mut written = 0usize;
        loop {
            let sent = sock.try_write(|fd| {
                send(fd.as_raw_fd(), &chunk, MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)
            });
            match sent {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(sock.write.is_some());
        let reader = std::thread::spawn(move || {
            let mut sink = vec![0u8; written];
            theirs.read_exact(&mut sink).unwrap();
        });
        sock.writable().await.unwrap();
        reader.join().unwrap();
        sock.drained();
        assert!(sock.write.is_none());
    }
}
