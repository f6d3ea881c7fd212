//! `NativeClient`: the blocking client behind `plasma_store.PlasmaClient`.
//!
//! Every call that waits for the store (and every large copy) releases the
//! GIL. No Rust lock is held across a release of the GIL or a call into
//! Python: a thread that holds the GIL and waits for such a lock would
//! otherwise deadlock with the thread that holds it and waits for the GIL.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use plasma_client::{
    digest, Client, ClientOptions, DeleteOutcome, Notification, ObjectId, Subscription,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::buffer::{check_no_exports, ObjectState, Part, PlasmaBuffer, SourceBytes, Stage};
use crate::errors::{plasma_error, Kind, ToPyErr};
use crate::fork::{check_owner, ForkGuard};
use crate::id::{ids_of, PyObjectId};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One row of `list()`: id, data size, metadata size, ref count, create
/// time, construct duration, sealed.
type ListRow = (PyObjectId, i64, i64, i32, i64, i64, bool);

/// The blocking client (see `plasma_store.PlasmaClient` for the API).
#[pyclass(frozen, module = "plasma_store._native")]
pub(crate) struct NativeClient {
    client: Mutex<Option<ForkGuard<Client>>>,
    owner: u32,
    socket: String,
    capacity: u64,
    /// Objects this client created and has not sealed or aborted: held by
    /// the client itself (pyarrow keeps them too), whoever else refers to
    /// them.
    unsealed: Mutex<HashMap<ObjectId, Arc<ObjectState>>>,
    /// Objects this client sealed, while some buffer of them lives (to tell
    /// a second seal from a seal of an unknown id).
    sealed: Mutex<HashMap<ObjectId, Weak<ObjectState>>>,
    subscription: Mutex<Option<ForkGuard<Subscription>>>,
}

impl NativeClient {
    /// The client, or an error if disconnected or in a forked child.
    fn client(&self) -> PyResult<Client> {
        check_owner(self.owner, "client")?;
        lock(&self.client)
            .as_ref()
            .map(|c| (**c).clone())
            .ok_or_else(|| plasma_error(Kind::Connection, "this client was disconnected"))
    }

    /// Takes the unsealed object `id` out of the table to seal or abort it
    /// (`verb`); the error says why it is not there.
    fn take_unsealed(&self, id: ObjectId, verb: &str) -> PyResult<Arc<ObjectState>> {
        if let Some(state) = lock(&self.unsealed).remove(&id) {
            return Ok(state);
        }
        let sealed = lock(&self.sealed)
            .get(&id)
            .is_some_and(|w| w.strong_count() > 0);
        Err(if sealed {
            plasma_error(
                Kind::AlreadySealed,
                format!("cannot {verb} object {id}: it is sealed already"),
            )
        } else {
            plasma_error(
                Kind::ObjectNotFound,
                format!("cannot {verb} object {id}: this client did not create it, or aborted it"),
            )
        })
    }

    fn remember_sealed(&self, state: &Arc<ObjectState>) {
        let mut sealed = lock(&self.sealed);
        if sealed.len() >= 1024 && sealed.len().is_power_of_two() {
            sealed.retain(|_, w| w.strong_count() > 0);
        }
        sealed.insert(state.id, Arc::downgrade(state));
    }
}

#[pymethods]
impl NativeClient {
    #[new]
    #[pyo3(signature = (store_socket_name, num_retries = -1))]
    fn new(py: Python<'_>, store_socket_name: String, num_retries: i64) -> PyResult<Self> {
        let mut options = ClientOptions::default();
        // Every object is built in the store's memory: views of a builder
        // exported to Python may outlive its seal (buffer.rs), which a
        // builder in this process's memory (a small put) would free.
        options.put_inline_max = 0;
        if num_retries >= 0 {
            options.connect_retries = u32::try_from(num_retries).unwrap_or(u32::MAX);
        }
        let path = store_socket_name.clone();
        let client = py
            .detach(move || Client::connect_with(path, options))
            .map_err(ToPyErr::to_py)?;
        Ok(Self {
            capacity: client.store_capacity(),
            client: Mutex::new(Some(ForkGuard::new(client))),
            owner: crate::fork::this_process(),
            socket: store_socket_name,
            unsealed: Mutex::new(HashMap::new()),
            sealed: Mutex::new(HashMap::new()),
            subscription: Mutex::new(None),
        })
    }

