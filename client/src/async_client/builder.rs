//! [`AsyncObjectBuilder`]: an unsealed object being written in place, for
//! the [`AsyncClient`](crate::AsyncClient).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use plasma_protocol::ObjectId;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::command::{Command, Link};
use crate::body::Body;
use crate::digest::DataHasher;
use crate::error::SealError;
use crate::fill;
use crate::mapping::ViewMut;
use crate::ObjectBuffer;

/// A newly created object whose data is written straight into the store's
/// shared memory; [`seal`](Self::seal) makes it visible to everyone (and
/// resolves every [`AsFuture`](crate::AsFuture) waiting for it, in any
/// process).
///
/// The metadata given to `create` is already in place. Dropping a builder
/// without sealing it aborts the object (an AbortRequest, sent by the
/// client's I/O task).
///
/// As with the blocking [`ObjectBuilder`](crate::ObjectBuilder), a small
/// object on a store that offers our `direct` capability is built in this
/// process's memory and put with its seal in one round trip.
///
/// ```no_run
/// # async fn f(client: plasma_client::AsyncClient) -> Result<(), Box<dyn std::error::Error>> {
/// let mut builder = client.create(plasma_client::ObjectId::random(), 5, b"text").await?;
/// builder.data_mut().copy_from_slice(b"hello");
/// let sealed = builder.seal().await?; // still held until `sealed` is dropped
/// assert_eq!(sealed.data(), b"hello");
/// # Ok(()) }
/// ```
pub struct AsyncObjectBuilder {
    id: ObjectId,
    /// `None` once sealed (the view then travels with the seal request).
    view: Option<Body>,
    data_len: usize,
    digest: bool,
    /// The digest state `write_data` computed, while still valid.
    written: Option<DataHasher>,
    owner: Owner,
}

/// Who the builder's object belongs to until seal.
enum Owner {
    /// The store created it: the link keeps the connection, and with it
    /// the object, while the builder lives, even after the connection
    /// failed.
    Store(Arc<Link>),
    /// Nobody yet (a local body): the way to send the Put.
    Local(UnboundedSender<Command>),
}

impl AsyncObjectBuilder {
    /// A builder for the created object `id` whose extent is `view`
    /// (`data_len` bytes of data, then the metadata, copied in here). The
    /// driver has counted the creator's hold.
    pub(crate) fn new(
        id: ObjectId,
        mut view: ViewMut,
        data_len: usize,
        metadata: &[u8],
        digest: bool,
        link: Arc<Link>,
    ) -> Self {
        if let Some(dst) = view.bytes_mut().get_mut(data_len..) {
            if dst.len() == metadata.len() {
                dst.copy_from_slice(metadata);
            }
        }
        Self {
            id,
            view: Some(Body::Shared(view)),
            data_len,
            digest,
            written: None,
            owner: Owner::Store(link),
        }
    }

    /// A builder of a small object in this process's memory, put with its
    /// seal through `commands` (the client's attached connection).
    pub(crate) fn local(
        id: ObjectId,
        data_len: usize,
        metadata: &[u8],
        digest: bool,
        commands: UnboundedSender<Command>,
    ) -> Self {
        Self {
            id,
            view: Some(Body::local(data_len, metadata)),
            data_len,
            digest,
            written: None,
            owner: Owner::Local(commands),
        }
    }

    /// The object's id.
    ///
    /// ```no_run
    /// # fn f(b: plasma_client::AsyncObjectBuilder) { println!("building {}", b.id()); }
    /// ```
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// The object's data, writable, in the store's shared memory. Its
    /// initial content is unspecified.
    ///
    /// ```no_run
    /// # fn f(mut b: plasma_client::AsyncObjectBuilder) { b.data_mut().fill(0); }
    /// ```
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.written = None;
        let data_len = self.data_len;
        match &mut self.view {
            Some(view) => view.bytes_mut().get_mut(..data_len).unwrap_or_default(),
            None => &mut [],
        }
    }

    /// Copies `data` into the object, whose data size it must equal; as
    /// [`ObjectBuilder::write_data`](crate::ObjectBuilder::write_data)
    /// (a large copy blocks this task's thread for its duration, like
    /// `data_mut().copy_from_slice` would).
    ///
    /// # Panics
    ///
    /// If `data.len()` differs from the object's data size.
    ///
    /// ```no_run
    /// # fn f(mut b: plasma_client::AsyncObjectBuilder) { b.write_data(b"hello"); }
    /// ```
    pub fn write_data(&mut self, data: &[u8]) {
        if let Some(view) = &mut self.view {
            self.written = fill::write_data(view, self.data_len, data, self.digest);
        }
    }

    /// The metadata given to `create`, as stored.
    ///
    /// ```no_run
    /// # fn f(b: plasma_client::AsyncObjectBuilder) { assert_eq!(b.metadata(), b"text"); }
    /// ```
    pub fn metadata(&self) -> &[u8] {
        match &self.view {
            Some(view) => view.bytes().get(self.data_len..).unwrap_or_default(),
            None => &[],
        }
    }

    /// Seals the object: computes its digest (unless disabled in the
    /// options), sends the SealRequest at once, and returns a future for the
    /// sealed object's buffer (which still holds it; dropping that releases
    /// it). On failure the object is aborted.
    ///
    /// **Cancel safety:** the seal is sent when `seal` is called; dropping
    /// the returned future does not un-seal the object, it only drops the
    /// buffer (releasing the hold).
    ///
    /// ```no_run
    /// # async fn f(mut b: plasma_client::AsyncObjectBuilder) -> Result<(), plasma_client::SealError> {
    /// b.data_mut().copy_from_slice(b"done");
    /// let buf = b.seal().await?;
    /// # Ok(()) }
    /// ```
    pub fn seal(
        mut self,
    ) -> impl Future<Output = Result<ObjectBuffer, SealError>> + Send + 'static {
        let written = self.written.take();
        let sent = self.view.take().map(|view| {
            let digest = fill::seal_digest(&view, self.data_len, written, self.digest);
            let (reply, rx) = oneshot::channel();
            // If the driver is gone the command (and the view) is dropped:
            // the object went with the connection.
            let cmd = match view {
                Body::Shared(view) => Command::Seal {
                    id: self.id,
                    digest,
                    view,
                    data_len: self.data_len,
                    reply,
                },
                Body::Local(bytes) => Command::Put {
                    id: self.id,
                    bytes,
                    data_len: self.data_len,
                    digest,
                    reply,
                },
            };
            match &self.owner {
                Owner::Store(link) => link.send(cmd),
                Owner::Local(commands) => {
                    let _ = commands.send(cmd);
                }
            }
            rx
        });
        async move {
            match sent {
                Some(rx) => rx.await.unwrap_or(Err(SealError::Disconnected)),
                None => Err(SealError::Disconnected),
            }
        }
    }
}

impl Drop for AsyncObjectBuilder {
    fn drop(&mut self) {
        if let (Some(Body::Shared(_)), Owner::Store(link)) = (self.view.take(), &self.owner) {
            link.send(Command::Abort(self.id));
        }
    }
}

impl fmt::Debug for AsyncObjectBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncObjectBuilder")
            .field("id", &self.id)
            .field("data_len", &self.data_len)
            .finish()
    }
}
