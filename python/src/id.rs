//! `ObjectID`: pyarrow.plasma's object id, 20 bytes.

use plasma_protocol::{ObjectId, OBJECT_ID_LEN};
use pyo3::basic::CompareOp;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyTuple};

/// An object's id: exactly 20 bytes.
///
/// Hashable, comparable and picklable, so ids can be sent to other
/// processes. ``ObjectID.from_random()`` makes a fresh one.
#[pyclass(frozen, module = "plasma_store", name = "ObjectID", from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PyObjectId(pub(crate) ObjectId);

#[pymethods]
impl PyObjectId {
    /// Makes the id with these 20 bytes (``ValueError`` otherwise).
    #[new]
    fn new(object_id: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bytes = object_id
            .cast::<PyBytes>()
            .ok()
            .and_then(|b| ObjectId::try_from_slice(b.as_bytes()));
        match bytes {
            Some(id) => Ok(Self(id)),
            None => Err(PyValueError::new_err(format!(
                "an ObjectID is exactly {OBJECT_ID_LEN} bytes, got {}",
                object_id
                    .repr()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| "an object without repr".into())
            ))),
        }
    }

    /// A new id of 20 random bytes from the operating system.
    #[staticmethod]
    fn from_random() -> Self {
        Self(ObjectId::random())
    }

    /// The id's 20 bytes.
    fn binary<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.as_bytes())
    }

    /// The id as 40 hexadecimal digits.
    fn hex(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("ObjectID({})", self.0)
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        let py = other.py();
        match other.cast::<PyObjectId>() {
            Ok(other) => {
                let order = self.0.as_bytes().cmp(other.get().0.as_bytes());
                PyBool::new(py, op.matches(order))
                    .to_owned()
                    .into_any()
                    .unbind()
            }
            Err(_) => py.NotImplemented(),
        }
    }

    fn __hash__(&self) -> u64 {
        // Ids are random bytes (or should be): the first eight hash well.
        let b = self.0.as_bytes();
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let args = PyTuple::new(py, [PyBytes::new(py, slf.get().0.as_bytes())])?;
        PyTuple::new(py, [slf.get_type().into_any(), args.into_any()])
    }
}

/// The Rust ids of a list of `ObjectID`s.
pub(crate) fn ids_of(list: &[PyRef<'_, PyObjectId>]) -> Vec<ObjectId> {
    list.iter().map(|id| id.0).collect()
}