    #[getter]
    fn store_socket_name(&self) -> &str {
        &self.socket
    }

    fn store_capacity(&self) -> u64 {
        self.capacity
    }

    fn create(
        &self,
        py: Python<'_>,
        object_id: PyRef<'_, PyObjectId>,
        data_size: u64,
        metadata: &Bound<'_, PyAny>,
    ) -> PyResult<PlasmaBuffer> {
        let client = self.client()?;
        let id = object_id.0;
        let metadata = SourceBytes::new(metadata)?.as_slice().to_vec();
        let builder = py
            .detach(move || client.create(id, data_size, &metadata))
            .map_err(ToPyErr::to_py)?;
        let state = ObjectState::building(builder);
        lock(&self.unsealed).insert(id, Arc::clone(&state));
        Ok(PlasmaBuffer::new(state, Part::Data))
    }

    fn create_and_seal(
        &self,
        py: Python<'_>,
        object_id: PyRef<'_, PyObjectId>,
        data: &Bound<'_, PyAny>,
        metadata: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let client = self.client()?;
        let id = object_id.0;
        let data = SourceBytes::new(data)?;
        let metadata = SourceBytes::new(metadata)?;
        let (d, m) = (data.share(), metadata.share());
        let outcome = py.detach(move || client.create_and_seal(id, d.as_slice(), m.as_slice()));
        drop((data, metadata));
        outcome.map_err(ToPyErr::to_py)
    }

