//! The digest this client sends at seal time.
//!
//! The store never checks digests; it keeps the 8 bytes and echoes them in
//! List replies and seal notifications (protocol.md §11). This client uses
//! CRC-32 (IEEE) over the data followed by the metadata, widened to `u64`
//! and sent as its 8 little-endian bytes. (pyarrow computes a different,
//! XXH64-based digest, so digests of objects written by pyarrow do not match
//! ours; [`Client::verify`](crate::Client::verify) only makes sense for
//! objects sealed by this client with digests enabled.)

use plasma_protocol::Digest;

/// The digest of an object: CRC-32 of `data` then `metadata`, as the 8
/// little-endian bytes of the `u32` widened to `u64`.
///
/// ```
/// let d = plasma_client::digest(b"hello", b"");
/// assert_eq!(d, [0x86, 0xa6, 0x10, 0x36, 0, 0, 0, 0]); // crc32("hello") = 0x3610a686
/// ```
pub fn digest(data: &[u8], metadata: &[u8]) -> Digest {
    finish(data_hasher(data), metadata)
}

/// The digest state after the data, before the metadata.
pub(crate) type DataHasher = crc32fast::Hasher;

/// Data at least this long is hashed in two halves on two threads.
const PARALLEL_MIN: usize = 8 << 20;

/// CRC-32 state over `data`; large data is split in halves hashed on two
/// threads and combined (CRC-32 combines exactly).
pub(crate) fn data_hasher(data: &[u8]) -> DataHasher {
    if data.len() < PARALLEL_MIN || !helper_runs_beside() {
        return serial_hasher(data);
    }
    let (front, back) = data.split_at(data.len() / 2);
    std::thread::scope(|scope| {
        let helper = scope.spawn(|| serial_hasher(back));
        let mut hasher = serial_hasher(front);
        // A helper that panicked: hash its half here instead.
        let back_hasher = helper.join().unwrap_or_else(|_| serial_hasher(back));
        hasher.combine(&back_hasher);
        hasher
    })
}

/// CRC-32 state over `data`, on this thread only (for a thread that is
/// itself the helper beside another).
pub(crate) fn serial_hasher(data: &[u8]) -> DataHasher {
    let mut hasher = DataHasher::new();
    hasher.update(data);
    hasher
}

/// Whether a helper thread started now could run beside this one: the
/// thread may use two CPUs (its affinity and cgroup quota allow it). A
/// thread pinned to one CPU does the work itself: a helper would only
/// take turns with it (measured: 256 MiB puts 40% slower that way).
pub(crate) fn helper_runs_beside() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// The digest from the state over the data and the metadata.
pub(crate) fn finish(mut data: DataHasher, metadata: &[u8]) -> Digest {
    data.update(metadata);
    u64::from(data.finalize()).to_le_bytes()
}

/// The digest sent when digests are disabled (`ClientOptions::digest = false`).
pub const NO_DIGEST: Digest = [0; 8];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // crc32("123456789") = 0xcbf43926, the standard check value.
        assert_eq!(
            digest(b"123456789", b""),
            [0x26, 0x39, 0xf4, 0xcb, 0, 0, 0, 0]
        );
        assert_eq!(digest(b"", b""), [0; 8]);
    }

    #[test]
    fn large_data_hashed_in_halves_gives_the_same_digest() {
        let data: Vec<u8> = (0..PARALLEL_MIN + 4097)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut whole = crc32fast::Hasher::new();
        whole.update(&data);
        whole.update(b"meta");
        assert_eq!(
            digest(&data, b"meta"),
            u64::from(whole.finalize()).to_le_bytes()
        );
    }

    #[test]
    fn covers_data_then_metadata() {
        assert_eq!(digest(b"1234", b"56789"), digest(b"123456789", b""));
        assert_ne!(digest(b"56789", b"1234"), digest(b"123456789", b""));
        assert_ne!(digest(b"abc", b""), digest(b"abd", b""));
    }
}
