//! Values that must not act in a forked child.
//!
//! A child made by `fork()` (multiprocessing's default on Linux before
//! Python 3.14, `ProcessPoolExecutor` with it) inherits every client,
//! buffer and watcher of its parent, sockets included. If the child's
//! garbage collector dropped an inherited buffer, its Release would go to
//! the store on the *parent's* connection and end a hold the parent still
//! relies on. [`ForkGuard`] leaks its value instead when dropped in another
//! process than the one that made it, and [`check_owner`] refuses calls
//! there.
//!
//! The one `unsafe` block here drops a `ManuallyDrop` field in `Drop`; it
//! concerns no shared memory.
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;

use pyo3::PyResult;

use crate::errors::{plasma_error, Kind};

/// The calling process's id.
pub(crate) fn this_process() -> u32 {
    std::process::id()
}

/// `Err` unless called in process `owner`.
pub(crate) fn check_owner(owner: u32, what: &str) -> PyResult<()> {
    if owner == this_process() {
        Ok(())
    } else {
        Err(plasma_error(
            Kind::Error,
            format!(
                "this {what} belongs to process {owner} (this is a forked child, {}): \
                 connect again in this process with plasma_store.connect()",
                this_process()
            ),
        ))
    }
}

/// Owns a `T` and drops it only in the process that made it.
pub(crate) struct ForkGuard<T> {
    value: ManuallyDrop<T>,
    owner: u32,
}

impl<T> ForkGuard<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            value: ManuallyDrop::new(value),
            owner: this_process(),
        }
    }

    /// The process that made the value.
    pub(crate) fn owner(&self) -> u32 {
        self.owner
    }
}

impl<T> std::ops::Deref for ForkGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for ForkGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for ForkGuard<T> {
    fn drop(&mut self) {
        if self.owner == this_process() {
            // SAFETY: `value` is dropped exactly once, here, and never used
            // again (this is the guard's own Drop). In another process it is
            // leaked on purpose (module doc).
            unsafe { ManuallyDrop::drop(&mut self.value) }
        }
    }
}