    /// Copies `parts` (offset, bytes-like) into the created object's data,
    /// with the GIL released (the value format's writer).
    fn write_parts(
        &self,
        py: Python<'_>,
        buffer: PyRef<'_, PlasmaBuffer>,
        parts: Vec<(usize, Bound<'_, PyAny>)>,
    ) -> PyResult<()> {
        check_owner(self.owner, "client")?;
        for (offset, src) in parts {
            buffer.write_at(py, offset, &src)?;
        }
        Ok(())
    }

    fn seal(&self, py: Python<'_>, object_id: PyRef<'_, PyObjectId>) -> PyResult<()> {
        check_owner(self.owner, "client")?;
        let id = object_id.0;
        let state = self.take_unsealed(id, "seal")?;
        let builder = {
            let mut stage = state.stage();
            match std::mem::replace(&mut **stage, Stage::Sealing) {
                Stage::Building(b) => b,
                other => {
                    **stage = other;
                    drop(stage);
                    return Err(plasma_error(
                        Kind::AlreadySealed,
                        format!("object {id} is already sealed (or being sealed)"),
                    ));
                }
            }
        };
        match py.detach(move || builder.try_seal()) {
            Ok(buffer) => {
                **state.stage() = Stage::Sealed(buffer);
                self.remember_sealed(&state);
                Ok(())
            }
            Err(failed) => {
                let (error, builder) = *failed;
                **state.stage() = Stage::Building(builder);
                lock(&self.unsealed).insert(id, state);
                Err(error.to_py())
            }
        }
    }

    fn abort(&self, py: Python<'_>, object_id: PyRef<'_, PyObjectId>) -> PyResult<()> {
        check_owner(self.owner, "client")?;
        let id = object_id.0;
        let state = self.take_unsealed(id, "abort")?;
        if let Err(e) = check_no_exports(&state) {
            lock(&self.unsealed).insert(id, state);
            return Err(e);
        }
        let gone = std::mem::replace(&mut **state.stage(), Stage::Gone);
        // Dropping the builder sends the Abort (a round trip).
        py.detach(move || drop(gone));
        Ok(())
    }

    #[pyo3(signature = (object_ids, timeout_ms = -1))]
    fn get_buffers(
        &self,
        py: Python<'_>,
        object_ids: Vec<PyRef<'_, PyObjectId>>,
        timeout_ms: i64,
    ) -> PyResult<Vec<Option<PlasmaBuffer>>> {
        let client = self.client()?;
        let ids = ids_of(&object_ids);
        let found = py
            .detach(move || -> Result<Vec<Option<plasma_client::ObjectBuffer>>, plasma_client::GetError> {
                if timeout_ms < 0 {
                    Ok(client.get(&ids)?.into_iter().map(Some).collect())
                } else {
                    client.get_timeout(&ids, Duration::from_millis(timeout_ms.unsigned_abs()))
                }
            })
            .map_err(ToPyErr::to_py)?;
        let mut states: HashMap<ObjectId, Arc<ObjectState>> = HashMap::new();
        Ok(found
            .into_iter()
            .map(|buf| {
                buf.map(|buf| {
                    let state = states
                        .entry(buf.id())
                        .or_insert_with(|| ObjectState::sealed(buf))
                        .clone();
                    PlasmaBuffer::new(state, Part::Data)
                })
            })
            .collect())
    }

    fn contains(&self, py: Python<'_>, object_id: PyRef<'_, PyObjectId>) -> PyResult<bool> {
        let client = self.client()?;
        let id = object_id.0;
        py.detach(move || client.contains(id))
            .map_err(ToPyErr::to_py)
    }

    /// The object's digest (8 bytes, as sent at seal time by this client).
    fn hash<'py>(
        &self,
        py: Python<'py>,
        object_id: PyRef<'_, PyObjectId>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let client = self.client()?;
        let id = object_id.0;
        let digest = py
            .detach(move || {
                client
                    .try_get(&[id])
                    .map(|mut v| v.pop().flatten().map(|b| digest(b.data(), b.metadata())))
            })
            .map_err(ToPyErr::to_py)?;
        match digest {
            Some(d) => Ok(PyBytes::new(py, &d)),
            None => Err(plasma_error(
                Kind::ObjectNotFound,
                format!("object {id} is not in the store (or not sealed)"),
            )),
        }
    }

