//! `NativeWatcher`: the Rust half of `plasma_store.async_api`, one per
//! asyncio loop. It keeps each pending future in the client's router
//! (`plasma_client::Watcher`), and hands sealed objects back with their
//! futures; the Python half resolves them from the loop's own reactor
//! (`loop.add_reader` on [`NativeWatcher::fileno`]).

use plasma_client::{Pending, Watcher, WatcherOptions};
use pyo3::prelude::*;

use crate::buffer::{ObjectState, Part, PlasmaBuffer};
use crate::errors::ToPyErr;
use crate::fork::{check_owner, ForkGuard};
use crate::id::PyObjectId;

/// One pending asyncio future and whether it wants the raw buffer.
pub(crate) struct PyWaiter {
    future: Py<PyAny>,
    raw: bool,
}

impl Pending for PyWaiter {
    /// Live while the future is not done (resolved or cancelled).
    fn is_live(&self) -> bool {
        Python::attach(|py| {
            self.future
                .bind(py)
                .call_method0(pyo3::intern!(py, "done"))
                .and_then(|d| d.is_truthy())
                .map(|done| !done)
                .unwrap_or(false)
        })
    }
}

/// A sealed object's data buffer, and the futures (with their `raw` flag)
/// it resolves.
type ReadyRow = (PlasmaBuffer, Vec<(Py<PyAny>, bool)>);

/// The waiting machinery of one event loop (see the module doc).
#[pyclass(module = "plasma_store._native")]
pub(crate) struct NativeWatcher {
    watcher: ForkGuard<Watcher<PyWaiter>>,
}

#[pymethods]
impl NativeWatcher {
    #[new]
    #[pyo3(signature = (store_socket_name, num_retries = -1, store_extensions = true))]
    fn new(
        py: Python<'_>,
        store_socket_name: String,
        num_retries: i64,
        store_extensions: bool,
    ) -> PyResult<Self> {
        let mut options = WatcherOptions::default();
        if num_retries >= 0 {
            options.client.connect_retries = u32::try_from(num_retries).unwrap_or(u32::MAX);
        }
        options.store_extensions = store_extensions;
        let watcher = py
            .detach(move || Watcher::connect(store_socket_name, options))
            .map_err(ToPyErr::to_py)?;
        Ok(Self {
            watcher: ForkGuard::new(watcher),
        })
    }

    /// The descriptor the loop watches.
    fn fileno(&self) -> PyResult<i32> {
        check_owner(self.watcher.owner(), "watcher")?;
        Ok(std::os::fd::AsRawFd::as_raw_fd(&self.watcher.fd()))
    }

    /// Whether the store pushes awaited objects (our addition).
    #[getter]
    fn uses_pushes(&self) -> bool {
        self.watcher.uses_pushes()
    }

    /// Adds `future` as a waiter of `object_id`; true if `poll` must run
    /// soon.
    fn register(
        &mut self,
        object_id: PyRef<'_, PyObjectId>,
        future: Py<PyAny>,
        raw: bool,
    ) -> PyResult<bool> {
        check_owner(self.watcher.owner(), "watcher")?;
        Ok(self.watcher.register(object_id.0, PyWaiter { future, raw }))
    }

    /// Prunes done futures of `object_id`; true if `poll` must run soon.
    fn cancel(&mut self, object_id: PyRef<'_, PyObjectId>) -> PyResult<bool> {
        check_owner(self.watcher.owner(), "watcher")?;
        Ok(self.watcher.cancel(object_id.0))
    }

    /// Whether bytes wait for the descriptor to be writable.
    fn wants_write(&self) -> bool {
        self.watcher.wants_write()
    }

    /// Everything that can be done without waiting; the sealed objects
    /// with their futures. Raises once the store is gone.
    fn poll(&mut self, py: Python<'_>) -> PyResult<Vec<ReadyRow>> {
        check_owner(self.watcher.owner(), "watcher")?;
        let watcher = &mut *self.watcher;
        let ready = py.detach(move || watcher.poll()).map_err(ToPyErr::to_py)?;
        Ok(ready
            .into_iter()
            .map(|r| {
                (
                    PlasmaBuffer::new(ObjectState::sealed(r.buffer), Part::Data),
                    r.waiters.into_iter().map(|w| (w.future, w.raw)).collect(),
                )
            })
            .collect())
    }

    /// Ends the watch: every pending future, to be cancelled or failed.
    fn close(&mut self) -> Vec<Py<PyAny>> {
        self.watcher.close().into_iter().map(|w| w.future).collect()
    }

    fn __len__(&self) -> usize {
        self.watcher.len()
    }
}
