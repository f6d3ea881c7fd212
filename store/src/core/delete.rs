//! Release and Delete (protocol.md §10.8, §10.9).

use plasma_protocol::{ErrorCode, ObjectId, Reply};

use super::table::State;
use super::{ClientId, Outcome, Store, Violation};

impl Store {
    /// Release (§10.8): no reply. At ref_count 0 the object enters the LRU,
    /// or is deleted now if a delete is pending.
    pub(super) fn release(
        &mut self,
        client: ClientId,
        id: ObjectId,
        out: &mut Outcome,
    ) -> Result<(), Violation> {
        let slot = self.table.find(&id).ok_or(Violation::ReleaseNotHeld(id))?;
        if self.unhold(client, slot, out) {
            Ok(())
        } else {
            Err(Violation::ReleaseNotHeld(id))
        }
    }

    /// Delete (§10.9), per id: absent → ObjectNotFound; unsealed →
    /// ObjectNotSealed and deleted once sealed and released; held →
    /// ObjectInUse and deleted on the last release; otherwise removed now
    /// with a deletion notification. An object in the external store is
    /// removed now too (the real store would answer ObjectNotSealed and
    /// keep it until a Get restored and released it).
    pub(super) fn delete(&mut self, client: ClientId, ids: Vec<ObjectId>, out: &mut Outcome) {
        let mut errors = Vec::with_capacity(ids.len());
        for id in &ids {
            let error = match self.table.find(id) {
                None => ErrorCode::ObjectNotFound,
                Some(slot) => {
                    let e = self.table.get_mut(slot);
                    if e.state == State::Created {
                        e.delete_pending = true;
                        ErrorCode::ObjectNotSealed
                    } else if e.ref_count > 0 {
                        e.delete_pending = true;
                        ErrorCode::ObjectInUse
                    } else if !self.may_free(slot) {
                        // A hold-table slot holds it: deleted when no slot
                        // names it any more.
                        self.table.get_mut(slot).delete_pending = true;
                        ErrorCode::ObjectInUse
                    } else {
                        self.counters.deletions += 1;
                        self.remove_object(slot, out);
                        self.notify_deletion(*id, out);
                        ErrorCode::Ok
                    }
                }
            };
            errors.push(error);
        }
        out.reply(client, Reply::Delete { ids, errors });
    }
}
