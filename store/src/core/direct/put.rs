//! PutRequest: a create-and-seal that leaves the sender holding the object,
//! through a slot of its hold table when it can (docs/design.md, "A put in
//! one round trip").

use plasma_protocol::direct::pack_hold;
use plasma_protocol::{
    Digest, ErrorCode, ObjectId, ObjectSpec, PutHold, Reply, PUT_HOLD_BY_SOCKET,
};

use super::super::create::{sizes_of, NotCreated};
use super::super::{ClientId, Clock, Effect, Handled, Outcome, Store, Violation};
use super::Table;

/// The inline object of a PutRequest.
pub(in crate::core) struct PutObject<'a> {
    pub id: ObjectId,
    pub data: &'a [u8],
    pub metadata: &'a [u8],
    pub digest: Digest,
    pub evict: bool,
}

impl Store {
    /// Put: exactly a CreateAndSeal (budget, eviction, quota, notification,
    /// waiting gets, pushes), then the sender's hold: written into `slot` of
    /// its hold table if the object could be published, else kept through
    /// the socket as after a Create. A `slot` outside the sender's table
    /// (or any slot without one) is a violation. Deferred, as a create is,
    /// while spills under way will free the memory it needs.
    pub(in crate::core) fn put(
        &mut self,
        client: ClientId,
        object: PutObject<'_>,
        slot: u32,
        clock: &Clock,
        out: &mut Outcome,
    ) -> Result<Handled, Violation> {
        let by_slot = slot != PUT_HOLD_BY_SOCKET;
        if by_slot {
            let fits = self
                .direct
                .tables
                .get(&client)
                .and_then(Table::view)
                .is_some_and(|v| (slot as usize) < v.geometry().slots);
            if !fits {
                return Err(Violation::BadPutSlot(slot));
            }
        }
        let PutObject {
            id,
            data,
            metadata,
            digest,
            evict,
        } = object;
        let created = self.create_object(client, id, sizes_of(data, metadata), evict, clock, out);
        let s = match created {
            Ok(s) => s,
            Err(NotCreated::Wait) => return Ok(Handled::Deferred),
            Err(NotCreated::Error(error)) => {
                out.reply(
                    client,
                    Reply::Put {
                        id,
                        object: ObjectSpec::default(),
                        error,
                        store_fd: 0,
                        mmap_size: 0,
                        entry: 0,
                        gen: 0,
                        hold: PutHold::None,
                    },
                );
                return Ok(Handled::Done);
            }
        };
        self.fill(s, data, metadata);
        self.seal_slot(s, digest, clock);
        let info = self.table.get(s).seal_info();
        self.notify(vec![info], out);
        self.wake_waiters(s, out);
        let creator_awaits = self.push_awaited_but(s, Some(client), out);
        let gen = self.published_gen(s);
        let hold = match gen {
            Some(gen) if by_slot => {
                let written = self
                    .direct
                    .tables
                    .get(&client)
                    .and_then(Table::view)
                    .is_some_and(|v| v.set(slot as usize, pack_hold(s, gen)));
                if written {
                    // The slot holds it now; the creator's transient hold
                    // goes (the object enters the LRU like any released
                    // one: a scan finds the slot before it is freed).
                    self.unhold(client, s, out);
                    PutHold::Slot
                } else {
                    PutHold::Socket
                }
            }
            _ => PutHold::Socket,
        };
        if creator_awaits {
            self.push_ready(client, s, out);
        }
        let segment = self.config.segment_id;
        let fds = self.new_segments(client, &[segment]);
        out.effects.push(Effect::Reply {
            to: client,
            reply: Reply::Put {
                id,
                object: self.table.get(s).spec(segment),
                error: ErrorCode::Ok,
                store_fd: segment,
                mmap_size: self.config.mmap_size,
                entry: s,
                gen: gen.unwrap_or(0),
                hold,
            },
            fds,
        });
        Ok(Handled::Done)
    }
}
