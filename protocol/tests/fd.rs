//! Descriptor passing over real socket pairs (protocol.md §6).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use plasma_protocol::fd::{recv_fd, recv_with_fds, send_fd, FD_BYTE};

/// Writes through `fd` (a pipe's write end) and reads it back from `rx`.
fn assert_is_write_end_of(fd: OwnedFd, rx: OwnedFd) {
    let mut w = std::fs::File::from(fd);
    w.write_all(b"through the passed fd").unwrap();
    drop(w);
    let mut got = String::new();
    std::fs::File::from(rx).read_to_string(&mut got).unwrap();
    assert_eq!(got, "through the passed fd");
}

#[test]
fn an_fd_sent_is_the_fd_received() {
    let (a, b) = UnixStream::pair().unwrap();
    let (rx, tx) = nix::unistd::pipe().unwrap();
    send_fd(a.as_fd(), tx.as_fd()).unwrap();
    drop(tx); // the receiver's copy keeps the pipe open
    let got = recv_fd(b.as_fd()).unwrap();
    assert_is_write_end_of(got, rx);
}

#[test]
fn the_fd_message_is_exactly_one_byte() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let (_rx, tx) = nix::unistd::pipe().unwrap();
    send_fd(a.as_fd(), tx.as_fd()).unwrap();
    drop(a);
    // A plain read sees the data byte alone (the kernel closes the fd).
    let mut all = Vec::new();
    b.read_to_end(&mut all).unwrap();
    assert_eq!(all, [FD_BYTE]);
}

#[test]
fn a_large_read_stops_after_the_fd_byte_and_delivers_the_fd() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let (rx, tx) = nix::unistd::pipe().unwrap();
    a.write_all(b"hello").unwrap();
    send_fd(a.as_fd(), tx.as_fd()).unwrap();
    drop(tx);
    a.write_all(b"world").unwrap();

    let mut buf = [0u8; 4096];
    let mut fds = Vec::new();
    let n = recv_with_fds(b.as_fd(), &mut buf, &mut fds).unwrap();
    assert_eq!(&buf[..n], b"hello\x14");
    assert_eq!(fds.len(), 1);

    let n = recv_with_fds(b.as_fd(), &mut buf, &mut fds).unwrap();
    assert_eq!(&buf[..n], b"world");
    assert_eq!(fds.len(), 1, "no new fd with plain data");

    drop(a);
    assert_eq!(recv_with_fds(b.as_fd(), &mut buf, &mut fds).unwrap(), 0);
    assert_is_write_end_of(fds.pop().unwrap(), rx);
}

#[test]
fn received_fds_are_close_on_exec() {
    let (a, b) = UnixStream::pair().unwrap();
    let (_rx, tx) = nix::unistd::pipe().unwrap();
    send_fd(a.as_fd(), tx.as_fd()).unwrap();
    let got = recv_fd(b.as_fd()).unwrap();
    let flags = nix::fcntl::fcntl(got.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFD).unwrap();
    assert_ne!(flags & libc::FD_CLOEXEC, 0);
}

#[test]
fn several_fds_in_one_message_all_arrive() {
    let (a, b) = UnixStream::pair().unwrap();
    let pipes: Vec<_> = (0..3).map(|_| nix::unistd::pipe().unwrap()).collect();
    let raw: Vec<_> = pipes.iter().map(|(_, tx)| tx.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let iov = [std::io::IoSlice::new(&[FD_BYTE])];
    sendmsg::<()>(a.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).unwrap();

    let mut buf = [0u8; 16];
    let mut fds = Vec::new();
    assert_eq!(recv_with_fds(b.as_fd(), &mut buf, &mut fds).unwrap(), 1);
    assert_eq!(fds.len(), 3);
}

#[test]
fn recv_fd_rejects_anything_but_one_byte_with_one_fd() {
    // Several fds: an error, and the fds are not leaked to the caller.
    let (a, b) = UnixStream::pair().unwrap();
    let (_r1, t1) = nix::unistd::pipe().unwrap();
    let (_r2, t2) = nix::unistd::pipe().unwrap();
    let raw = [t1.as_raw_fd(), t2.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let iov = [std::io::IoSlice::new(&[FD_BYTE])];
    sendmsg::<()>(a.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).unwrap();
    assert_eq!(
        recv_fd(b.as_fd()).unwrap_err().kind(),
        ErrorKind::InvalidData
    );

    // A plain byte.
    (&a).write_all(&[FD_BYTE]).unwrap();
    assert_eq!(
        recv_fd(b.as_fd()).unwrap_err().kind(),
        ErrorKind::InvalidData
    );

    // End of stream.
    drop(a);
    assert_eq!(
        recv_fd(b.as_fd()).unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
}

#[test]
fn nonblocking_sockets_report_would_block() {
    let (_a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8];
    let mut fds = Vec::new();
    let err = recv_with_fds(b.as_fd(), &mut buf, &mut fds).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert!(fds.is_empty());
}

#[test]
fn sending_to_a_closed_peer_is_an_error_not_a_signal() {
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    let (_rx, tx) = nix::unistd::pipe().unwrap();
    let err = send_fd(a.as_fd(), tx.as_fd()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}
