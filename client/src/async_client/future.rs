//! [`AsFuture`]: one object id awaited like any other future.
//!
//! A future and the driver share one [`Slot`] (an `Arc`, 48 bytes): the
//! driver keeps a [`Waiter`] on it in its router, the future keeps the slot
//! and polls it. Whoever finishes first decides:
//!
//! * the driver completes the slot (object, or an error) and wakes the task;
//! * the future, dropped while still waiting, marks the slot abandoned and
//!   asks the driver to prune its waiter (`Command::Cancel`);
//! * a `Waiter` dropped while its slot still waits (the driver task ended:
//!   the store died, or the runtime shut down) completes it with
//!   `Disconnected`, so no future can wait forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_util::future::FusedFuture;
use plasma_protocol::ObjectId;
use tokio::sync::mpsc::UnboundedSender;

use super::command::Command;
use crate::error::AsFutureError;
use crate::{lock, ObjectBuffer};

/// What an [`AsFuture`] resolves to.
pub(crate) type Outcome = Result<ObjectBuffer, AsFutureError>;

enum State {
    /// Not resolved; the waker of the task that last polled.
    Waiting(Option<Waker>),
    /// Resolved, not yet taken by the future. Boxed: a pending future's
    /// slot stays as small as a waker (what 100,000 pending futures cost).
    Ready(Box<Outcome>),
    /// The future returned its outcome. Nothing of it stays in the slot, so
    /// the caller's drop of the buffer is the last one.
    Taken,
    /// The future was dropped before resolution.
    Abandoned,
}

/// The rendezvous between one future and the driver.
pub(crate) struct Slot {
    state: Mutex<State>,
}

impl Slot {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::Waiting(None)),
        })
    }

    /// Stores `outcome` and wakes the task, unless the slot was already
    /// resolved or abandoned (exactly-once; a refused outcome is dropped).
    fn complete(&self, outcome: Outcome) {
        let waker = {
            let mut state = lock(&self.state);
            let State::Waiting(waker) = &mut *state else {
                return;
            };
            let waker = waker.take();
            *state = State::Ready(Box::new(outcome));
            waker
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn is_waiting(&self) -> bool {
        matches!(*lock(&self.state), State::Waiting(_))
    }

    /// Marks the slot abandoned; true if it was still waiting.
    fn abandon(&self) -> bool {
        let mut state = lock(&self.state);
        if matches!(*state, State::Waiting(_)) {
            *state = State::Abandoned;
            true
        } else {
            false
        }
    }

    fn is_taken(&self) -> bool {
        matches!(*lock(&self.state), State::Taken)
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut state = lock(&self.state);
        match &mut *state {
            State::Ready(_) => match std::mem::replace(&mut *state, State::Taken) {
                State::Ready(outcome) => Poll::Ready(*outcome),
                _ => Poll::Pending,
            },
            State::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            // Polled again after completion (see `FusedFuture`), or
            // abandoned, which only the future's own Drop does.
            State::Taken | State::Abandoned => Poll::Pending,
        }
    }
}

/// The driver's handle on one pending future. Dropping it while the future
/// still waits resolves the future with `Disconnected`.
pub(crate) struct Waiter(Arc<Slot>);

impl Waiter {
    /// Whether the future still waits (not resolved, not dropped).
    pub(crate) fn is_live(&self) -> bool {
        self.0.is_waiting()
    }

    /// Resolves the future with `buf`, unless it is no longer waiting.
    pub(crate) fn resolve(&self, buf: ObjectBuffer) {
        self.0.complete(Ok(buf));
    }

    /// Resolves the future with `err`, unless it is no longer waiting.
    pub(crate) fn fail(&self, err: &AsFutureError) {
        self.0.complete(Err(err.clone()));
    }

    /// A waiter whose future is `slot`'s (tests).
    #[cfg(test)]
    pub(crate) fn pair() -> (Waiter, Arc<Slot>) {
        let slot = Slot::new();
        (Waiter(Arc::clone(&slot)), slot)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.0.complete(Err(AsFutureError::Disconnected));
    }
}

#[cfg(test)]
impl Slot {
    /// The outcome, if resolved and not taken (tests).
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        match &*lock(&self.state) {
            State::Ready(o) => Some((**o).clone()),
            _ => None,
        }
    }

    /// What `AsFuture::drop` does to the slot (tests).
    pub(crate) fn drop_future(&self) {
        self.abandon();
    }
}

