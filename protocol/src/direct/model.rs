//! An exhaustive check of the hold protocol (docs/design.md, "Taking a hold,
//! and the race with a free"): every interleaving of two clients, each taking
//! a direct hold on one published object, reading it and releasing it, and a
//! store that frees the object and reuses its memory for the next one.
//!
//! Memory is modelled as x86 (TSO): each thread's writes wait in its store
//! buffer, in order, and reach memory at any later step; a thread's reads
//! see its own buffered writes first; a fence waits until the buffer is
//! empty. That is enough to show why each fence is there: without one, a
//! write can still sit in a buffer when the other side reads.
//!
//! The property checked: a client only reads the object while it is not
//! freed and its memory still holds the object the client looked up.
//! Each variant of [`Flaws`] breaks one rule of the protocol; the tests show
//! the search finds the broken read for each, and none for the protocol.

use std::collections::HashSet;

/// Rules of the protocol a variant breaks (all `false`: the protocol).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Flaws {
    /// The client uses the object without re-reading `gen` after its claim.
    pub skip_recheck: bool,
    /// The store scans the hold tables before it retires the entry.
    pub scan_before_retire: bool,
    /// The client does not fence between its claim and its re-check.
    pub no_client_fence: bool,
    /// The store does not fence between its retire and its scan.
    pub no_store_fence: bool,
}

const CLIENTS: usize = 2;
/// `gen` of the first object; the retire makes it 2, the next object 3.
const FIRST: u8 = 1;

/// Shared words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Var {
    Gen,
    Slot(usize),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Client {
    pc: u8,
    /// `gen` the lookup saw.
    seen: u8,
    buffer: Vec<(Var, u8)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Store {
    pc: u8,
    /// Some slot named the victim: it stays (pinned).
    pinned: bool,
    /// Next slot to scan.
    scan: usize,
    buffer: Vec<(Var, u8)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    gen: u8,
    slots: [u8; CLIENTS],
    /// The `gen` whose object the memory holds now (0: freed, not reused).
    memory_holds: u8,
    clients: [Client; CLIENTS],
    store: Store,
}

/// What the search saw.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// The first execution in which a client read freed or reused memory.
    pub violation: Option<String>,
    /// Some execution had a client read the object (coverage).
    pub client_read: bool,
    /// Some execution had the store free and reuse the memory.
    pub store_freed: bool,
    /// Some execution had the store keep the object for a hold.
    pub store_pinned: bool,
    /// Distinct states visited.
    pub states: usize,
}

fn read(buffer: &[(Var, u8)], memory: u8, var: Var) -> u8 {
    buffer
        .iter()
        .rev()
        .find(|(v, _)| *v == var)
        .map_or(memory, |(_, x)| *x)
}

impl State {
    fn initial() -> State {
        let client = Client {
            pc: 0,
            seen: 0,
            buffer: Vec::new(),
        };
        State {
            gen: FIRST,
            slots: [0; CLIENTS],
            memory_holds: FIRST,
            clients: [client.clone(), client],
            store: Store {
                pc: 0,
                pinned: false,
                scan: 0,
                buffer: Vec::new(),
            },
        }
    }

    fn mem(&self, var: Var) -> u8 {
        match var {
            Var::Gen => self.gen,
            Var::Slot(c) => self.slots[c],
        }
    }

    fn write_mem(&mut self, var: Var, x: u8) {
        match var {
            Var::Gen => self.gen = x,
            Var::Slot(c) => self.slots[c] = x,
        }
    }

    /// Every state one step away, with a violation message where the step
    /// broke the property.
    fn successors(&self, f: Flaws, out: &mut Outcome) -> Vec<State> {
        let mut next = Vec::new();
        // Store-buffer flushes: the oldest write of a buffer reaches memory.
        for c in 0..CLIENTS {
            if let Some(&(var, x)) = self.clients[c].buffer.first() {
                let mut s = self.clone();
                s.clients[c].buffer.remove(0);
                s.write_mem(var, x);
                next.push(s);
            }
        }
        if let Some(&(var, x)) = self.store.buffer.first() {
            let mut s = self.clone();
            s.store.buffer.remove(0);
            s.write_mem(var, x);
            next.push(s);
        }
        for c in 0..CLIENTS {
            if let Some(s) = self.client_step(c, f, out) {
                next.push(s);
            }
        }
        if let Some(s) = self.store_step(f, out) {
            next.push(s);
        }
        next
    }