    /// One outcome per id: "deleted", "not found", "not sealed", "in use".
    fn delete(
        &self,
        py: Python<'_>,
        object_ids: Vec<PyRef<'_, PyObjectId>>,
    ) -> PyResult<Vec<&'static str>> {
        let client = self.client()?;
        let ids = ids_of(&object_ids);
        let outcomes = py
            .detach(move || client.delete(&ids))
            .map_err(ToPyErr::to_py)?;
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                DeleteOutcome::Deleted => "deleted",
                DeleteOutcome::NotFound => "not found",
                DeleteOutcome::NotSealed => "not sealed",
                DeleteOutcome::InUse => "in use",
                _ => "unknown",
            })
            .collect())
    }

    fn evict(&self, py: Python<'_>, num_bytes: u64) -> PyResult<u64> {
        let client = self.client()?;
        py.detach(move || client.evict(num_bytes))
            .map_err(ToPyErr::to_py)
    }

    fn list(&self, py: Python<'_>) -> PyResult<Vec<ListRow>> {
        let client = self.client()?;
        let infos = py.detach(move || client.list()).map_err(ToPyErr::to_py)?;
        Ok(infos
            .into_iter()
            .map(|i| {
                (
                    PyObjectId(i.object_id),
                    i.data_size,
                    i.metadata_size,
                    i.ref_count,
                    i.create_time,
                    i.construct_duration,
                    i.digest.is_some(),
                )
            })
            .collect())
    }

    fn debug_string(&self, py: Python<'_>) -> PyResult<String> {
        let client = self.client()?;
        py.detach(move || client.debug_string())
            .map_err(ToPyErr::to_py)
    }

    fn set_client_options(
        &self,
        py: Python<'_>,
        client_name: String,
        limit_output_memory: i64,
    ) -> PyResult<()> {
        let client = self.client()?;
        py.detach(move || client.set_options(&client_name, limit_output_memory))
            .map_err(ToPyErr::to_py)
    }

    fn subscribe(&self, py: Python<'_>) -> PyResult<()> {
        let client = self.client()?;
        let sub = py
            .detach(move || client.subscribe())
            .map_err(ToPyErr::to_py)?;
        *lock(&self.subscription) = Some(ForkGuard::new(sub));
        Ok(())
    }

    /// The notification socket's descriptor (owned by the subscription).
    fn notification_fd(&self) -> PyResult<i32> {
        check_owner(self.owner, "client")?;
        lock(&self.subscription)
            .as_ref()
            .map(|s| std::os::fd::AsFd::as_fd(&**s).as_raw_fd())
            .ok_or_else(|| plasma_error(Kind::Error, "not subscribed: call subscribe() first"))
    }

    /// The next notification, waiting for it: (id, data size, metadata
    /// size), sizes -1 for a deletion.
    fn get_next_notification(&self, py: Python<'_>) -> PyResult<(PyObjectId, i64, i64)> {
        check_owner(self.owner, "client")?;
        // Taken out for the wait, so no lock is held while the GIL is
        // released (see the module doc); another thread's call meanwhile
        // finds no subscription.
        let mut sub = lock(&self.subscription)
            .take()
            .ok_or_else(|| plasma_error(Kind::Error, "not subscribed: call subscribe() first"))?;
        let (sub, got) = py.detach(move || {
            let got = sub.recv();
            (sub, got)
        });
        *lock(&self.subscription) = Some(sub);
        let n = got.map_err(ToPyErr::to_py)?;
        Ok(notification_row(&n))
    }

    fn disconnect(&self) -> PyResult<()> {
        check_owner(self.owner, "client")?;
        // Unsealed objects still referenced stay held (and mapped) by their
        // buffers; the others are aborted as their state goes.
        lock(&self.unsealed).clear();
        *lock(&self.subscription) = None;
        *lock(&self.client) = None;
        Ok(())
    }
}

fn notification_row(n: &Notification) -> (PyObjectId, i64, i64) {
    if n.deleted {
        (PyObjectId(n.id), -1, -1)
    } else {
        (
            PyObjectId(n.id),
            i64::try_from(n.data_size).unwrap_or(i64::MAX),
            i64::try_from(n.metadata_size).unwrap_or(i64::MAX),
        )
    }
}

/// Decodes the body of one notification message (without its 8-byte
/// length): three lists, ids, data sizes, metadata sizes (-1, -1 for a
/// deletion).
#[pyfunction]
pub(crate) fn decode_notifications<'py>(
    py: Python<'py>,
    buf: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>, Bound<'py, PyList>)> {
    let body = SourceBytes::new(buf)?;
    let mut framed = Vec::with_capacity(body.len() + 8);
    framed.extend_from_slice(&(body.len() as u64).to_le_bytes());
    framed.extend_from_slice(body.as_slice());
    let decoded = plasma_protocol::decode_notification(&framed, u64::MAX)
        .map_err(|e| PyValueError::new_err(format!("not a notification: {e}")))?;
    let Some((infos, _)) = decoded else {
        return Err(PyValueError::new_err("not a complete notification"));
    };
    let ids = PyList::empty(py);
    let data = PyList::empty(py);
    let meta = PyList::empty(py);
    for info in infos {
        ids.append(PyObjectId(info.object_id))?;
        let (d, m) = if info.is_deletion {
            (-1, -1)
        } else {
            (info.data_size, info.metadata_size)
        };
        data.append(d)?;
        meta.append(m)?;
    }
    Ok((ids, data, meta))
}
