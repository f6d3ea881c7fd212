//! Copying a caller's bytes into a freshly created object
//! ([`ObjectBuilder::write_data`](crate::ObjectBuilder::write_data) and its
//! async twin).
//!
//! A large copy gets a helper thread, so that the two costs around the copy
//! run beside it instead of after it: the helper first faults in the pages
//! of the destination's second half (`MADV_POPULATE_WRITE`; first-touch
//! faults cost more than the copy here), then computes the seal digest of
//! the source, while this thread copies. Small copies, and copies by a
//! thread that may use only one CPU, are done in line.

use plasma_protocol::Digest;

use crate::body::Body;
use crate::digest::{digest, finish, helper_runs_beside, serial_hasher, DataHasher, NO_DIGEST};
use crate::mapping::Prefault;

/// Copies of at least this many bytes get the helper thread (spawning one
/// costs tens of microseconds; an 8 MiB copy takes about a millisecond).
pub(crate) const PARALLEL_MIN: usize = 8 << 20;

/// Copies `src` into `dst` (same length) while a helper thread runs
/// `prefault` (the destination's second half) and, with `digest`, hashes
/// `src`; returns that digest state (= over `dst` after the copy).
fn copy_beside(dst: &mut [u8], src: &[u8], prefault: Prefault, digest: bool) -> Option<DataHasher> {
    std::thread::scope(|scope| {
        let helper = scope.spawn(move || {
            prefault.run();
            // Serially: the copy already occupies the other CPU.
            digest.then(|| serial_hasher(src))
        });
        dst.copy_from_slice(src);
        // A helper that panicked only loses the precomputed digest: seal
        // computes it again.
        helper.join().ok().flatten()
    })
}

/// `write_data` of both builders: copies `src` into the data part of
/// `view` (which must be exactly `src.len()` bytes long).
///
/// # Panics
///
/// If `src.len()` is not the object's data size, like `copy_from_slice`.
pub(crate) fn write_data(
    view: &mut Body,
    data_len: usize,
    src: &[u8],
    digest: bool,
) -> Option<DataHasher> {
    assert_eq!(
        src.len(),
        data_len,
        "write_data: the object has {data_len} bytes of data, got {}",
        src.len()
    );
    let prefault = (src.len() >= PARALLEL_MIN && helper_runs_beside())
        .then(|| view.prefault(data_len / 2..data_len))
        .flatten();
    let dst = view.bytes_mut().get_mut(..data_len).unwrap_or_default();
    match prefault {
        Some(prefault) => copy_beside(dst, src, prefault, digest),
        None => {
            // In line; a faulting copy costs what an in-line prefault would.
            dst.copy_from_slice(src);
            digest.then(|| serial_hasher(src))
        }
    }
}

/// The digest a builder sends at seal: from the state `write_data` left
/// (if nothing was written since), else computed over the extent now.
pub(crate) fn seal_digest(
    view: &Body,
    data_len: usize,
    written: Option<DataHasher>,
    enabled: bool,
) -> Digest {
    if !enabled {
        return NO_DIGEST;
    }
    let bytes = view.bytes();
    let (data, metadata) = bytes.split_at(data_len.min(bytes.len()));
    match written {
        Some(state) => finish(state, metadata),
        None => digest(data, metadata),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Extent, Mapping};

    fn view(len: usize) -> Body {
        Body::Shared(
            Mapping::of_bytes(&vec![0u8; len])
                .view_mut(Extent {
                    offset: 0,
                    len: len as u64,
                })
                .unwrap(),
        )
    }

    #[test]
    fn written_data_lands_and_its_digest_matches_the_extent() {
        for size in [0usize, 5, PARALLEL_MIN + 12345] {
            let meta = b"meta";
            let mut v = view(size + meta.len());
            v.bytes_mut()[size..].copy_from_slice(meta);
            let src: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let state = write_data(&mut v, size, &src, true);
            assert!(state.is_some());
            assert_eq!(&v.bytes()[..size], &src[..]);
            assert_eq!(
                seal_digest(&v, size, state, true),
                digest(&src, meta),
                "{size}"
            );
            assert_eq!(seal_digest(&v, size, None, true), digest(&src, meta));
            assert_eq!(seal_digest(&v, size, None, false), NO_DIGEST);
        }
    }

    #[test]
    #[should_panic(expected = "write_data")]
    fn a_wrong_length_is_refused() {
        let mut v = view(8);
        write_data(&mut v, 8, b"short", true);
    }
}
