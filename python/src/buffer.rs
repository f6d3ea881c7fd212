//! `PlasmaBuffer`: an object's data (or metadata) in the store's shared
//! memory, exported to Python through the buffer protocol, zero-copy.
//!
//! Every `PlasmaBuffer` of one object shares one [`ObjectState`], which
//! owns what keeps the memory mapped and the object held: the
//! `ObjectBuilder` while it is being written, the `ObjectBuffer` once
//! sealed. An export (a memoryview, a numpy array, a pyarrow buffer)
//! references its `PlasmaBuffer`, which references the state; so the hold
//! ends only when the last Python reference, views included, is gone, and
//! the release is sent from whatever thread drops it (docs/design.md, "The
//! sharing contract", rules 1, 2 and 4).
//!
//! The only `unsafe` code is the buffer protocol (`__getbuffer__`) and the
//! borrowed source bytes of a copy ([`SourceBytes`]).
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use plasma_client::{ObjectBuffer, ObjectBuilder, ObjectId};
use pyo3::exceptions::{PyBufferError, PyIndexError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView, PySlice};

use crate::errors::{plasma_error, Kind};
use crate::fork::ForkGuard;
use crate::id::PyObjectId;

/// Where an object is in its life, as this process sees it.
pub(crate) enum Stage {
    /// Created, being written; writable.
    Building(ObjectBuilder),
    /// A seal is in flight on another thread (which owns the builder).
    Sealing,
    /// Sealed; read-only.
    Sealed(ObjectBuffer),
    /// Aborted (only ever with no export alive).
    Gone,
}

/// The state every `PlasmaBuffer` of one object shares.
pub(crate) struct ObjectState {
    pub(crate) id: ObjectId,
    stage: Mutex<ForkGuard<Stage>>,
    /// Buffer-protocol exports alive (memoryviews, arrays, ...).
    exports: AtomicUsize,
}

impl ObjectState {
    pub(crate) fn building(builder: ObjectBuilder) -> Arc<Self> {
        Arc::new(Self {
            id: builder.id(),
            stage: Mutex::new(ForkGuard::new(Stage::Building(builder))),
            exports: AtomicUsize::new(0),
        })
    }

    pub(crate) fn sealed(buffer: ObjectBuffer) -> Arc<Self> {
        Arc::new(Self {
            id: buffer.id(),
            stage: Mutex::new(ForkGuard::new(Stage::Sealed(buffer))),
            exports: AtomicUsize::new(0),
        })
    }

    /// The stage, locked. Never held across a call into Python or a wait.
    pub(crate) fn stage(&self) -> MutexGuard<'_, ForkGuard<Stage>> {
        self.stage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Buffer-protocol exports alive.
    pub(crate) fn exports(&self) -> usize {
        self.exports.load(Ordering::Acquire)
    }
}

/// Which part of the object a `PlasmaBuffer` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Data,
    Metadata,
}

/// A zero-copy buffer of an object in the store: its data, or its
/// metadata.
///
/// It speaks the buffer protocol: ``memoryview(buf)``,
/// ``numpy.frombuffer(buf, ...)`` and ``pyarrow.py_buffer(buf)`` read the
/// shared memory without copying. The object stays held in the store (it
/// cannot be evicted or deleted) until the last reference to any buffer of
/// it, and to any view made from one, is gone.
///
/// A buffer from ``create`` is writable until the object is sealed; views
/// taken after the seal are read-only (views taken before stay writable:
/// do not write through them after sealing). Buffers of sealed objects are
/// read-only.
#[pyclass(frozen, module = "plasma_store", name = "PlasmaBuffer")]
pub(crate) struct PlasmaBuffer {
    pub(crate) state: Arc<ObjectState>,
    pub(crate) part: Part,
}

/// The memory of `part` in `stage`: address, length, writable. `None` while
/// a seal is in flight or after an abort.
fn memory(stage: &mut Stage, part: Part) -> Option<(*mut u8, usize, bool)> {
    match (stage, part) {
        (Stage::Building(b), Part::Data) => {
            let data = b.data_mut();
            Some((data.as_mut_ptr(), data.len(), true))
        }
        (Stage::Building(b), Part::Metadata) => {
            let meta = b.metadata();
            Some((meta.as_ptr().cast_mut(), meta.len(), false))
        }
        (Stage::Sealed(buf), Part::Data) => {
            let data = buf.data();
            Some((data.as_ptr().cast_mut(), data.len(), false))
        }
        (Stage::Sealed(buf), Part::Metadata) => {
            let meta = buf.metadata();
            Some((meta.as_ptr().cast_mut(), meta.len(), false))
        }
        (Stage::Sealing | Stage::Gone, _) => None,
    }
}

