//! The HTTP side of the metrics endpoint: one thread, tiny_http.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response, Server};

use super::{render, snapshot_channel, SnapshotAsker, SnapshotRequests, CONTENT_TYPE};

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("cannot serve metrics on {addr}: {reason}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the HTTP server said.
        reason: String,
    },
    /// The serving thread could not be started.
    #[error("cannot start the metrics thread: {0}")]
    Thread(std::io::Error),
}

/// The running endpoint; stops (and joins its thread) on drop.
pub struct MetricsServer {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds `addr` and starts serving. `wake` wakes the event loop, which
    /// then answers the returned [`SnapshotRequests`].
    pub fn start(
        addr: SocketAddr,
        wake: Box<dyn Fn() + Send>,
    ) -> Result<(MetricsServer, SnapshotRequests), MetricsError> {
        let server = Server::http(addr).map_err(|e| MetricsError::Bind {
            addr,
            reason: e.to_string(),
        })?;
        let bound = server.server_addr().to_ip().unwrap_or(addr);
        let server = Arc::new(server);
        let (asker, requests) = snapshot_channel(wake);
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("plasma-metrics".into())
            .spawn(move || serve(&serving, &asker))
            .map_err(MetricsError::Thread)?;
        if !bound.ip().is_loopback() {
            tracing::warn!(
                %bound,
                "metrics served on a non-loopback address: anyone who reaches it can read them"
            );
        }
        tracing::info!(%bound, "serving metrics at http://{bound}/metrics");
        Ok((
            MetricsServer {
                server,
                addr: bound,
                thread: Some(thread),
            },
            requests,
        ))
    }

    /// The address actually bound (port 0 picks one).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &Server, asker: &SnapshotAsker) {
    for request in server.incoming_requests() {
        let response = answer(&request, asker);
        if let Err(e) = request.respond(response) {
            tracing::debug!("answering a metrics scrape failed: {e}");
        }
    }
}

fn text(status: u16, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body).with_status_code(status)
}

fn answer(request: &Request, asker: &SnapshotAsker) -> Response<std::io::Cursor<Vec<u8>>> {
    let path = request.url().split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return text(404, "not found: the metrics are at /metrics\n".into());
    }
    if *request.method() != Method::Get && *request.method() != Method::Head {
        return text(405, "only GET is served here\n".into());
    }
    let Some(snapshot) = asker.ask() else {
        return text(503, "the store did not answer in time\n".into());
    };
    match render(snapshot) {
        Ok(page) => {
            let mut response = text(200, page);
            if let Ok(h) = Header::from_bytes("Content-Type", CONTENT_TYPE) {
                response = response.with_header(h);
            }
            response
        }
        Err(e) => text(500, format!("encoding the metrics failed: {e}\n")),
    }
}
