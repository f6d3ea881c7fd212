//! Waiting for objects, all through the router: [`AsyncClient::as_future`],
//! [`as_futures`](AsyncClient::as_futures), [`wait`](AsyncClient::wait),
//! [`get_timeout`](AsyncClient::get_timeout), [`get`](AsyncClient::get).
//! None of them sends a waiting Get to the store.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{join_all, FutureExt};
use futures_util::stream::{FuturesUnordered, StreamExt};
use plasma_protocol::ObjectId;
use tokio::time::Instant;

use super::{AsFuture, AsyncClient};
use crate::connection::distinct;
use crate::error::{AsFutureError, GetError, ProtocolError};
use crate::ObjectBuffer;

/// What [`AsyncClient::wait`] found: the `ray.wait` shape.
///
/// ```no_run
/// # async fn f(client: plasma_client::AsyncClient, ids: Vec<plasma_client::ObjectId>) -> Result<(), plasma_client::AsFutureError> {
/// let outcome = client.wait(&ids, 1, None).await?;
/// println!("{} ready, {} still pending", outcome.ready.len(), outcome.pending.len());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WaitOutcome {
    /// Buffers of the objects found sealed (at most `num_ready`), in the
    /// order of the ids asked for.
    pub ready: Vec<ObjectBuffer>,
    /// The other ids, in the order asked for.
    pub pending: Vec<ObjectId>,
}

/// An [`AsFuture`] that also yields its position in the caller's list.
struct Positioned {
    index: usize,
    future: AsFuture,
}

impl Future for Positioned {
    type Output = (usize, Result<ObjectBuffer, AsFutureError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        Pin::new(&mut self.future)
            .poll(cx)
            .map(|outcome| (index, outcome))
    }
}

/// Registered futures, each with its position.
type Indexed = FuturesUnordered<Positioned>;

impl AsyncClient {
    /// A future that resolves with the object's zero-copy buffer as soon as
    /// `id` is sealed, by any client in any process (at once if it already
    /// is). Zero-length objects included. The waiter is registered now, so
    /// a seal that happens before the first poll is not missed.
    ///
    /// Futures for the same id share one fetch; a pending future costs about
    /// 160 bytes and nothing in the store. The first call sets up the
    /// client's notification channel (see [`init`](Self::init)).
    ///
    /// **Cancel safety:** dropping the future removes its waiter.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient) -> Result<(), plasma_client::AsFutureError> {
    /// let id = plasma_client::ObjectId::random();
    /// let buf = client.as_future(id).await?; // until someone seals `id`
    /// println!("{:?}", buf.metadata());
    /// # Ok(()) }
    /// ```
    pub fn as_future(&self, id: ObjectId) -> AsFuture {
        AsFuture::register(id, self.commands())
    }

