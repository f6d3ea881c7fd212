//! Asking the store for its counters (our Stats addition, sent only to a
//! store whose debug text, `Client::debug_string`, announces it).

use plasma_protocol::extensions::{self, STATS};
use plasma_protocol::{MessageType, Reply, Request, StoreStats};

use crate::client::Client;
use crate::connection::{unexpected, Wait};
use crate::error::{impl_from_call_error, CallError, DebugStringError, ProtocolError};

/// Why [`Client::stats`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// The store does not announce the Stats addition (Arrow Plasma 11's
    /// store, or an older plasma-store); nothing was sent.
    #[error("the store does not serve stats (it is not a plasma-store that announces them)")]
    Unsupported,
    /// The store is gone.
    #[error("store disconnected")]
    Disconnected,
    /// No answer within `ClientOptions::request_timeout`.
    #[error("timed out waiting for the store")]
    Timeout,
    /// The store's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
impl_from_call_error!(StatsError);

impl From<DebugStringError> for StatsError {
    fn from(e: DebugStringError) -> Self {
        match e {
            DebugStringError::Disconnected => Self::Disconnected,
            DebugStringError::Timeout => Self::Timeout,
            DebugStringError::Protocol(p) => Self::Protocol(p),
            DebugStringError::Io { op, source } => Self::Io { op, source },
        }
    }
}

impl Client {
    /// The store's counters: memory and objects by state, clients, waits,
    /// evictions, requests by type, queued bytes, uptime. Asks for the debug
    /// text first and sends the Stats request only if the store announces
    /// it (`Unsupported` otherwise: Arrow Plasma 11 would abort on it).
    ///
    /// ```no_run
    /// # fn f(client: plasma_client::Client) -> Result<(), plasma_client::StatsError> {
    /// let stats = client.stats()?;
    /// println!("{} of {} bytes sealed", stats.sealed.bytes, stats.capacity);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Result<StoreStats, StatsError> {
        if !extensions::announces(&self.debug_string()?, STATS) {
            return Err(StatsError::Unsupported);
        }
        let answer = self.primary()?.request(&Request::Stats, Wait::Quick)?;
        match answer.reply {
            Reply::Stats(stats) => Ok(*stats),
            other => Err(unexpected(MessageType::StatsReply, &other).into()),
        }
    }
}