impl PlasmaBuffer {
    pub(crate) fn new(state: Arc<ObjectState>, part: Part) -> Self {
        Self { state, part }
    }

    /// Length in bytes (0 once aborted).
    fn len(&self) -> usize {
        let mut stage = self.state.stage();
        memory(&mut stage, self.part).map_or(0, |(_, len, _)| len)
    }

    /// Copies `src` into this (writable) buffer at `offset`, with the GIL
    /// released for the copy.
    pub(crate) fn write_at(
        &self,
        py: Python<'_>,
        offset: usize,
        src: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let src = SourceBytes::new(src)?;
        let shared = src.share();
        let src_len = shared.len();
        let state = Arc::clone(&self.state);
        let part = self.part;
        let outcome = py.detach(move || {
            let mut stage = state.stage();
            let Some((dst, dst_len, writable)) = memory(&mut stage, part) else {
                return Err("the object is being sealed or was aborted");
            };
            if !writable {
                return Err("the buffer is read-only (sealed)");
            }
            match offset.checked_add(src_len) {
                Some(end) if end <= dst_len => {}
                _ => return Err("the bytes do not fit at that offset"),
            }
            // SAFETY: `dst..dst+dst_len` is the builder's writable extent,
            // alive while `stage` (locked) holds the builder; the range
            // written lies inside it (checked above). The source is a live
            // contiguous export of `src_len` bytes (`shared` borrows `src`,
            // released after this closure returns). The two overlap only if
            // the caller passes a view of this very buffer, for which `copy`
            // (memmove) is still correct.
            unsafe {
                std::ptr::copy(shared.as_slice().as_ptr(), dst.add(offset), src_len);
            }
            Ok(())
        });
        drop(src);
        outcome.map_err(PyValueError::new_err)
    }
}

#[pymethods]
impl PlasmaBuffer {
    /// # Safety
    ///
    /// Called by CPython with a valid `view` to fill (the buffer protocol).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("no view to fill"));
        }
        let this = slf.get();
        let (ptr, len, writable) = {
            let mut stage = this.state.stage();
            memory(&mut stage, this.part).ok_or_else(|| {
                PyBufferError::new_err("the object is being sealed or was aborted")
            })?
        };
        if (flags & ffi::PyBUF_WRITABLE) == ffi::PyBUF_WRITABLE && !writable {
            return Err(PyBufferError::new_err(
                "the object is sealed: its buffers are read-only",
            ));
        }
        let len = isize::try_from(len).map_err(|_| PyBufferError::new_err("object too large"))?;
        this.state.exports.fetch_add(1, Ordering::AcqRel);
        // SAFETY: `view` is the non-null Py_buffer CPython asks us to fill.
        // `ptr..ptr+len` stays valid while the export lives: the export
        // keeps `slf` (view.obj), `slf` keeps the ObjectState, and the state
        // keeps the builder or buffer owning the mapping for as long as any
        // export is counted (abort refuses while exports > 0; a failed seal
        // hands the builder back). `format` points to a static C string
        // that CPython only reads. `shape` and `strides` point into `view`
        // itself, as the buffer protocol allows for one dimension.
        unsafe {
            (*view).obj = slf.into_any().into_ptr();
            (*view).buf = ptr.cast::<c_void>();
            (*view).len = len;
            (*view).readonly = c_int::from(!writable);
            (*view).itemsize = 1;
            (*view).format = if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
                c"B".as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND {
                &raw mut (*view).len
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES {
                &raw mut (*view).itemsize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    /// # Safety
    ///
    /// Called by CPython when an export made by `__getbuffer__` ends.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.state.exports.fetch_sub(1, Ordering::AcqRel);
    }

    /// The object's id.
    #[getter]
    fn object_id(&self) -> PyObjectId {
        PyObjectId(self.state.id)
    }

    /// Length in bytes.
    #[getter]
    fn size(&self) -> usize {
        self.len()
    }

    fn __len__(&self) -> usize {
        self.len()
    }

    /// Whether the buffer is writable now (created and not sealed yet).
    #[getter]
    fn is_mutable(&self) -> bool {
        let mut stage = self.state.stage();
        memory(&mut stage, self.part).is_some_and(|(_, _, w)| w)
    }

    /// A copy of the bytes.
    fn to_pybytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut stage = self.state.stage();
        let (ptr, len, _) = memory(&mut stage, self.part)
            .ok_or_else(|| PyBufferError::new_err("the object is being sealed or was aborted"))?;
        // SAFETY: `ptr..ptr+len` is the object's memory, kept mapped by the
        // builder or buffer `stage` holds, locked for the copy (the copy
        // calls no Python code that could reach this object).
        let bytes = unsafe { std::slice::from_raw_parts(ptr.cast_const(), len) };
        Ok(PyBytes::new(py, bytes))
    }

    /// The object's metadata, as a buffer of the same object (zero-copy).
    fn metadata(&self) -> PlasmaBuffer {
        PlasmaBuffer::new(Arc::clone(&self.state), Part::Metadata)
    }

    /// ``buf[i]`` is the byte at ``i``; ``buf[a:b]`` a zero-copy memoryview.
    fn __getitem__<'py>(
        slf: &Bound<'py, Self>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let view = PyMemoryView::from(slf.as_any())?;
        if index.is_instance_of::<PySlice>() {
            return view.get_item(index);
        }
        let i: isize = index
            .extract()
            .map_err(|_| PyTypeError::new_err("a PlasmaBuffer is indexed by int or slice"))?;
        let len = isize::try_from(slf.get().len()).unwrap_or(isize::MAX);
        let j = if i < 0 { i + len } else { i };
        if j < 0 || j >= len {
            return Err(PyIndexError::new_err(format!(
                "index {i} out of range for a buffer of {len} bytes"
            )));
        }
        view.get_item(j)
    }

    fn __repr__(&self) -> String {
        let what = match self.part {
            Part::Data => "data",
            Part::Metadata => "metadata",
        };
        format!(
            "PlasmaBuffer({} {what}, {} bytes, {})",
            self.state.id,
            self.len(),
            if self.is_mutable() {
                "writable"
            } else {
                "read-only"
            }
        )
    }
}

