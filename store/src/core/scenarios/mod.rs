//! Scenario tests: request sequences replayed against the core, with the
//! invariants checked after every step.

mod awaiting;
mod direct;
mod lifecycle;
mod long_replies;
mod pyarrow;
mod quarantine;
mod space;
mod spilling;
mod stats;
mod waiting;

const A: u64 = 1;
const B: u64 = 2;
const C: u64 = 3;
