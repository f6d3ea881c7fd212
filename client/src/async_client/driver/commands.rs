//! What each [`Command`] does: the messages of handles, buffers, builders
//! and futures (`command.rs`), taken in arrival order. A command that needs
//! the store queues its request (written at the end of the round) and
//! leaves an [`Expect`] for its reply (`pairing.rs`).

use plasma_protocol::{ObjectId, Request};

use super::pairing::Expect;
use super::Driver;
use crate::async_client::command::{Command, ReplyTo};
use crate::async_client::future::Waiter;
use crate::connection::distinct;
use crate::error::{AsFutureError, CallError};
use crate::holds::ReleaseDecision;
use crate::ObjectBuffer;

impl Driver {
    pub(super) fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Call {
                frame,
                expected,
                reply,
            } => {
                self.out.frames().extend_from_slice(&frame);
                self.expects.push_back(Expect::Reply { expected, reply });
            }
            Command::Create {
                id,
                data_size,
                metadata,
                digest,
                reply,
            } => {
                let req = Request::Create {
                    id,
                    evict_if_full: true,
                    data_size,
                    metadata_size: metadata.len() as u64,
                    device_num: 0,
                };
                let expect = Expect::Create {
                    id,
                    data_size,
                    metadata,
                    digest,
                    reply,
                };
                self.send(&req, expect);
            }
            Command::Seal {
                id,
                digest,
                view,
                data_len,
                reply,
            } => {
                let expect = Expect::Seal {
                    id,
                    view,
                    data_len,
                    reply,
                };
                self.send(&Request::Seal { id, digest }, expect);
            }
            Command::Get { ids, reply } => {
                if ids.is_empty() {
                    let _ = reply.send(Ok(Vec::new()));
                } else {
                    self.send_get(ids, reply);
                }
            }
            Command::Release(id) => {
                // Deferred while the store may push the id with this hold.
                let push_may_come = self.awaits.push_may_come(&id);
                if self.holds.release_unless_pushed(id, push_may_come) == ReleaseDecision::Send {
                    self.send_release(id);
                }
            }
            Command::Abort(id) => self.send_abort(id),
            Command::Register(id, waiter) => self.register(id, waiter),
            Command::Cancel(id) => {
                self.router.cancel(id);
                if self.pushes && !self.router.wants(&id) {
                    self.awaits.unwant(id);
                }
            }
            Command::Init(reply) if self.pushes => {
                let _ = reply.send(Ok(()));
            }
            Command::Init(reply) => self.channel.when_up(reply),
            Command::Shutdown(reply) => {
                self.stop_channel(&AsFutureError::Shutdown);
                let _ = reply.send(());
            }
            Command::Stats(reply) => {
                self.stats.waiting_objects = self.router.len();
                let _ = reply.send(self.stats);
            }
            Command::UsePushes => self.pushes = true,
            Command::Attach(reply) => self.send_attach(reply),
            Command::Put {
                id,
                bytes,
                data_len,
                digest,
                reply,
            } => self.send_put(id, &bytes, data_len, digest, reply),
            Command::HoldsChanged => self.encode(&plasma_protocol::Request::HoldsChanged),
        }
    }

    /// A future waits for `id`.
    fn register(&mut self, id: ObjectId, waiter: Waiter) {
        // The waiter is in the table before we ask the store whether the
        // object is sealed already (register-before-check): a seal handled
        // after that check is notified to us and finds the waiter; one
        // handled before it is in the check's reply.
        if !self.router.register(id, waiter) {
            return;
        }
        if self.pushes {
            // Checking and registering is one step in the store.
            self.awaits.want(id);
        } else if self.channel.is_live() {
            self.fetches.want(id);
        } else if self.channel.is_off() {
            self.channel.start();
        }
        // Else the channel is starting: every awaited id is checked once it
        // is up.
    }

    /// A caller's timeout-0 Get.
    fn send_get(
        &mut self,
        ids: Vec<ObjectId>,
        reply: ReplyTo<Result<Vec<Option<ObjectBuffer>>, CallError>>,
    ) {
        let distinct = distinct(&ids);
        // A Release of these ids queued from now on waits for the reply
        // (holds.rs): the store may answer this Get from the hold it drops.
        self.holds.begin_get(&distinct);
        let req = Request::Get {
            ids: ids.clone(),
            timeout_ms: 0,
        };
        let expect = Expect::Get {
            ids,
            distinct,
            reply,
        };
        self.send(&req, expect);
    }
}
