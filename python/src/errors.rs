//! Which Python exception each Rust error becomes: the one place that
//! decides it. The classes themselves live in `plasma_store/_errors.py`
//! (so they can also subclass pyarrow's when pyarrow is loaded).

use plasma_client::{
    AsFutureError, ConnectError, ContainsError, CreateError, DebugStringError, DeleteError,
    EvictError, GetError, ListError, SealError, SetOptionsError, SubscribeError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The exception classes of `plasma_store._errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `PlasmaError`: anything else.
    Error,
    /// `PlasmaObjectExists`.
    ObjectExists,
    /// `PlasmaObjectNotFound`.
    ObjectNotFound,
    /// `PlasmaStoreFull`.
    StoreFull,
    /// `PlasmaObjectAlreadySealed`.
    AlreadySealed,
    /// `PlasmaConnectionError`: cannot connect, or the store went away.
    Connection,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::Error => "PlasmaError",
            Kind::ObjectExists => "PlasmaObjectExists",
            Kind::ObjectNotFound => "PlasmaObjectNotFound",
            Kind::StoreFull => "PlasmaStoreFull",
            Kind::AlreadySealed => "PlasmaObjectAlreadySealed",
            Kind::Connection => "PlasmaConnectionError",
        }
    }

    fn cell(self) -> &'static PyOnceLock<Py<PyType>> {
        static CELLS: [PyOnceLock<Py<PyType>>; 6] = [
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
        ];
        &CELLS[self as usize]
    }
}

/// A `plasma_store` exception of `kind` with `message`.
pub(crate) fn plasma_error(kind: Kind, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        match kind
            .cell()
            .import(py, "plasma_store._errors", kind.class_name())
        {
            Ok(class) => PyErr::from_type(class.clone(), message),
            // The package is broken (its Python half missing): say so.
            Err(e) => e,
        }
    })
}

/// Rust errors that become Python exceptions.
pub(crate) trait ToPyErr {
    fn to_py(self) -> PyErr;
}

/// The failures every operation shares: `Disconnected`, `Timeout`,
/// `Protocol`, `Io`.
macro_rules! shared_variants {
    ($e:expr, $t:ident, { $($extra:tt)* }) => {
        match $e {
            $($extra)*
            $t::Disconnected => plasma_error(Kind::Connection, "the store disconnected"),
            $t::Timeout => plasma_error(Kind::Error, "timed out waiting for the store"),
            $t::Protocol(p) => plasma_error(Kind::Error, format!("protocol error: {p}")),
            $t::Io { op, source } => plasma_error(Kind::Connection, format!("{op}: {source}")),
            other => plasma_error(Kind::Error, other.to_string()),
        }
    };
}

impl ToPyErr for CreateError {
    fn to_py(self) -> PyErr {
        shared_variants!(self, CreateError, {
            CreateError::ObjectExists => plasma_error(Kind::ObjectExists, "an object with this id already exists"),
            CreateError::StoreFull => plasma_error(Kind::StoreFull, "the store is full, even after evicting everything it could"),
        })
    }
}

macro_rules! only_shared {
    ($($t:ident),*) => {$(
        impl ToPyErr for $t {
            fn to_py(self) -> PyErr {
                shared_variants!(self, $t, {})
            }
        }
    )*};
}
only_shared!(
    SealError,
    ContainsError,
    DeleteError,
    ListError,
    EvictError,
    SubscribeError,
    DebugStringError
);

impl ToPyErr for GetError {
    fn to_py(self) -> PyErr {
        shared_variants!(self, GetError, {
            GetError::Shutdown => plasma_error(Kind::Error, "shut down"),
        })
    }
}

impl ToPyErr for SetOptionsError {
    fn to_py(self) -> PyErr {
        shared_variants!(self, SetOptionsError, {
            SetOptionsError::Refused => plasma_error(
                Kind::StoreFull,
                "the store refused the output memory quota (granted once per client, and only while it can spare that much)",
            ),
        })
    }
}

impl ToPyErr for ConnectError {
    fn to_py(self) -> PyErr {
        match self {
            ConnectError::Unavailable {
                path,
                attempts,
                source,
            } => plasma_error(
                Kind::Connection,
                format!(
                    "cannot connect to the plasma store at {} ({attempts} attempts): {source}",
                    path.display()
                ),
            ),
            other => shared_variants!(other, ConnectError, {}),
        }
    }
}

impl ToPyErr for AsFutureError {
    fn to_py(self) -> PyErr {
        match self {
            AsFutureError::Disconnected => plasma_error(
                Kind::Connection,
                "the plasma store went away while this future waited",
            ),
            AsFutureError::Io { op, source } => {
                plasma_error(Kind::Connection, format!("{op}: {source}"))
            }
            other => plasma_error(Kind::Error, other.to_string()),
        }
    }
}
