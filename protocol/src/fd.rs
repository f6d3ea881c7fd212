//! Passing file descriptors over Unix sockets with `SCM_RIGHTS`
//! (protocol.md §6): every descriptor travels alone, in one `sendmsg` with
//! exactly one data byte (0x14, as both real peers send) and one control
//! message holding exactly one fd.
//!
//! Receiving always uses `recvmsg` with a control buffer, so a descriptor
//! that arrives in the middle of ordinary reads is handed over instead of
//! being closed by the kernel; Linux ends such a read right after the
//! fd-carrying byte.

// nix 0.29 hands received descriptors over as `RawFd`; turning them into
// `OwnedFd` is the one unsafe operation here.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// The data byte sent with every descriptor.
pub const FD_BYTE: u8 = 0x14;

/// Linux's limit on descriptors in one `SCM_RIGHTS` message (SCM_MAX_FD).
/// A control buffer with room for this many cannot be truncated by
/// `SCM_RIGHTS`, so no descriptor is ever dropped by the kernel.
const MAX_FDS_PER_MESSAGE: usize = 253;

thread_local! {
    static CMSG_BUF: RefCell<Vec<u8>> = RefCell::new(nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]));
}

/// Sends `fd` over `sock`: one `sendmsg` with exactly one data byte (0x14)
/// and one `SCM_RIGHTS` message, `MSG_NOSIGNAL` (a dead peer gives `EPIPE`,
/// not a signal). Retries `EINTR`; on a non-blocking socket may return
/// `WouldBlock`, in which case nothing was sent.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let data = [FD_BYTE];
    let iov = [IoSlice::new(&data)];
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(1) => return Ok(()),
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "sendmsg passing an fd sent no data byte",
                ))
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `recvmsg` into `buf` with a control buffer (`MSG_CMSG_CLOEXEC`); every
/// descriptor that arrives is pushed to `fds`, none is ever dropped.
/// Returns the number of data bytes read (0 = end of stream, or an empty
/// `buf`). Retries `EINTR`; honours `O_NONBLOCK` (`WouldBlock`).
///
/// The kernel ends the read right after a byte that carries descriptors, so
/// those descriptors belong to the last byte returned.
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    CMSG_BUF.with(|cmsg_buf| {
        let mut cmsg_buf = cmsg_buf.borrow_mut();
        let mut iov = [IoSliceMut::new(buf)];
        let msg = loop {
            match recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_buf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => break msg,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        };
        let bytes = msg.bytes;
        // `cmsgs()` fails only on MSG_CTRUNC, impossible with room for
        // SCM_MAX_FD descriptors and no other control messages enabled.
        let cmsgs = msg.cmsgs().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("recvmsg: control data truncated: {e}"),
            )
        })?;
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                for fd in raw {
                    // SAFETY: the sharing contract in docs/design.md: the
                    // kernel has just installed `fd` in our descriptor table
                    // for this SCM_RIGHTS message; nothing else in the process
                    // knows the number, so this OwnedFd is its only owner and
                    // closes it exactly once.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Ok(bytes)
    })
}

/// Blocking receive of one descriptor message: reads exactly one byte that
/// must carry exactly one descriptor. Anything else is an error
/// (`UnexpectedEof` at end of stream, `InvalidData` otherwise), and every
/// descriptor that did arrive is closed.
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut fds = Vec::with_capacity(1);
    let n = recv_with_fds(sock, &mut byte, &mut fds)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "end of stream while waiting for an fd",
        ));
    }
    match (fds.pop(), fds.is_empty()) {
        (Some(fd), true) => Ok(fd),
        (None, _) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "expected a byte carrying an fd, got a plain byte",
        )),
        (Some(_), false) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "expected one fd, got several",
        )),
    }
}
