//! The loop's part of our `direct` capability: making a connection's hold
//! table (a memfd) when it asks to attach. The core decides everything else.

use plasma_protocol::direct::HoldsGeometry;

use super::event_loop::EventLoop;
use crate::arena::{create_words, SegmentKind};
use crate::core::ClientId;

impl EventLoop {
    /// Before an AttachRequest reaches the core: gives `id` a hold table,
    /// if the store offers `direct` and `id` has none. On failure the core
    /// answers OutOfMemory and the client goes on without one.
    pub(super) fn make_hold_table(&mut self, id: ClientId) {
        if !self.store.direct_enabled() || self.store.has_holds(id) {
            return;
        }
        let (fd, mapping) = match create_words(SegmentKind::Holds, HoldsGeometry::DEFAULT.words()) {
            Ok(made) => made,
            Err(e) => {
                tracing::warn!(client = id, "cannot make a hold table: {e}");
                return;
            }
        };
        if let Err(e) = self.store.attach_holds(id, Box::new(mapping)) {
            tracing::warn!(client = id, "cannot lay out a hold table: {e}");
            return;
        }
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.holds = Some(fd);
        }
    }
}
