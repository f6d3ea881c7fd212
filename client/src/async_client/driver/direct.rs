//! Our `direct` capability in the driver (docs/design.md, "Fewer
//! hand-overs"): attaching at connect, the Put of a local builder and the
//! buffer it becomes, and HoldsChanged. Direct gets themselves happen in the
//! caller's task, without the driver (`AsyncClient::try_get`).

use std::sync::Arc;

use plasma_protocol::{Digest, ErrorCode, ObjectId, PutHold, Reply, Request};

use super::pairing::Expect;
use super::Driver;
use crate::async_client::command::{Attached, ReplyTo};
use crate::connection::Answer;
use crate::direct::{put_request, put_view, Direct, DirectHold, Taken};
use crate::error::{CallError, ProtocolError, SealError};
use crate::{replies, ObjectBuffer};

impl Driver {
    /// Sends an AttachRequest.
    pub(super) fn send_attach(&mut self, reply: ReplyTo<Result<Attached, CallError>>) {
        self.send(&Request::Attach, Expect::Attach { reply });
    }

    /// The AttachReply: maps the segments that followed it.
    pub(super) fn on_attached(
        &mut self,
        mut answer: Answer,
        reply: ReplyTo<Result<Attached, CallError>>,
    ) -> Result<(), CallError> {
        let Reply::Attach {
            error, store_fd, ..
        } = answer.reply
        else {
            return Err(ProtocolError::Mismatch("not an attach reply").into());
        };
        if error != ErrorCode::Ok {
            let _ = reply.send(Ok(None));
            return Ok(());
        }
        let arena = Arc::clone(answer.segment(store_fd)?);
        let (Some(holds), Some(directory)) = (answer.extra_fds.pop(), answer.extra_fds.pop())
        else {
            return Err(ProtocolError::MissingFd.into());
        };
        let attached = match (Direct::new(arena, &directory, &holds), self.link()) {
            (Ok(direct), Some(link)) => {
                let direct = Arc::new(direct);
                self.direct = Some(Arc::clone(&direct));
                Some((direct, link))
            }
            (Err(e), _) => {
                tracing::debug!(error = %e, "direct segments unusable; going on without");
                None
            }
            (Ok(_), None) => None,
        };
        let _ = reply.send(Ok(attached));
        Ok(())
    }

    /// Sends the PutRequest of a local builder, naming a free slot of the
    /// hold table when there is one.
    pub(super) fn send_put(
        &mut self,
        id: ObjectId,
        bytes: &[u8],
        data_len: usize,
        digest: Digest,
        reply: ReplyTo<Result<ObjectBuffer, SealError>>,
    ) {
        let slot = self.direct.as_ref().and_then(|d| d.reserve_slot());
        let req = put_request(id, bytes, data_len, digest, slot);
        let expect = Expect::Put {
            id,
            data_len: data_len.min(bytes.len()),
            metadata_len: bytes.len().saturating_sub(data_len),
            slot,
            reply,
        };
        self.send(&req, expect);
    }

    /// The PutReply: the buffer, held through the slot or the socket.
    pub(super) fn on_put(
        &mut self,
        answer: &Answer,
        id: ObjectId,
        (data_len, metadata_len): (usize, usize),
        slot: Option<u32>,
        reply: ReplyTo<Result<ObjectBuffer, SealError>>,
    ) -> Result<(), CallError> {
        let unreserve = |d: &Option<Arc<Direct>>| {
            if let (Some(d), Some(s)) = (d, slot) {
                d.unreserve_slot(s);
            }
        };
        let put = match replies::put_result(id, data_len, metadata_len, &answer.reply) {
            Ok(put) => put,
            Err(SealError::Protocol(p)) => {
                let _ = reply.send(Err(SealError::Protocol(ProtocolError::Mismatch(
                    "bad put reply",
                ))));
                return Err(p.into());
            }
            Err(e) => {
                unreserve(&self.direct);
                let _ = reply.send(Err(e));
                return Ok(());
            }
        };
        let (view, data_len) = put_view(answer, &put.object)?;
        let link = self.link();
        let made = match (put.hold, slot, self.direct.clone(), link) {
            (PutHold::Slot, Some(slot), Some(direct), Some(link)) => {
                let taken = Taken {
                    view,
                    data_len,
                    slot,
                    entry: put.entry,
                    gen: put.gen,
                };
                Some(DirectHold::buffer(&direct, &link, id, taken))
            }
            (PutHold::Slot, ..) => None,
            _ => {
                unreserve(&self.direct);
                self.holds.acquire(id);
                self.hook()
                    .map(|hook| ObjectBuffer::new(id, view, data_len, hook))
            }
        };
        let _ = reply.send(made.ok_or(SealError::Disconnected));
        Ok(())
    }
}
