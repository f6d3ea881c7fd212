//! [`Link`]: what every buffer and builder of an
//! [`AsyncClient`](crate::AsyncClient) holds on to: the way to the driver
//! (for its Release or Abort) and the connection itself, kept open.
//!
//! The async twin of the blocking client's `Arc<Connection>` in its views
//! (`connection.rs`): there a failed connection is only poisoned and its
//! socket closes with the last view; here the driver stops on failure, and
//! the views' [`Tether`] keeps the socket, and so the store's holds and
//! our unsealed objects, until the last view is gone.

use plasma_protocol::ObjectId;
use tokio::sync::mpsc::UnboundedSender;

use super::command::Command;
use super::socket::Tether;
use crate::buffer::ReleaseHook;

/// A view's hold on its connection. One per driver at a time, shared by
/// every buffer and builder it hands out.
pub(crate) struct Link {
    commands: UnboundedSender<Command>,
    _socket: Tether,
}

impl Link {
    pub(crate) fn new(commands: UnboundedSender<Command>, socket: Tether) -> Self {
        Self {
            commands,
            _socket: socket,
        }
    }

    /// Hands `cmd` to the driver; if the driver has stopped, the command is
    /// dropped (its reply sender tells the caller `Disconnected`), and
    /// nothing is written.
    pub(crate) fn send(&self, cmd: Command) {
        let _ = self.commands.send(cmd);
    }
}

impl ReleaseHook for Link {
    fn release(&self, id: ObjectId) {
        self.send(Command::Release(id));
    }
}
