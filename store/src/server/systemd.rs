//! Working under systemd (or anything speaking its protocols): socket
//! activation, the listening socket passed in `LISTEN_FDS` (read with
//! listenfd), and readiness/stopping reports to `NOTIFY_SOCKET` (sent with
//! sd-notify). Each does nothing when its variable is unset.

use std::os::unix::net::UnixListener;
use std::path::Path;

use nix::sys::socket::{getsockopt, sockopt::AcceptConn};
pub(super) use sd_notify::NotifyState;

use super::listener::ListenError;

/// The listening socket a service manager passed, if it passed one: it
/// must be exactly one listening Unix stream socket, bound to `path` (the
/// `-s` the store was given, so clients and the unit agree).
pub(super) fn activated_socket(path: &Path) -> Result<Option<UnixListener>, ListenError> {
    let mut fds = listenfd::ListenFd::from_env();
    match fds.len() {
        0 => return Ok(None),
        1 => {}
        n => {
            return Err(ListenError::Passed(format!(
                "holds {n} sockets; plasma-store serves exactly one"
            )))
        }
    }
    let passed = |e: std::io::Error| ListenError::Passed(format!("is unusable: {e}"));
    let Some(socket) = fds.take_unix_listener(0).map_err(passed)? else {
        return Ok(None);
    };
    if !getsockopt(&socket, AcceptConn).map_err(|e| passed(e.into()))? {
        return Err(ListenError::Passed("is not listening".into()));
    }
    let bound = socket.local_addr().map_err(passed)?;
    let bound = bound.as_pathname().map(absolute);
    if bound.as_deref() != Some(absolute(path).as_path()) {
        let shown = bound.map_or("no path".into(), |p| p.display().to_string());
        return Err(ListenError::Passed(format!(
            "is bound to {shown}, but the store was told to serve {} (-s)",
            path.display()
        )));
    }
    Ok(Some(socket))
}

fn absolute(p: &Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Reports `states` to the service manager, if one listens.
pub(super) fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!("notifying the service manager failed: {e}");
    }
}
