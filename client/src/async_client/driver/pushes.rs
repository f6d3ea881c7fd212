//! The router's Awaits (waiting through our protocol addition, when the
//! store offers it): one Await and one Unawait batch per round from the
//! registration table (`awaits.rs`), and the objects the store pushes for
//! them, with a hold, as ObjectReady.

use plasma_protocol::{ObjectId, Request};

use super::pairing::Expect;
use super::{Driver, MAX_IDS_PER_GET};
use crate::async_client::awaits::Unawaited;
use crate::connection::Answer;
use crate::error::{CallError, ProtocolError};
use crate::replies;

impl Driver {
    /// This round's Await and Unawait batches (in that order: an id
    /// awaited and cancelled within one round is registered, then removed).
    pub(super) fn send_awaits(&mut self) {
        let (awaits, cancels) = self.awaits.take_batches();
        for chunk in awaits.chunks(MAX_IDS_PER_GET) {
            self.stats.awaited_ids += chunk.len() as u64;
            self.encode(&Request::Await {
                ids: chunk.to_vec(),
            });
        }
        for chunk in cancels.chunks(MAX_IDS_PER_GET) {
            let req = Request::Unawait {
                ids: chunk.to_vec(),
            };
            self.send(&req, Expect::Unawait);
        }
    }

    /// The store pushed an awaited object with a hold for us: it resolves
    /// the futures waiting for it.
    pub(super) fn on_pushed(&mut self, answer: &Answer) -> Result<(), CallError> {
        let (id, view, data_len) = replies::pushed_view(answer)?;
        if !self.awaits.pushed(id) {
            return Err(ProtocolError::Mismatch("pushed an object we did not await").into());
        }
        self.stats.pushed += 1;
        // The push's hold is one new holder: a Release deferred meanwhile
        // is not sent (settle), the hold carries on.
        self.holds.acquire(id);
        self.holds.settle(id);
        self.resolve_waiters(id, view, data_len);
        self.woke = true;
        Ok(())
    }

    /// An Unawait reply: registrations it removed are over, or awaited
    /// again if a future wants them since.
    pub(super) fn on_unawaited(&mut self, removed: &[ObjectId]) {
        for outcome in self.awaits.unawaited(removed) {
            if let Unawaited::Finished(id) = outcome {
                if self.holds.settle(id) {
                    self.send_release(id);
                }
            }
        }
    }
}