    /// One [`as_future`](Self::as_future) per id, awaited together: resolves
    /// when every one has, with one outcome per id, in order.
    ///
    /// **Cancel safety:** dropping the future removes every waiter.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient, ids: Vec<plasma_client::ObjectId>) {
    /// for outcome in client.as_futures(&ids).await {
    ///     match outcome {
    ///         Ok(buf) => println!("{}: {} bytes", buf.id(), buf.data().len()),
    ///         Err(e) => eprintln!("{e}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn as_futures(
        &self,
        ids: &[ObjectId],
    ) -> impl Future<Output = Vec<Result<ObjectBuffer, AsFutureError>>> + Send + 'static {
        join_all(ids.iter().map(|id| self.as_future(*id)))
    }

    /// Waits until `num_ready` of `ids` are sealed or `timeout` passes
    /// (`None`: no limit), whichever comes first, and says which are ready
    /// (at most `num_ready`, with their buffers) and which are not. A zero
    /// timeout only looks at what is sealed now. The timeout counts from the
    /// call.
    ///
    /// Fails only if the waiting itself fails (`Shutdown`, `Disconnected`,
    /// ...).
    ///
    /// **Cancel safety:** dropping the future removes every waiter.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient, ids: Vec<plasma_client::ObjectId>) -> Result<(), plasma_client::AsFutureError> {
    /// use std::time::Duration;
    /// let first_two = client.wait(&ids, 2, Some(Duration::from_secs(1))).await?;
    /// # Ok(()) }
    /// ```
    pub fn wait(
        &self,
        ids: &[ObjectId],
        num_ready: usize,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<WaitOutcome, AsFutureError>> + Send + 'static {
        let ids = ids.to_vec();
        let want = num_ready.min(ids.len());
        let deadline = timeout.map(|t| Instant::now() + t);
        let now = (timeout == Some(Duration::ZERO)).then(|| self.try_get(&ids));
        let waiting = match now {
            Some(_) => FuturesUnordered::new(),
            None => self.indexed(&ids),
        };
        async move {
            let mut found = match now {
                Some(now) => now.await.map_err(AsFutureError::from)?,
                None => collect(waiting, ids.len(), want, deadline).await?,
            };
            // At most `want` ready, the first ones in the caller's order.
            let mut taken = 0;
            for slot in &mut found {
                if slot.is_some() {
                    if taken == want {
                        *slot = None;
                    } else {
                        taken += 1;
                    }
                }
            }
            let mut outcome = WaitOutcome {
                ready: Vec::with_capacity(taken),
                pending: Vec::with_capacity(ids.len() - taken),
            };
            for (id, slot) in ids.into_iter().zip(found) {
                match slot {
                    Some(buf) => outcome.ready.push(buf),
                    None => outcome.pending.push(id),
                }
            }
            Ok(outcome)
        }
    }

    /// Gets `ids`, waiting up to `timeout` for those not sealed yet; `None`
    /// for what is still missing then. One entry per id (duplicates
    /// allowed). Waits through the router (no waiting Get is sent), so it
    /// never holds up other calls.
    ///
    /// **Cancel safety:** dropping the future removes its waiters; objects
    /// already fetched for it are released.
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient, id: plasma_client::ObjectId) -> Result<(), plasma_client::GetError> {
    /// let found = client.get_timeout(&[id], std::time::Duration::from_secs(1)).await?;
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(
        &self,
        ids: &[ObjectId],
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<Option<ObjectBuffer>>, GetError>> + Send + 'static {
        self.get_until(ids, Some(Instant::now() + timeout), timeout.is_zero())
    }

    /// Gets `ids`, waiting as long as it takes for every one to be sealed.
    ///
    /// **Cancel safety:** as [`get_timeout`](Self::get_timeout).
    ///
    /// ```no_run
    /// # async fn f(client: plasma_client::AsyncClient, id: plasma_client::ObjectId) -> Result<(), plasma_client::GetError> {
    /// let buffers = client.get(&[id]).await?; // one buffer per id, in order
    /// # Ok(()) }
    /// ```
    pub fn get(
        &self,
        ids: &[ObjectId],
    ) -> impl Future<Output = Result<Vec<ObjectBuffer>, GetError>> + Send + 'static {
        let got = self.get_until(ids, None, false);
        async move {
            got.await?
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .ok_or(GetError::Protocol(ProtocolError::Mismatch(
                    "a get without timeout ended without an object",
                )))
        }
    }

    fn get_until(
        &self,
        ids: &[ObjectId],
        deadline: Option<Instant>,
        now_only: bool,
    ) -> impl Future<Output = Result<Vec<Option<ObjectBuffer>>, GetError>> + Send + 'static {
        let ids = ids.to_vec();
        let unique = distinct(&ids);
        let now = now_only.then(|| self.try_get(&ids));
        let waiting = match now {
            Some(_) => FuturesUnordered::new(),
            None => self.indexed(&unique),
        };
        async move {
            if let Some(now) = now {
                return now.await;
            }
            let found = collect(waiting, unique.len(), unique.len(), deadline).await?;
            Ok(ids
                .iter()
                .map(|id| {
                    unique
                        .iter()
                        .position(|u| u == id)
                        .and_then(|i| found.get(i).cloned().flatten())
                })
                .collect())
        }
    }

    /// One registered future per id, yielding its position.
    fn indexed(&self, ids: &[ObjectId]) -> Indexed {
        ids.iter()
            .enumerate()
            .map(|(index, id)| Positioned {
                index,
                future: self.as_future(*id),
            })
            .collect()
    }
}

/// Drives `waiting` until `want` of its `len` futures resolved or the
/// deadline passed; the found buffers by position. The futures left are
/// dropped, which cancels them.
async fn collect(
    mut waiting: Indexed,
    len: usize,
    want: usize,
    deadline: Option<Instant>,
) -> Result<Vec<Option<ObjectBuffer>>, AsFutureError> {
    let mut found = vec![None; len];
    let mut count = 0;
    let timer = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timer);
    while count < want {
        tokio::select! {
            next = waiting.next() => match next {
                Some((i, Ok(buf))) => {
                    if let Some(slot) = found.get_mut(i) {
                        *slot = Some(buf);
                        count += 1;
                    }
                }
                Some((_, Err(e))) => return Err(e),
                None => break,
            },
            () = &mut timer => break,
        }
    }
    // Also count whatever else is resolved already, so that "the first
    // `want` in the caller's order" does not depend on polling order.
    while let Some(Some((i, Ok(buf)))) = waiting.next().now_or_never() {
        if let Some(slot) = found.get_mut(i) {
            *slot = Some(buf);
        }
    }
    Ok(found)
}
