//! [`ObjectBuilder`]: an unsealed object being written in place.

use std::fmt;
use std::sync::Arc;

use plasma_protocol::{ErrorCode, MessageType, ObjectId, Reply, Request};

use crate::buffer::{ObjectBuffer, ReleaseHook};
use crate::connection::{unexpected, Connection, Wait};
use crate::digest::DataHasher;
use crate::error::{CallError, ProtocolError, SealError};
use crate::fill;
use crate::mapping::ViewMut;

/// Aborts the object unless disarmed: the part of a builder that must run
/// on drop, kept apart so `seal(self)` can move the other fields out.
struct AbortGuard {
    conn: Arc<Connection>,
    id: ObjectId,
    armed: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.armed {
            // Best effort and panic-free: if the store is gone the object
            // went with it.
            self.conn.abort(self.id);
        }
    }
}

/// A newly created object whose data is written straight into the store's
/// shared memory; [`seal`](Self::seal) makes it visible to everyone.
///
/// The metadata given to `create` is already in place. Dropping a builder
/// without sealing it aborts the object (an AbortRequest; nothing happens if
/// the store is gone).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use plasma_client::{Client, ObjectId};
/// let client = Client::connect("/tmp/plasma.sock")?;
/// let mut builder = client.create(ObjectId::random(), 5, b"text")?;
/// builder.data_mut().copy_from_slice(b"hello");
/// let sealed = builder.seal()?; // still held until `sealed` is dropped
/// assert_eq!(sealed.data(), b"hello");
/// # Ok(()) }
/// ```
pub struct ObjectBuilder {
    guard: AbortGuard,
    view: ViewMut,
    data_len: usize,
    digest: bool,
    /// The digest state `write_data` computed, while still valid.
    written: Option<DataHasher>,
}

impl ObjectBuilder {
    /// A builder for the created object `id` whose extent is `view`
    /// (`data_len` bytes of data, then the metadata, copied in here). The
    /// caller has counted the creator's hold on `conn`.
    pub(crate) fn new(
        conn: Arc<Connection>,
        id: ObjectId,
        mut view: ViewMut,
        data_len: usize,
        metadata: &[u8],
        digest: bool,
    ) -> Self {
        if let Some(dst) = view.bytes_mut().get_mut(data_len..) {
            if dst.len() == metadata.len() {
                dst.copy_from_slice(metadata);
            }
        }
        Self {
            guard: AbortGuard {
                conn,
                id,
                armed: true,
            },
            view,
            data_len,
            digest,
            written: None,
        }
    }

    /// The object's id.
    ///
    /// ```no_run
    /// # fn f(b: plasma_client::ObjectBuilder) { println!("building {}", b.id()); }
    /// ```
    pub fn id(&self) -> ObjectId {
        self.guard.id
    }

    /// The object's data, writable, in the store's shared memory. Its
    /// initial content is unspecified (whatever the memory held before).
    ///
    /// ```no_run
    /// # fn f(mut b: plasma_client::ObjectBuilder) { b.data_mut().fill(0); }
    /// ```
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.written = None;
        let data_len = self.data_len;
        self.view
            .bytes_mut()
            .get_mut(..data_len)
            .unwrap_or_default()
    }

    /// Copies `data` into the object, whose data size it must equal. Faster
    /// than `data_mut().copy_from_slice(data)` for large objects: a helper
    /// thread faults in the destination pages ahead of the copy and
    /// computes the seal digest of `data` during it.
    ///
    /// # Panics
    ///
    /// If `data.len()` differs from the object's data size.
    ///
    /// ```no_run
    /// # fn f(mut b: plasma_client::ObjectBuilder) { b.write_data(b"hello"); }
    /// ```
    pub fn write_data(&mut self, data: &[u8]) {
        self.written = fill::write_data(&mut self.view, self.data_len, data, self.digest);
    }

    /// The metadata given to `create`, as stored.
    ///
    /// ```no_run
    /// # fn f(b: plasma_client::ObjectBuilder) { assert_eq!(b.metadata(), b"text"); }
    /// ```
    pub fn metadata(&self) -> &[u8] {
        self.view.bytes().get(self.data_len..).unwrap_or_default()
    }

    /// Seals the object: computes its digest (unless disabled in
    /// `ClientOptions`), tells the store, and returns the object as a
    /// buffer that still holds it (dropping that releases it).
    ///
    /// On failure the object is aborted (if the store can still be reached).
    ///
    /// ```no_run
    /// # fn f(mut b: plasma_client::ObjectBuilder) -> Result<(), plasma_client::SealError> {
    /// b.data_mut().copy_from_slice(b"done");
    /// let buf = b.seal()?;
    /// # Ok(()) }
    /// ```
    pub fn seal(self) -> Result<ObjectBuffer, SealError> {
        // The builder handed back is dropped here, which aborts the object.
        self.try_seal().map_err(|failed| failed.0)
    }

    /// As [`seal`](Self::seal), but a failure hands the builder back with
    /// the error: the object stays held, mapped and writable (and is
    /// aborted when the builder is dropped). For callers whose own views of
    /// the memory may outlive the call, such as a language binding that
    /// exported it.
    ///
    /// ```no_run
    /// # fn f(b: plasma_client::ObjectBuilder) {
    /// match b.try_seal() {
    ///     Ok(buf) => drop(buf),
    ///     Err(failed) => {
    ///         let (error, builder) = *failed;
    ///         eprintln!("seal failed: {error}; {} still held", builder.id());
    ///     }
    /// }
    /// # }
    /// ```
    pub fn try_seal(mut self) -> Result<ObjectBuffer, Box<(SealError, ObjectBuilder)>> {
        let id = self.guard.id;
        let digest = fill::seal_digest(&self.view, self.data_len, self.written.take(), self.digest);
        let conn = Arc::clone(&self.guard.conn);
        let answer = match conn.request(&Request::Seal { id, digest }, Wait::Quick) {
            Ok(answer) => answer,
            Err(e) => return Err(Box::new((e.into(), self))),
        };
        let Reply::Seal { id: got, error } = answer.reply else {
            let e = unexpected(MessageType::SealReply, &answer.reply).into();
            return Err(Box::new((e, self)));
        };
        if got != id {
            let e = CallError::from(ProtocolError::WrongObject { expected: id, got });
            return Err(Box::new((e.into(), self)));
        }
        if error != ErrorCode::Ok {
            let e = SealError::Protocol(ProtocolError::UnexpectedCode(error));
            return Err(Box::new((e, self)));
        }
        // Sealed: the creator's hold now belongs to the buffer.
        self.guard.armed = false;
        let hook: Arc<dyn ReleaseHook> = conn;
        Ok(ObjectBuffer::new(
            id,
            self.view.into_view(),
            self.data_len,
            hook,
        ))
    }
}

impl fmt::Debug for ObjectBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectBuilder")
            .field("id", &self.guard.id)
            .field("data_len", &self.data_len)
            .finish()
    }
}
