//! Unique object ids without a system call per id: a random prefix per
//! generator, then a counter.

use plasma_client::ObjectId;

/// Hands out distinct ids.
pub struct IdGen {
    prefix: [u8; 12],
    next: u64,
}

impl IdGen {
    /// A generator with a fresh random prefix.
    pub fn new() -> IdGen {
        let mut prefix = [0u8; 12];
        prefix.copy_from_slice(&ObjectId::random().as_bytes()[..12]);
        IdGen { prefix, next: 0 }
    }

    /// The next id.
    pub fn next_id(&mut self) -> ObjectId {
        let mut bytes = [0u8; 20];
        bytes[..12].copy_from_slice(&self.prefix);
        bytes[12..].copy_from_slice(&self.next.to_le_bytes());
        self.next += 1;
        ObjectId::from_bytes(bytes)
    }
}

/// `size` bytes of a fixed pattern, every page written (faulted in).
pub fn pattern(size: u64) -> Vec<u8> {
    (0..size).map(|i| (i.wrapping_mul(31) + 7) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_within_and_across_generators() {
        let mut a = IdGen::new();
        let mut b = IdGen::new();
        let ids: std::collections::HashSet<_> =
            (0..1000).flat_map(|_| [a.next_id(), b.next_id()]).collect();
        assert_eq!(ids.len(), 2000);
    }

    #[test]
    fn pattern_has_the_size_asked_for() {
        assert_eq!(pattern(0).len(), 0);
        let p = pattern(300);
        assert_eq!(p.len(), 300);
        assert_ne!(p[0], p[1]);
    }
}
