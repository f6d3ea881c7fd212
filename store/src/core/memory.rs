//! The store's own view of the arena bytes.
//!
//! The core never maps anything itself: the daemon hands it an
//! [`ArenaMemory`] over its mapping of the segment, tests hand it a
//! [`VecMemory`]. The core only touches object bytes for create-and-seal
//! (copying the inline data in) and for the external store (copying an
//! evicted object out and back).

/// Byte access to the arena the allocator carves up.
///
/// Offsets are relative to the start of the segment. The core only passes
/// ranges inside `[0, len())`; implementations must still not panic on a
/// range outside it (ignore the write, return a shorter slice).
pub trait ArenaMemory: Send {
    /// Length of the arena in bytes.
    fn len(&self) -> u64;

    /// Whether the arena has no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `bytes` into the arena at `offset`.
    fn write(&mut self, offset: u64, bytes: &[u8]);

    /// A copy of the `len` bytes at `offset`. A copy, never a view: the
    /// arena is memory that clients map writable, so a reference into it
    /// could change under the store (a client breaking the sharing
    /// contract, or an extent reused while the borrow lives).
    fn read(&self, offset: u64, len: u64) -> Vec<u8>;
}

/// An arena held in an ordinary `Vec`, for tests and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct VecMemory(Vec<u8>);

impl VecMemory {
    /// A zero-filled arena of `len` bytes.
    pub fn new(len: usize) -> Self {
        Self(vec![0; len])
    }

    /// All bytes of the arena.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// `offset..offset + len` clipped to `0..total`, as `usize`s.
fn clip(offset: u64, len: u64, total: usize) -> std::ops::Range<usize> {
    let total = total as u64;
    let start = offset.min(total);
    let end = offset.saturating_add(len).min(total);
    // Both values are at most `total`, which came from a usize.
    start as usize..end as usize
}

impl ArenaMemory for VecMemory {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let range = clip(offset, bytes.len() as u64, self.0.len());
        let n = range.len();
        if let (Some(dst), Some(src)) = (self.0.get_mut(range), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
    }

    fn read(&self, offset: u64, len: u64) -> Vec<u8> {
        self.0
            .get(clip(offset, len, self.0.len()))
            .unwrap_or(&[])
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trips() {
        let mut m = VecMemory::new(128);
        m.write(64, b"hello");
        assert_eq!(m.read(64, 5), b"hello");
        assert_eq!(m.read(63, 2), [0, b'h']);
        assert_eq!(m.len(), 128);
    }

    #[test]
    fn out_of_range_access_is_clipped_not_a_panic() {
        let mut m = VecMemory::new(8);
        m.write(6, b"abcd");
        assert_eq!(m.read(0, 8), [0, 0, 0, 0, 0, 0, b'a', b'b']);
        assert_eq!(m.read(100, 5), b"");
        assert_eq!(m.read(u64::MAX, u64::MAX), b"");
        m.write(u64::MAX, b"x");
    }
}