    /// Client program: 0 look up; 1 claim; 2 fence; 3 re-check; 4 read;
    /// 5 release (read again, clear the slot); 6 give up (clear the slot);
    /// 7 done.
    fn client_step(&self, c: usize, f: Flaws, out: &mut Outcome) -> Option<State> {
        let me = &self.clients[c];
        let mut s = self.clone();
        let gen_now = read(&me.buffer, self.gen, Var::Gen);
        match me.pc {
            0 => {
                if gen_now % 2 == 1 {
                    s.clients[c].seen = gen_now;
                    s.clients[c].pc = 1;
                } else {
                    s.clients[c].pc = 7; // not published: ask the store
                }
            }
            1 => {
                s.clients[c].buffer.push((Var::Slot(c), me.seen));
                s.clients[c].pc = if f.no_client_fence { 3 } else { 2 };
            }
            2 => {
                if !me.buffer.is_empty() {
                    return None; // the fence waits for the buffer to drain
                }
                s.clients[c].pc = 3;
            }
            3 => {
                s.clients[c].pc = if f.skip_recheck || gen_now == me.seen {
                    4
                } else {
                    6
                };
            }
            4 | 5 => {
                if self.memory_holds != me.seen && out.violation.is_none() {
                    out.violation = Some(format!(
                        "client {c} read object gen {} while memory held {} (state {self:?})",
                        me.seen, self.memory_holds
                    ));
                }
                out.client_read = true;
                if me.pc == 5 {
                    s.clients[c].buffer.push((Var::Slot(c), 0));
                    s.clients[c].pc = 7;
                } else {
                    s.clients[c].pc = 5;
                }
            }
            6 => {
                s.clients[c].buffer.push((Var::Slot(c), 0));
                s.clients[c].pc = 7;
            }
            _ => return None,
        }
        Some(s)
    }

    /// Store program (`scan_before_retire` swaps the first two phases):
    /// 0 retire; 1 fence; 2 scan one slot per step; 3 free and reuse the
    /// memory for the next object, or keep it if pinned; 4 done.
    fn store_step(&self, f: Flaws, out: &mut Outcome) -> Option<State> {
        let st = &self.store;
        let mut s = self.clone();
        let victim = FIRST;
        let retire = |s: &mut State| s.store.buffer.push((Var::Gen, victim + 1));
        let scan_one = |s: &mut State| {
            let i = s.store.scan;
            let seen = read(&s.store.buffer, s.mem(Var::Slot(i)), Var::Slot(i));
            if seen == victim {
                s.store.pinned = true;
            }
            s.store.scan += 1;
            s.store.scan == CLIENTS
        };
        match (f.scan_before_retire, st.pc) {
            (false, 0) => {
                retire(&mut s);
                s.store.pc = if f.no_store_fence { 2 } else { 1 };
            }
            (false, 1) | (true, 2) if !st.buffer.is_empty() && !f.no_store_fence => return None,
            (false, 1) => s.store.pc = 2,
            (false, 2) => {
                if scan_one(&mut s) {
                    s.store.pc = 3;
                }
            }
            (true, 0) => {
                if scan_one(&mut s) {
                    s.store.pc = 1;
                }
            }
            (true, 1) => {
                retire(&mut s);
                s.store.pc = if f.no_store_fence { 3 } else { 2 };
            }
            (true, 2) => s.store.pc = 3,
            (_, 3) => {
                if s.store.pinned {
                    out.store_pinned = true;
                } else {
                    // Freed, and at once reused for the next object, which
                    // is then published (gen 3).
                    out.store_freed = true;
                    s.memory_holds = victim + 2;
                    s.store.buffer.push((Var::Gen, victim + 2));
                }
                s.store.pc = 4;
            }
            _ => return None,
        }
        Some(s)
    }
}

/// Explores every interleaving (depth first, each state once).
pub(super) fn explore(f: Flaws) -> Outcome {
    let mut out = Outcome::default();
    let mut seen = HashSet::new();
    let mut stack = vec![State::initial()];
    while let Some(state) = stack.pop() {
        if !seen.insert(state.clone()) {
            continue;
        }
        for next in state.successors(f, &mut out) {
            if !seen.contains(&next) {
                stack.push(next);
            }
        }
    }
    out.states = seen.len();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_never_reads_freed_memory() {
        let out = explore(Flaws::default());
        assert_eq!(out.violation, None);
        // Not vacuous: reads, frees and pins all happen in some execution.
        assert!(
            out.client_read && out.store_freed && out.store_pinned,
            "{out:?}"
        );
        assert!(out.states > 1000, "{out:?}");
    }

    #[test]
    fn without_the_recheck_a_client_reads_freed_memory() {
        let out = explore(Flaws {
            skip_recheck: true,
            ..Flaws::default()
        });
        assert!(out.violation.is_some(), "{out:?}");
    }

    #[test]
    fn scanning_before_retiring_frees_a_held_object() {
        let out = explore(Flaws {
            scan_before_retire: true,
            ..Flaws::default()
        });
        assert!(out.violation.is_some(), "{out:?}");
    }

    #[test]
    fn without_the_client_fence_a_buffered_claim_is_missed() {
        let out = explore(Flaws {
            no_client_fence: true,
            ..Flaws::default()
        });
        assert!(out.violation.is_some(), "{out:?}");
    }

    #[test]
    fn without_the_store_fence_a_buffered_retire_is_missed() {
        let out = explore(Flaws {
            no_store_fence: true,
            ..Flaws::default()
        });
        assert!(out.violation.is_some(), "{out:?}");
    }
}
