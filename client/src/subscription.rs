//! [`Subscription`]: the stream of seal and deletion notifications.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plasma_protocol::{decode_notification, Digest, ObjectId, ObjectInfo, DEFAULT_MAX_FRAME_LEN};

use crate::connection::Connection;
use crate::error::{ProtocolError, SubscribeError};

/// Smallest free space offered to one read.
const MIN_READ: usize = 64 * 1024;

/// One event on the notification channel.
///
/// ```no_run
/// # fn f(n: plasma_client::Notification) {
/// if n.deleted {
///     println!("{} gone", n.id);
/// } else {
///     println!("{} sealed: {} + {} bytes", n.id, n.data_size, n.metadata_size);
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// The object concerned.
    pub id: ObjectId,
    /// Data bytes of a sealed object; 0 for a deletion.
    pub data_size: u64,
    /// Metadata bytes of a sealed object; 0 for a deletion.
    pub metadata_size: u64,
    /// The digest the sealing client sent; `None` for a deletion.
    pub digest: Option<Digest>,
    /// True when the object was deleted or evicted, false when sealed.
    pub deleted: bool,
}

impl Notification {
    fn from_info(info: ObjectInfo) -> Result<Self, ProtocolError> {
        if info.is_deletion {
            return Ok(Self {
                id: info.object_id,
                data_size: 0,
                metadata_size: 0,
                digest: None,
                deleted: true,
            });
        }
        Ok(Self {
            id: info.object_id,
            data_size: u64::try_from(info.data_size)
                .map_err(|_| ProtocolError::OutOfRange("notification data size"))?,
            metadata_size: u64::try_from(info.metadata_size)
                .map_err(|_| ProtocolError::OutOfRange("notification metadata size"))?,
            digest: info.digest,
            deleted: false,
        })
    }
}

/// Notifications of every seal and deletion in the store, in order, as a
/// blocking iterator. On subscribing, the store first sends one
/// notification per object already sealed.
///
/// The iterator ends (`None`) when the store closes the channel; an
/// undecodable message yields one `Err` and then ends. Each subscription
/// uses its own connection, closed when the subscription is dropped.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use plasma_client::Client;
/// let client = Client::connect("/tmp/plasma.sock")?;
/// for event in client.subscribe()? {
///     let event = event?;
///     println!("{} {}", event.id, if event.deleted { "deleted" } else { "sealed" });
/// }
/// # Ok(()) }
/// ```
pub struct Subscription {
    socket: UnixStream,
    buf: Vec<u8>,
    filled: usize,
    queue: VecDeque<Notification>,
    read_timeout: Option<Duration>,
    failed: bool,
    /// The connection the store associates this channel with.
    _conn: Arc<Connection>,
}

impl Subscription {
    pub(crate) fn new(socket: UnixStream, conn: Arc<Connection>) -> Self {
        Self {
            socket,
            buf: Vec::new(),
            filled: 0,
            queue: VecDeque::new(),
            read_timeout: None,
            failed: false,
            _conn: conn,
        }
    }

    /// Waits for the next notification. `Disconnected` when the store has
    /// closed the channel.
    ///
    /// ```no_run
    /// # fn f(mut sub: plasma_client::Subscription) -> Result<(), plasma_client::SubscribeError> {
    /// let n = sub.recv()?;
    /// # Ok(()) }
    /// ```
    pub fn recv(&mut self) -> Result<Notification, SubscribeError> {
        loop {
            if let Some(n) = self.queue.pop_front() {
                return Ok(n);
            }
            self.read_more(None)?;
        }
    }

    /// Waits at most `timeout` for the next notification; `Ok(None)` if
    /// none came in time.
    ///
    /// ```no_run
    /// # fn f(mut sub: plasma_client::Subscription) -> Result<(), plasma_client::SubscribeError> {
    /// use std::time::Duration;
    /// while let Some(n) = sub.recv_timeout(Duration::from_millis(100))? {
    ///     println!("{n:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Notification>, SubscribeError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = self.queue.pop_front() {
                return Ok(Some(n));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // The socket timeout cannot be zero (that means "forever");
            // one microsecond is the smallest it honours.
            match self.read_more(Some(left.max(Duration::from_micros(1)))) {
                Ok(()) => {}
                Err(SubscribeError::Timeout) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads once and queues every complete message now buffered.
    fn read_more(&mut self, timeout: Option<Duration>) -> Result<(), SubscribeError> {
        if timeout != self.read_timeout {
            self.socket
                .set_read_timeout(timeout)
                .map_err(|source| SubscribeError::Io {
                    op: "set notification read timeout",
                    source,
                })?;
            self.read_timeout = timeout;
        }
        if self.buf.len() - self.filled < MIN_READ {
            let new_len = (self.buf.len() * 2).max(self.filled + MIN_READ);
            self.buf.resize(new_len, 0);
        }
        let n = loop {
            match self.socket.read(&mut self.buf[self.filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(SubscribeError::Timeout)
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(SubscribeError::Disconnected)
                }
                Err(source) => {
                    return Err(SubscribeError::Io {
                        op: "read notification",
                        source,
                    })
                }
            }
        };
        if n == 0 {
            return Err(SubscribeError::Disconnected);
        }
        self.filled += n;
        let mut start = 0;
        while let Some((infos, consumed)) =
            decode_notification(&self.buf[start..self.filled], DEFAULT_MAX_FRAME_LEN)
                .map_err(|e| SubscribeError::Protocol(e.into()))?
        {
            start += consumed;
            for info in infos {
                self.queue
                    .push_back(Notification::from_info(info).map_err(SubscribeError::Protocol)?);
            }
        }
        self.buf.copy_within(start..self.filled, 0);
        self.filled -= start;
        Ok(())
    }
}

impl std::os::fd::AsFd for Subscription {
    /// The notification socket, e.g. to wait for readability in an event
    /// loop (then read with [`recv_timeout`](Subscription::recv_timeout)
    /// and a zero timeout). Reading it directly bypasses this
    /// subscription's buffer.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Iterator for Subscription {
    type Item = Result<Notification, SubscribeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.recv() {
            Ok(n) => Some(Ok(n)),
            Err(SubscribeError::Disconnected) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("queued", &self.queue.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_has_no_sizes_or_digest() {
        let info = ObjectInfo {
            object_id: ObjectId::from_bytes([3; 20]),
            data_size: -1,
            metadata_size: -1,
            is_deletion: true,
            ..ObjectInfo::default()
        };
        let n = Notification::from_info(info).unwrap();
        assert!(n.deleted);
        assert_eq!((n.data_size, n.metadata_size, n.digest), (0, 0, None));
    }

    #[test]
    fn seal_keeps_sizes_and_digest_and_rejects_negative_sizes() {
        let info = ObjectInfo {
            object_id: ObjectId::from_bytes([4; 20]),
            data_size: 10,
            metadata_size: 2,
            digest: Some([1, 2, 3, 4, 0, 0, 0, 0]),
            ..ObjectInfo::default()
        };
        let n = Notification::from_info(info.clone()).unwrap();
        assert!(!n.deleted);
        assert_eq!((n.data_size, n.metadata_size), (10, 2));
        assert_eq!(n.digest, Some([1, 2, 3, 4, 0, 0, 0, 0]));
        let bad = ObjectInfo {
            data_size: -1,
            ..info
        };
        assert!(Notification::from_info(bad).is_err());
    }
}
