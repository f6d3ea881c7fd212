//! [`ObjectBuffer`]: a zero-copy, read-only view of a sealed object that
//! keeps the store's hold on it while any clone lives.

use std::fmt;
use std::sync::Arc;

use plasma_protocol::ObjectId;

use crate::mapping::View;

/// Called once when the last clone of a buffer goes away. The blocking
/// client's connection sends (or defers) a ReleaseRequest; an async client
/// can implement it by queueing the release for its I/O task.
pub(crate) trait ReleaseHook: Send + Sync {
    /// One holder of `id` is gone.
    fn release(&self, id: ObjectId);
}

/// The shared part of a buffer: one per (get or seal, id) on a connection;
/// counts as one holder in that connection's hold table.
struct Held {
    id: ObjectId,
    view: View,
    data_len: usize,
    hook: Arc<dyn ReleaseHook>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.hook.release(self.id);
    }
}

/// A sealed object, mapped straight from the store's shared memory.
///
/// [`data`](Self::data) and [`metadata`](Self::metadata) are views into the
/// arena, not copies. Clones are cheap (an `Arc`); the store keeps the
/// object (it cannot be evicted or deleted) until the last clone of the last
/// buffer for this id on the connection that fetched it is dropped, at
/// which point the client sends a ReleaseRequest.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use plasma_client::{Client, ObjectId};
/// let client = Client::connect("/tmp/plasma.sock")?;
/// let id = ObjectId::from_bytes([1; 20]);
/// if let Some(buf) = client.try_get(&[id])?.pop().flatten() {
///     println!("{} data bytes, metadata {:?}", buf.data().len(), buf.metadata());
///     let shared = buf.clone(); // same memory, same hold
///     std::thread::spawn(move || shared.data().len()).join().ok();
/// } // last clone dropped here: the hold is released
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ObjectBuffer {
    held: Arc<Held>,
}

impl ObjectBuffer {
    /// A buffer over `view` (data followed by metadata, `data_len` bytes of
    /// data) that tells `hook` when its last clone is gone. The caller has
    /// already counted it as a holder of `id`.
    pub(crate) fn new(
        id: ObjectId,
        view: View,
        data_len: usize,
        hook: Arc<dyn ReleaseHook>,
    ) -> Self {
        Self {
            held: Arc::new(Held {
                id,
                view,
                data_len,
                hook,
            }),
        }
    }

    /// The object's id.
    ///
    /// ```no_run
    /// # fn f(buf: plasma_client::ObjectBuffer) { println!("{}", buf.id()); }
    /// ```
    pub fn id(&self) -> ObjectId {
        self.held.id
    }

    /// The object's data bytes, straight from shared memory.
    ///
    /// ```no_run
    /// # fn f(buf: plasma_client::ObjectBuffer) { let sum: u64 = buf.data().iter().map(|&b| u64::from(b)).sum(); }
    /// ```
    pub fn data(&self) -> &[u8] {
        let bytes = self.held.view.bytes();
        bytes.get(..self.held.data_len).unwrap_or(bytes)
    }

    /// The object's metadata bytes (stored right after the data).
    ///
    /// ```no_run
    /// # fn f(buf: plasma_client::ObjectBuffer) { let is_json = buf.metadata() == b"json"; }
    /// ```
    pub fn metadata(&self) -> &[u8] {
        let bytes = self.held.view.bytes();
        bytes.get(self.held.data_len..).unwrap_or_default()
    }
}

impl AsRef<[u8]> for ObjectBuffer {
    /// Same as [`ObjectBuffer::data`].
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl fmt::Debug for ObjectBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectBuffer")
            .field("id", &self.held.id)
            .field("data_len", &self.held.data_len)
            .field("metadata_len", &self.metadata().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Extent, Mapping};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<ObjectId>>);

    impl ReleaseHook for Recorder {
        fn release(&self, id: ObjectId) {
            self.0.lock().unwrap().push(id);
        }
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn buffer_is_send_and_sync() {
        assert_send_sync::<ObjectBuffer>();
    }

    #[test]
    fn slices_data_and_metadata_and_releases_once_after_last_clone() {
        let mapping = Mapping::of_bytes(b"xxhello!metayy");
        let view = mapping.view(Extent { offset: 2, len: 10 }).unwrap();
        let hook = Arc::new(Recorder::default());
        let id = ObjectId::from_bytes([9; 20]);
        let buf = ObjectBuffer::new(id, view, 6, hook.clone());
        assert_eq!(buf.id(), id);
        assert_eq!(buf.data(), b"hello!");
        assert_eq!(buf.metadata(), b"meta");

        let clone = buf.clone();
        drop(buf);
        assert!(hook.0.lock().unwrap().is_empty());
        let moved = std::thread::spawn(move || clone.data().to_vec())
            .join()
            .unwrap();
        assert_eq!(moved, b"hello!");
        assert_eq!(*hook.0.lock().unwrap(), vec![id]);
    }
}
