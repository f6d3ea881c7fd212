//! The shared-memory side of our `direct` capability (docs/design.md,
//! "Fewer hand-overs"): the layout of the store's directory of sealed objects
//! and of a connection's hold table, the directory lookup clients do, the
//! directory updates the store does, and the hold-table operations of both.
//!
//! Everything here works on `&[AtomicU64]`, a view of a mapped segment the
//! caller's one mapping module made; nothing here maps memory or has
//! `unsafe`. Every index derived from a segment's content is checked against
//! the view's length, so a corrupt or hostile segment can give wrong answers
//! but never an out-of-bounds access.

mod directory;
mod holds;
mod layout;
#[cfg(test)]
mod model;

pub use directory::{Directory, DirectoryWriter, Published, Snapshot};
pub use holds::{HoldRecord, HoldTable};
pub use layout::{
    id_hash, pack_hold, unpack_hold, DirectoryGeometry, HoldsGeometry, LayoutError, HOLD_NONE,
    MAX_PROBES,
};
