//! Replies and the requests they answer. The protocol has no request ids:
//! replies come back strictly in request order, so the driver keeps an
//! [`Expect`] per request written, in order, and pairs each reply read with
//! the oldest. The one unsolicited message, our ObjectReady push, goes to
//! `pushes.rs`.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use plasma_protocol::{ErrorCode, MessageType, ObjectId, Reply};

use super::{Driver, READS_PER_ROUND};
use crate::async_client::builder::AsyncObjectBuilder;
use crate::async_client::command::ReplyTo;
use crate::connection::{classify_read_error, locate, unexpected, Answer};
use crate::error::{CallError, CreateError, ProtocolError, SealError};
use crate::mapping::ViewMut;
use crate::{replies, ObjectBuffer};

/// A request written to the store whose reply has not been read yet.
pub(super) enum Expect {
    Reply {
        expected: MessageType,
        reply: ReplyTo<Result<Reply, CallError>>,
    },
    Create {
        id: ObjectId,
        data_size: u64,
        metadata: Vec<u8>,
        digest: bool,
        reply: ReplyTo<Result<AsyncObjectBuilder, CreateError>>,
    },
    Seal {
        id: ObjectId,
        view: ViewMut,
        data_len: usize,
        reply: ReplyTo<Result<ObjectBuffer, SealError>>,
    },
    /// A caller's `try_get`.
    Get {
        ids: Vec<ObjectId>,
        distinct: Vec<ObjectId>,
        reply: ReplyTo<Result<Vec<Option<ObjectBuffer>>, CallError>>,
    },
    /// The router's check or fetch of awaited ids (each once), written as
    /// the `seq`-th release-or-fetch frame (`fetches.rs`).
    Fetch {
        ids: Vec<ObjectId>,
        seq: u64,
    },
    Abort {
        id: ObjectId,
    },
    /// Our UnawaitRequest (its reply names the registrations it removed).
    Unawait,
    /// Our AttachRequest.
    Attach {
        reply: ReplyTo<Result<crate::async_client::command::Attached, CallError>>,
    },
    /// Our PutRequest (`slot`: the hold-table slot it names).
    Put {
        id: ObjectId,
        data_len: usize,
        metadata_len: usize,
        slot: Option<u32>,
        reply: ReplyTo<Result<ObjectBuffer, SealError>>,
    },
}

impl Expect {
    /// The reply type this request calls for.
    fn expected(&self) -> MessageType {
        match self {
            Expect::Reply { expected, .. } => *expected,
            Expect::Create { .. } => MessageType::CreateReply,
            Expect::Seal { .. } => MessageType::SealReply,
            Expect::Get { .. } | Expect::Fetch { .. } => MessageType::GetReply,
            Expect::Abort { .. } => MessageType::AbortReply,
            Expect::Unawait => MessageType::UnawaitReply,
            Expect::Attach { .. } => MessageType::AttachReply,
            Expect::Put { .. } => MessageType::PutReply,
        }
    }