/// The future returned by [`AsyncClient::as_future`](crate::AsyncClient::as_future):
/// resolves with the object's zero-copy [`ObjectBuffer`] as soon as the
/// object is sealed (at once if it already is), or with an
/// [`AsFutureError`].
///
/// `Send + 'static`; it borrows nothing. The waiter is registered when
/// `as_future` is called, not at the first poll, so a future created before
/// the producer seals resolves even if it is first polled much later.
///
/// **Cancel safety:** dropping it removes its waiter from the client's
/// router (the store is not involved). If the object was fetched for it
/// meanwhile, that hold is released like any dropped buffer.
///
/// ```no_run
/// # async fn f(client: plasma_client::AsyncClient) -> Result<(), plasma_client::AsFutureError> {
/// let id = plasma_client::ObjectId::random();
/// let future = client.as_future(id); // registered now
/// // ... hand `id` to a producer ...
/// let buf = future.await?;
/// println!("{} bytes", buf.data().len());
/// # Ok(()) }
/// ```
#[must_use = "an AsFuture does nothing useful unless awaited (dropping it cancels the wait)"]
pub struct AsFuture {
    slot: Arc<Slot>,
    id: ObjectId,
    commands: UnboundedSender<Command>,
}

impl AsFuture {
    /// Creates the future and registers its waiter with the driver. If the
    /// driver is gone, the waiter is dropped with the command, which
    /// resolves the future with `Disconnected`.
    pub(crate) fn register(id: ObjectId, commands: &UnboundedSender<Command>) -> Self {
        let slot = Slot::new();
        let _ = commands.send(Command::Register(id, Waiter(Arc::clone(&slot))));
        Self {
            slot,
            id,
            commands: commands.clone(),
        }
    }

    /// The id this future waits for.
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::AsyncClient, id: plasma_client::ObjectId) {
    /// assert_eq!(client.as_future(id).id(), id);
    /// # }
    /// ```
    pub fn id(&self) -> ObjectId {
        self.id
    }
}

impl Future for AsFuture {
    type Output = Result<ObjectBuffer, AsFutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll(cx)
    }
}

impl FusedFuture for AsFuture {
    fn is_terminated(&self) -> bool {
        self.slot.is_taken()
    }
}

impl Drop for AsFuture {
    fn drop(&mut self) {
        if self.slot.abandon() {
            let _ = self.commands.send(Command::Cancel(self.id));
        }
    }
}

impl std::fmt::Debug for AsFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsFuture")
            .field("id", &self.id)
            .field("waiting", &self.slot.is_waiting())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn assert_send_static<T: Send + 'static>() {}

    #[test]
    fn as_future_is_send_and_static() {
        assert_send_static::<AsFuture>();
    }

    #[test]
    fn slot_and_future_stay_small() {
        // The memory budget is 200 bytes per pending future, of which the
        // slot allocation and the future itself are the largest parts.
        assert!(
            std::mem::size_of::<Slot>() <= 32,
            "{}",
            std::mem::size_of::<Slot>()
        );
        assert!(std::mem::size_of::<AsFuture>() <= 40);
        assert_eq!(std::mem::size_of::<Waiter>(), 8);
    }

    #[test]
    fn complete_wakes_once_and_only_the_first_outcome_counts() {
        let (waiter, slot) = Waiter::pair();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert!(slot.poll(&mut cx).is_pending());
        waiter.fail(&AsFutureError::Shutdown);
        waiter.fail(&AsFutureError::Disconnected);
        drop(waiter);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            slot.poll(&mut cx),
            Poll::Ready(Err(AsFutureError::Shutdown))
        ));
        // Taken: nothing stays behind, and a second poll does not panic.
        assert!(slot.is_taken());
        assert!(slot.poll(&mut cx).is_pending());
    }

    #[test]
    fn dropping_the_waiter_of_a_waiting_slot_means_disconnected() {
        let (waiter, slot) = Waiter::pair();
        drop(waiter);
        assert!(matches!(
            slot.outcome(),
            Some(Err(AsFutureError::Disconnected))
        ));
    }

    #[test]
    fn an_abandoned_slot_is_not_live_and_ignores_outcomes() {
        let (waiter, slot) = Waiter::pair();
        assert!(waiter.is_live());
        assert!(slot.abandon());
        assert!(!waiter.is_live());
        waiter.fail(&AsFutureError::Shutdown);
        assert!(slot.outcome().is_none());
        assert!(!slot.abandon());
    }

    #[test]
    fn dropping_a_pending_future_sends_one_cancel_and_a_resolved_one_none() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let id = ObjectId::from_bytes([1; 20]);
        let fut = AsFuture::register(id, &tx);
        let Ok(Command::Register(got, waiter)) = rx.try_recv() else {
            panic!("expected a Register command");
        };
        assert_eq!(got, id);
        drop(fut);
        assert!(matches!(rx.try_recv(), Ok(Command::Cancel(c)) if c == id));
        assert!(!waiter.is_live());

        let fut = AsFuture::register(id, &tx);
        let Ok(Command::Register(_, waiter)) = rx.try_recv() else {
            panic!("expected a Register command");
        };
        waiter.fail(&AsFutureError::Shutdown);
        drop(fut);
        assert!(rx.try_recv().is_err(), "a resolved future sends no cancel");
    }

    #[test]
    fn a_future_registered_after_the_driver_is_gone_resolves_disconnected() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        drop(rx);
        let fut = AsFuture::register(ObjectId::from_bytes([2; 20]), &tx);
        assert!(matches!(
            fut.slot.outcome(),
            Some(Err(AsFutureError::Disconnected))
        ));
    }
}
