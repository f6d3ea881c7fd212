//! Object ids: exactly 20 opaque bytes (protocol.md §5.1).

use std::fmt;

/// Length of an [`ObjectId`] in bytes.
pub const OBJECT_ID_LEN: usize = 20;

/// A Plasma object id: 20 arbitrary bytes, carried on the wire as a
/// flatbuffers string of length 20.
///
/// ```
/// use plasma_protocol::ObjectId;
/// let id = ObjectId::from_bytes([0x41; 20]);
/// assert_eq!(id.to_string(), "41".repeat(20));
/// assert_eq!(ObjectId::try_from_slice(id.as_bytes()), Some(id));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ObjectId([u8; OBJECT_ID_LEN]);

impl ObjectId {
    /// An id with these exact bytes.
    pub const fn from_bytes(bytes: [u8; OBJECT_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// An id from a slice, if it is exactly 20 bytes long.
    pub fn try_from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; OBJECT_ID_LEN]>::try_from(bytes).ok().map(Self)
    }

    /// A random id from the operating system's generator.
    pub fn random() -> Self {
        let mut bytes = [0u8; OBJECT_ID_LEN];
        // getrandom only fails when the OS has no entropy source at all; fall
        // back to a time- and counter-based id so callers never see a panic.
        if getrandom::getrandom(&mut bytes).is_err() {
            use std::sync::atomic::{AtomicU64, Ordering};
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            bytes[..16].copy_from_slice(&nanos.to_le_bytes());
            let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u32 ^ std::process::id();
            bytes[16..].copy_from_slice(&n.to_le_bytes());
        }
        Self(bytes)
    }

    /// The 20 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; OBJECT_ID_LEN] {
        &self.0
    }

    /// Parses 40 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 2 * OBJECT_ID_LEN {
            return None;
        }
        let mut bytes = [0u8; OBJECT_ID_LEN];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let s = std::str::from_utf8(pair).ok()?;
            bytes[i] = u8::from_str_radix(s, 16).ok()?;
        }
        Some(Self(bytes))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ObjectId::random();
        assert_eq!(ObjectId::from_hex(&id.to_string()), Some(id));
        assert_eq!(ObjectId::from_hex("zz"), None);
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(ObjectId::random(), ObjectId::random());
    }

    #[test]
    fn slice_must_be_20_bytes() {
        assert!(ObjectId::try_from_slice(&[0; 19]).is_none());
        assert!(ObjectId::try_from_slice(&[0; 21]).is_none());
    }
}