/// A contiguous byte view of any buffer-protocol object, borrowed for a
/// copy (`PyObject_GetBuffer` with `PyBUF_SIMPLE`, released on drop, which
/// must happen with the GIL held).
pub(crate) struct SourceBytes {
    view: Box<ffi::Py_buffer>,
}

impl SourceBytes {
    pub(crate) fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut view = Box::new(std::mem::MaybeUninit::<ffi::Py_buffer>::zeroed());
        // SAFETY: `obj` is a live object (we hold the GIL through `obj`);
        // `view` points to zeroed, writable memory the size of a Py_buffer.
        let rc =
            unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_SIMPLE) };
        if rc != 0 {
            return Err(PyErr::take(obj.py()).unwrap_or_else(|| {
                PyTypeError::new_err("expected a bytes-like (buffer protocol) object")
            }));
        }
        // SAFETY: PyObject_GetBuffer succeeded, so it initialised the view.
        let view = unsafe { Box::from_raw(Box::into_raw(view).cast::<ffi::Py_buffer>()) };
        Ok(Self { view })
    }

    /// The bytes, usable on a thread that released the GIL while this
    /// export lives.
    pub(crate) fn share(&self) -> SharedBytes<'_> {
        SharedBytes {
            ptr: self.view.buf as *const u8,
            len: self.len(),
            _export: std::marker::PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.view.len).unwrap_or(0)
    }

    /// The bytes, while the GIL is held.
    pub(crate) fn as_slice(&self) -> &[u8] {
        if self.len() == 0 {
            return &[];
        }
        // SAFETY: a successful PyBUF_SIMPLE export is `len` contiguous bytes
        // at `buf`, valid until PyBuffer_Release (in our Drop).
        unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, self.len()) }
    }
}

impl Drop for SourceBytes {
    fn drop(&mut self) {
        // SAFETY: the view was filled by a successful PyObject_GetBuffer
        // and is released exactly once. SourceBytes is dropped where the GIL
        // is held (it is not `Send`: the raw pointer inside prevents that).
        Python::attach(|_| unsafe { ffi::PyBuffer_Release(&mut *self.view) });
    }
}

/// The bytes of a live [`SourceBytes`], for a closure that runs with the
/// GIL released (`Python::detach`): the export is what keeps them valid,
/// not the GIL, and it outlives the borrow.
pub(crate) struct SharedBytes<'a> {
    ptr: *const u8,
    len: usize,
    _export: std::marker::PhantomData<&'a SourceBytes>,
}

// SAFETY: the bytes stay valid and unmoved while the export (borrowed for
// 'a) lives, whatever thread reads them; the buffer protocol requires the
// GIL only to make and release an export, not to read its memory.
unsafe impl Send for SharedBytes<'_> {}

impl<'a> SharedBytes<'a> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: see the Send impl: `len` contiguous bytes at `ptr`, alive
        // for 'a.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Refuses an abort while exports of the object are alive (they would
/// point at memory the store may reuse).
pub(crate) fn check_no_exports(state: &ObjectState) -> PyResult<()> {
    if state.exports() > 0 {
        return Err(plasma_error(
            Kind::Error,
            format!(
                "object {} still has {} view(s) (memoryview, array, ...) of its buffer; drop them before aborting",
                state.id,
                state.exports()
            ),
        ));
    }
    Ok(())
}