    /// Tells the caller (if any) that the request failed with `err`.
    pub(super) fn fail(self, err: CallError) {
        match self {
            Expect::Reply { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Expect::Create { reply, .. } => {
                let _ = reply.send(Err(err.into()));
            }
            Expect::Seal { reply, .. } => {
                let _ = reply.send(Err(err.into()));
            }
            Expect::Get { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Expect::Attach { reply } => {
                let _ = reply.send(Err(err));
            }
            Expect::Put { reply, .. } => {
                let _ = reply.send(Err(err.into()));
            }
            Expect::Fetch { .. } | Expect::Abort { .. } | Expect::Unawait => {}
        }
    }
}

impl Driver {
    /// Reads what the request connection has and handles every complete
    /// reply (with its segment fds). Returns whether anything came.
    pub(super) fn read_replies(&mut self) -> Result<bool, CallError> {
        let mut progressed = false;
        for _ in 0..READS_PER_ROUND {
            let replies = &mut self.replies;
            let n = self
                .stream
                .try_read(self.polling, |fd| replies.read_from(fd));
            match n {
                Ok(0) => return Err(CallError::Disconnected),
                Ok(_) => {
                    progressed = true;
                    while let Some(answer) = self.replies.next_answer()? {
                        self.on_answer(answer)?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(classify_read_error(e)),
            }
        }
        Ok(progressed)
    }

    fn on_answer(&mut self, answer: Answer) -> Result<(), CallError> {
        if matches!(answer.reply, Reply::ObjectReady { .. }) {
            // Unsolicited: not the answer to any request.
            return self.on_pushed(&answer);
        }
        let expect = self
            .expects
            .pop_front()
            .ok_or(ProtocolError::Unsolicited { bytes: 1, fds: 0 })?;
        let expected = expect.expected();
        if answer.reply.message_type() != expected {
            expect.fail(unexpected(expected, &answer.reply));
            return Err(unexpected(expected, &answer.reply));
        }
        self.woke = true;
        match expect {
            Expect::Reply { reply, .. } => {
                let _ = reply.send(Ok(answer.reply));
            }
            Expect::Create {
                id,
                data_size,
                metadata,
                digest,
                reply,
            } => self.on_created(&answer, id, data_size, &metadata, digest, reply),
            Expect::Seal {
                id,
                view,
                data_len,
                reply,
            } => self.on_sealed(answer.reply, id, view, data_len, reply)?,
            Expect::Get {
                ids,
                distinct,
                reply,
            } => self.on_got(&answer, &ids, &distinct, reply)?,
            Expect::Fetch { ids, seq } => self.on_fetched(&answer, &ids, seq)?,
            Expect::Abort { id } => {
                let Reply::Abort { id: got } = answer.reply else {
                    return Err(ProtocolError::Mismatch("not an abort reply").into());
                };
                if got != id {
                    return Err(ProtocolError::WrongObject { expected: id, got }.into());
                }
                self.holds.forget(id);
            }
            Expect::Unawait => {
                let Reply::Unawait { removed } = answer.reply else {
                    return Err(ProtocolError::Mismatch("not an unawait reply").into());
                };
                self.on_unawaited(&removed);
            }
            Expect::Attach { reply } => self.on_attached(answer, reply)?,
            Expect::Put {
                id,
                data_len,
                metadata_len,
                slot,
                reply,
            } => self.on_put(&answer, id, (data_len, metadata_len), slot, reply)?,
        }
        Ok(())
    }

    fn on_created(
        &mut self,
        answer: &Answer,
        id: ObjectId,
        data_size: u64,
        metadata: &[u8],
        digest: bool,
        reply: ReplyTo<Result<AsyncObjectBuilder, CreateError>>,
    ) {
        if let Err(e) = replies::create_verdict(&answer.reply) {
            let _ = reply.send(Err(e));
            return;
        }
        match replies::created_view(id, data_size, metadata.len() as u64, answer) {
            Ok((view, data_len)) => match self.link() {
                Some(link) => {
                    self.holds.acquire(id);
                    // If the caller is gone, the builder is dropped here and
                    // aborts the object.
                    let builder =
                        AsyncObjectBuilder::new(id, view, data_len, metadata, digest, link);
                    let _ = reply.send(Ok(builder));
                }
                None => self.send_abort(id),
            },
            Err(e) => {
                self.send_abort(id);
                let _ = reply.send(Err(e));
            }
        }
    }

    fn on_sealed(
        &mut self,
        answer: Reply,
        id: ObjectId,
        view: ViewMut,
        data_len: usize,
        reply: ReplyTo<Result<ObjectBuffer, SealError>>,
    ) -> Result<(), CallError> {
        let Reply::Seal { id: got, error } = answer else {
            return Err(ProtocolError::Mismatch("not a seal reply").into());
        };
        if got != id {
            let err = ProtocolError::WrongObject { expected: id, got };
            let _ = reply.send(Err(SealError::Protocol(ProtocolError::WrongObject {
                expected: id,
                got,
            })));
            return Err(err.into());
        }
        if error != ErrorCode::Ok {
            self.send_abort(id);
            let _ = reply.send(Err(SealError::Protocol(ProtocolError::UnexpectedCode(
                error,
            ))));
        } else if let Some(hook) = self.hook() {
            // The creator's hold now belongs to the buffer.
            let buf = ObjectBuffer::new(id, view.into_view(), data_len, hook);
            let _ = reply.send(Ok(buf));
        }
        Ok(())
    }

    fn on_got(
        &mut self,
        answer: &Answer,
        ids: &[ObjectId],
        distinct: &[ObjectId],
        reply: ReplyTo<Result<Vec<Option<ObjectBuffer>>, CallError>>,
    ) -> Result<(), CallError> {
        let views = locate(ids, answer)?;
        let hook = self.hook();
        let mut made: HashMap<ObjectId, ObjectBuffer> = HashMap::new();
        let mut found = Vec::new();
        let mut out: Vec<Option<ObjectBuffer>> = Vec::with_capacity(ids.len());
        for (id, view) in ids.iter().zip(views) {
            let buf = match (view, &hook) {
                (Some((view, data_len)), Some(hook)) => Some(
                    made.entry(*id)
                        .or_insert_with(|| {
                            found.push(*id);
                            ObjectBuffer::new(*id, view, data_len, Arc::clone(hook))
                        })
                        .clone(),
                ),
                _ => None,
            };
            out.push(buf);
        }
        // The driver must not keep a clone of a buffer it hands out: the
        // receiver's drop of its last clone has to be the one that queues
        // the Release, or the Release could follow the receiver's next
        // request instead of preceding it.
        drop(made);
        // Each found id got exactly one new holder (its buffer above).
        let awaits = &self.awaits;
        let deferred = self
            .holds
            .finish_get_unless_pushed(distinct, &found, |id| awaits.push_may_come(id));
        for id in deferred {
            self.send_release(id);
        }
        let _ = reply.send(Ok(out));
        Ok(())
    }
}
