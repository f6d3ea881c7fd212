//! A connection's receive side: bytes read but not yet handled, and the
//! descriptors that arrived with them, each pinned to the byte that carried it.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use plasma_protocol::HEADER_LEN;

/// Free space offered to one `recvmsg` by a quiet connection, and the most
/// an idle connection keeps.
const SMALL_SPARE: usize = 4 << 10;
/// Free space offered to one `recvmsg` by a connection whose reads keep
/// filling what they are offered (pipelined requests): doubled per full
/// read up to this.
pub const LARGE_SPARE: usize = 64 << 10;
/// A buffer larger than this is released as soon as it is drained.
const KEEP_IDLE: usize = 1 << 20;

/// What follows the handled bytes, when a descriptor is expected there.
#[derive(Debug)]
pub enum HeadFd {
    /// The next byte has not arrived yet.
    NoByte,
    /// The next byte arrived without a descriptor.
    Missing,
    /// The next byte carried this descriptor (the byte is consumed).
    Fd(OwnedFd),
}

/// Received, unhandled bytes (`buf[start..end]`) and their descriptors.
///
/// `buf` is kept initialised up to its length, so reads go straight into
/// it without zeroing the space again.
#[derive(Debug)]
pub struct InBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    base: u64,
    /// Descriptors with the stream offset of the byte that carried them.
    fds: VecDeque<(u64, OwnedFd)>,
    scratch_fds: Vec<OwnedFd>,
    /// Free space the next read is offered when no frame needs more.
    spare: usize,
}

impl Default for InBuf {
    fn default() -> Self {
        InBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            fds: VecDeque::new(),
            scratch_fds: Vec::new(),
            spare: SMALL_SPARE,
        }
    }
}

impl InBuf {
    /// Bytes of memory the buffer holds.
    pub fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// What [`InBuf::allocated`] would be after a [`InBuf::read_from`] with
    /// this `want`.
    pub fn allocated_after_read(&self, want: usize) -> usize {
        let (held, spare) = self.room_for(want);
        if self.buf.len() - self.end >= spare {
            self.buf.len()
        } else {
            self.buf.len().max(held + spare)
        }
    }

