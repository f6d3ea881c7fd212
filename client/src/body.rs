//! Where a builder's bytes live until it is sealed.

use std::ops::Range;

use crate::mapping::{Prefault, View, ViewMut};

/// A builder's data followed by its metadata.
#[derive(Debug)]
pub(crate) enum Body {
    /// The object's extent in the store's shared memory (Create, then Seal).
    Shared(ViewMut),
    /// The client's own memory: a small object sent inline at seal (our
    /// `direct` Put, docs/design.md "A put in one round trip").
    Local(Vec<u8>),
}

impl Body {
    /// A local body of `data_len` zero bytes followed by `metadata`.
    pub(crate) fn local(data_len: usize, metadata: &[u8]) -> Body {
        let mut bytes = vec![0u8; data_len + metadata.len()];
        bytes[data_len..].copy_from_slice(metadata);
        Body::Local(bytes)
    }

    /// The bytes, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Body::Shared(v) => v.bytes_mut(),
            Body::Local(b) => b,
        }
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Body::Shared(v) => v.bytes(),
            Body::Local(b) => b,
        }
    }

    /// Pages to fault in ahead of a large copy (shared bodies only).
    pub(crate) fn prefault(&self, within: Range<usize>) -> Option<Prefault> {
        match self {
            Body::Shared(v) => Some(v.prefault(within)),
            Body::Local(_) => None,
        }
    }

    /// The read-only view of a shared body, at seal.
    pub(crate) fn into_view(self) -> Option<View> {
        match self {
            Body::Shared(v) => Some(v.into_view()),
            Body::Local(_) => None,
        }
    }
}
