//! A handle that stops a running loop from any thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mio::{Registry, Token, Waker};

#[derive(Debug, Default)]
struct Inner {
    stop: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// Stops [`run`](super::run): clone it, hand one copy to `run`, call
/// [`trigger`](Shutdown::trigger) on another. Triggering before the loop
/// started makes it return at once.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl Shutdown {
    /// A handle not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the loop to stop, and wakes it.
    pub fn trigger(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Wakes the loop without asking it to stop (the metrics endpoint asks
    /// for a snapshot this way: a poller has only one waker).
    pub(crate) fn wake(&self) {
        let guard = self
            .inner
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = guard.as_ref() {
            if let Err(e) = w.wake() {
                tracing::warn!("waking the store loop failed: {e}");
            }
        }
    }

    /// Whether a stop was asked for.
    pub fn is_triggered(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst)
    }

    /// Connects the handle to a poller: `trigger` then wakes it with `token`.
    pub(crate) fn attach(&self, registry: &Registry, token: Token) -> std::io::Result<()> {
        let waker = Waker::new(registry, token)?;
        *self
            .inner
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(waker);
        Ok(())
    }

    /// Forgets the poller (the loop is over).
    pub(crate) fn detach(&self) {
        *self
            .inner
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}