    /// Gives back the memory of a drained buffer beyond a few KiB: called
    /// when the socket has nothing more to read, so an idle connection
    /// costs little.
    pub fn shrink_when_idle(&mut self) {
        self.spare = SMALL_SPARE;
        if self.start == self.end && self.buf.len() > SMALL_SPARE {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// The unhandled bytes.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Stream offset of the first unhandled byte.
    pub fn head_offset(&self) -> u64 {
        self.base
    }

    /// Marks `n` bytes handled; descriptors carried by them are closed.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.base += n as u64;
        while self.fds.front().is_some_and(|(pos, _)| *pos < self.base) {
            tracing::debug!("closing a descriptor that arrived with frame bytes");
            self.fds.pop_front();
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > KEEP_IDLE {
                self.buf = Vec::new();
            }
        }
    }

    /// Takes the byte at the head if it carried a descriptor.
    pub fn take_head_fd(&mut self) -> HeadFd {
        if self.start == self.end {
            return HeadFd::NoByte;
        }
        let fd = match self.fds.front() {
            Some((pos, _)) if *pos == self.base => self.fds.pop_front().map(|(_, fd)| fd),
            _ => None,
        };
        match fd {
            Some(fd) => {
                self.consume(1);
                HeadFd::Fd(fd)
            }
            None => HeadFd::Missing,
        }
    }

    /// The memory this buffer holds or is about to need: its allocation, or
    /// the whole head frame while that frame is still arriving (what the
    /// input budget reserves for it).
    pub fn footprint(&self) -> usize {
        let incomplete_frame = match self.head_frame_missing() {
            Some(missing) if missing > 0 => missing + self.pending().len(),
            _ => 0,
        };
        self.buf.len().max(incomplete_frame)
    }

    /// Bytes still missing for the frame at the head, if its header is here.
    pub fn head_frame_missing(&self) -> Option<usize> {
        let p = self.pending();
        let header = p.get(16..HEADER_LEN)?;
        let len = u64::from_le_bytes(header.try_into().ok()?);
        let total = usize::try_from(len).ok()?.checked_add(HEADER_LEN)?;
        Some(total.saturating_sub(p.len()))
    }

    /// One `recvmsg` into the buffer; `want` hints how many bytes the head
    /// frame still lacks. Returns the bytes read (0 = EOF) and whether the
    /// socket was left empty: a read shorter than the room offered, with no
    /// descriptor (Linux ends a stream read early only at a descriptor or
    /// an empty queue), so the next bytes will raise a new readiness edge.
    pub fn read_from(&mut self, sock: BorrowedFd<'_>, want: usize) -> io::Result<(usize, bool)> {
        self.make_room(want);
        let offered = self.buf.len() - self.end;
        self.scratch_fds.clear();
        let room = self.buf.len() - self.end;
        let n = plasma_protocol::fd::recv_with_fds(
            sock,
            &mut self.buf[self.end..],
            &mut self.scratch_fds,
        )?;
        if n == 0 {
            // Descriptors without bytes cannot be placed: close them.
            self.scratch_fds.clear();
            return Ok((0, false));
        }
        let drained = n < room && self.scratch_fds.is_empty();
        self.end += n;
        if n == offered {
            self.spare = (self.spare * 2).min(LARGE_SPARE);
        }
        // Linux ends a read right after the byte that carries descriptors.
        let carrier = self.base + (self.end - self.start) as u64 - 1;
        for fd in self.scratch_fds.drain(..) {
            self.fds.push_back((carrier, fd));
        }
        Ok((n, drained))
    }

    /// Bytes held, and free space wanted after them for a read: the current
    /// spare (4 to 64 KiB), more when the head frame needs it, growing at
    /// most by the amount already buffered so a header alone cannot make
    /// us allocate a huge buffer.
    fn room_for(&self, want: usize) -> (usize, usize) {
        let held = self.end - self.start;
        (held, want.clamp(self.spare, self.spare.max(held)))
    }

    /// Ensures the free space [`InBuf::room_for`] asks for after `end`.
    fn make_room(&mut self, want: usize) {
        let (held, spare_wanted) = self.room_for(want);
        if self.buf.len() - self.end >= spare_wanted {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = held;
        }
        if self.buf.len() - self.end < spare_wanted {
            self.buf.resize(self.end + spare_wanted, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn bytes_are_kept_between_reads_and_consumed_in_order() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut input = InBuf::default();
        a.write_all(b"hello").unwrap();
        assert_eq!(input.read_from(b.as_fd(), 0).unwrap(), (5, true), "drained");
        a.write_all(b" world").unwrap();
        assert_eq!(input.read_from(b.as_fd(), 0).unwrap(), (6, true));
        assert_eq!(input.pending(), b"hello world");
        input.consume(6);
        assert_eq!(input.pending(), b"world");
        assert_eq!(input.head_offset(), 6);
        drop(a);
        assert_eq!(input.read_from(b.as_fd(), 0).unwrap(), (0, false));
    }

    #[test]
    fn a_read_that_fills_the_room_or_stops_at_a_descriptor_is_not_drained() {
        let (mut a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut input = InBuf::default();
        a.write_all(&vec![1u8; 200_000]).unwrap();
        let (n, drained) = input.read_from(b.as_fd(), 0).unwrap();
        assert!(!drained, "{n} bytes filled the room; more wait");
        let (passed, _keep) = UnixStream::pair().unwrap();
        while input.read_from(b.as_fd(), 0).is_ok() {}
        a.write_all(b"x").unwrap();
        plasma_protocol::fd::send_fd(a.as_fd(), passed.as_fd()).unwrap();
        a.write_all(b"more").unwrap();
        let mut reads = Vec::new();
        while let Ok(r) = input.read_from(b.as_fd(), 0) {
            reads.push(r);
        }
        assert_eq!(
            reads.first(),
            Some(&(2, false)),
            "{reads:?}: stops after the fd"
        );
    }

    #[test]
    fn descriptor_is_found_on_the_byte_that_carried_it() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (passed, _keep) = UnixStream::pair().unwrap();
        let mut input = InBuf::default();
        a.write_all(b"frame").unwrap();
        plasma_protocol::fd::send_fd(a.as_fd(), passed.as_fd()).unwrap();
        a.write_all(b"next").unwrap();
        while input.pending().len() < 10 {
            input.read_from(b.as_fd(), 0).unwrap();
        }
        assert!(matches!(input.take_head_fd(), HeadFd::Missing));
        input.consume(5);
        assert!(matches!(input.take_head_fd(), HeadFd::Fd(_)));
        assert_eq!(input.pending(), b"next");
        input.consume(4);
        assert!(matches!(input.take_head_fd(), HeadFd::NoByte));
    }

    #[test]
    fn an_idle_buffer_keeps_a_few_kib_and_a_busy_one_grows_its_reads() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut input = InBuf::default();
        a.write_all(&[1; 100]).unwrap();
        input.read_from(b.as_fd(), 0).unwrap();
        assert_eq!(input.allocated(), SMALL_SPARE);
        // Reads that fill what they are offered double the next offer.
        a.write_all(&[2; 100_000]).unwrap();
        while input.pending().len() < 100_100 {
            input.read_from(b.as_fd(), 0).unwrap();
        }
        assert!(input.allocated() > LARGE_SPARE);
        input.consume(100_100);
        input.shrink_when_idle();
        assert_eq!(input.allocated(), 0);
        a.write_all(&[3; 10]).unwrap();
        assert_eq!(input.allocated_after_read(0), SMALL_SPARE);
        input.read_from(b.as_fd(), 0).unwrap();
        assert_eq!(input.allocated(), SMALL_SPARE);
    }

    #[test]
    fn head_frame_length_is_read_from_the_header() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut input = InBuf::default();
        let mut header = [0u8; 24];
        header[16..24].copy_from_slice(&100u64.to_le_bytes());
        a.write_all(&header[..20]).unwrap();
        input.read_from(b.as_fd(), 0).unwrap();
        assert_eq!(input.head_frame_missing(), None);
        a.write_all(&header[20..]).unwrap();
        a.write_all(&[7; 30]).unwrap();
        while input.pending().len() < 54 {
            input.read_from(b.as_fd(), 0).unwrap();
        }
        assert_eq!(input.head_frame_missing(), Some(70));
    }
}
