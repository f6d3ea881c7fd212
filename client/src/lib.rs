//! Blocking and tokio clients for plasma-store and for Arrow Plasma 11 stores, with
//! zero-copy access to objects in the store's shared memory.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use plasma_client::{Client, ObjectId};
//!
//! let client = Client::connect("/tmp/plasma.sock")?;
//! let id = ObjectId::random();
//!
//! // Write in place, then seal.
//! let mut builder = client.create(id, 11, b"greeting")?;
//! builder.data_mut().copy_from_slice(b"hello world");
//! drop(builder.seal()?); // dropping the buffer releases our hold
//!
//! // Read it back without copying.
//! let found = client.try_get(&[id])?;
//! let buf = found[0].as_ref().ok_or("missing")?;
//! assert_eq!(buf.data(), b"hello world");
//! assert_eq!(buf.metadata(), b"greeting");
//! # Ok(()) }
//! ```
//!
//! Where things live: [`Client`] (requests, threading), [`ObjectBuilder`]
//! (create → write → seal), [`ObjectBuffer`] (sealed object views and
//! release), [`Subscription`] (notifications), [`digest()`] (seal digest),
//! [`AsyncClient`] (tokio; [`AsyncClient::as_future`] turns an object id
//! into a future that resolves when the object is sealed), [`Watcher`]
//! (the same waiting for an event loop the caller runs, e.g. Python's
//! asyncio).
//! The only `unsafe` code is in the private `mapping` module.

mod async_client;
mod body;
mod buffer;
mod builder;
mod client;
mod connection;
mod digest;
mod direct;
mod error;
#[cfg(test)]
mod fake_store_tests;
mod fill;
mod holds;
mod mapping;
mod replies;
mod segments;
mod store_info;
mod subscription;
mod watcher;

pub use async_client::{
    AsFuture, AsyncClient, AsyncClientOptions, AsyncObjectBuilder, AsyncStats, WaitOutcome,
};
pub use buffer::ObjectBuffer;
pub use builder::ObjectBuilder;
pub use client::{Client, ClientOptions, DeleteOutcome};
pub use digest::{digest, NO_DIGEST};
pub use error::{
    AsFutureError, ConnectError, ContainsError, CreateError, DebugStringError, DeleteError,
    EvictError, GetError, ListError, ProtocolError, SealError, SetOptionsError, SubscribeError,
    VerifyError,
};
pub use mapping::ExtentError;
pub use plasma_protocol::{Digest, ObjectId, ObjectInfo, StoreStats, Tally};
pub use segments::MapError;
pub use store_info::StatsError;
pub use subscription::{Notification, Subscription};
pub use watcher::{Pending, Ready, Watcher, WatcherOptions};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, ignoring poisoning: every critical section here leaves its
/// data consistent at each step, so a panic elsewhere does not corrupt it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
